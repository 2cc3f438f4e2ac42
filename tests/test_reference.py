"""The fast parametrised Program agrees with the plain, slow reference formulation.

``optimizer.reference.solve_reference`` writes the same decision with a dense covariance
and constants only. Objectives must agree to 1e-6 relative and net trades to ~1e-5 of
NAV on synthetic cases with overlays, hard and soft bands and per-asset restrictions.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from case_factories import prepare_case
from optimizer import Rebalancer, Restrictions, Settings
from optimizer.program import objective_value
from optimizer.reference import solve_reference
from problems.synthetic import synthetic_case


def restrictions_for(case) -> Restrictions:
    """No-buy on the most underweight asset, no-sell on the most overweight one, a trade cap
    and a permitted short elsewhere; chosen from the case's own drift so each one bites."""
    data = prepare_case(case)
    gap = pd.Series(data.weight0 - data.target, index=list(data.shape.assets))
    order = gap.sort_values().index
    under, over, capped, short = order[0], order[-1], order[1], order[-2]
    table = pd.DataFrame(index=[under, over, capped, short])
    table["no_buy"] = [True, False, False, False]
    table["no_sell"] = [False, True, False, False]
    table["max_trade_usd"] = [np.nan, np.nan, 0.2 * abs(gap[capped]) * data.nav_usd, np.nan]
    table["allow_short"] = [False, False, False, True]
    table["max_short_usd"] = [np.nan, np.nan, np.nan, 0.01 * data.nav_usd]
    return Restrictions(table)


CASES = {
    "soft": dict(n_assets=6, lots_per_asset=3, n_factors=2, seed=0, settings=dict(bands="soft")),
    "hard": dict(n_assets=8, lots_per_asset=2, n_factors=3, seed=1, band_width=0.03, settings=dict(bands="hard")),
    "overlays-soft": dict(n_assets=6, lots_per_asset=2, n_factors=2, seed=2, n_overlays=2,
                          settings=dict(bands="soft")),
    "overlays-hard": dict(n_assets=7, lots_per_asset=3, n_factors=2, seed=3, n_overlays=2, band_width=0.03,
                          settings=dict(bands="hard", risk_aversion=50.0)),
    "restricted-soft": dict(n_assets=8, lots_per_asset=2, n_factors=2, seed=4, restricted=True,
                            settings=dict(bands="soft")),
    "restricted-overlay": dict(n_assets=6, lots_per_asset=2, n_factors=2, seed=5, restricted=True, n_overlays=2,
                               settings=dict(bands="soft", risk_aversion=30.0)),
    "withdrawal": dict(n_assets=5, lots_per_asset=3, n_factors=2, seed=6,
                       settings=dict(bands="soft", cash_flow_usd=-400_000.0, min_cash_weight=0.01)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_program_matches_reference(name):
    spec = dict(CASES[name])
    settings = Settings(wash_sale=False, **spec.pop("settings"))
    restricted = spec.pop("restricted", False)
    case = synthetic_case(settings=settings, **spec)
    if restricted:
        case = replace(case, restrictions=restrictions_for(case))
    data = prepare_case(case)

    result = Rebalancer().solve(data)
    ref_trade, ref_objective = solve_reference(data)

    # The reference's own objective and our numpy pricing of its trade agree (same convention).
    assert objective_value(data, ref_trade) == pytest.approx(ref_objective, rel=1e-6, abs=1e-6)
    assert result.objective_bps == pytest.approx(ref_objective, rel=1e-6, abs=1e-6)
    np.testing.assert_allclose(result.trades["trade_usd"].to_numpy() / data.nav_usd, ref_trade.net(data), atol=1e-5)
    if data.shape.overlays:
        nav_overlay = result.overlay["contracts_trade"].to_numpy() * data.overlay_notional_usd / data.nav_usd
        np.testing.assert_allclose(nav_overlay, ref_trade.overlay_trade, atol=1e-5)
    assert abs(result.trades["trade_usd"]).max() > 0.005 * data.nav_usd  # the case really trades


def test_restrictions_bind_in_both_formulations():
    case = synthetic_case(8, 2, 2, seed=4, settings=Settings(wash_sale=False))
    case = replace(case, restrictions=restrictions_for(case))
    data = prepare_case(case)
    table = case.restrictions.table
    under = table.index[table["no_buy"]][0]
    over = table.index[table["no_sell"]][0]
    capped = table.index[table["max_trade_usd"] < np.inf][0]
    free = Rebalancer().solve(prepare_case(replace(case, restrictions=Restrictions())))
    assert free.trades.loc[under, "buy_usd"] > 0.005 * data.nav_usd  # without the rules it would trade them
    assert free.trades.loc[over, "sell_usd"] > 0.005 * data.nav_usd
    result = Rebalancer().solve(data)
    ref_trade, _ = solve_reference(data)
    i = {a: k for k, a in enumerate(data.shape.assets)}
    assert result.trades.loc[under, "buy_usd"] < 1e-4
    assert ref_trade.buy[i[under]] * data.nav_usd < 1e-4
    assert result.trades.loc[over, "sell_usd"] < 1e-4
    assert ref_trade.sold(data)[i[over]] * data.nav_usd < 1e-4
    cap = table.loc[capped, "max_trade_usd"]
    gross = result.trades.loc[capped, ["buy_usd", "sell_usd", "short_usd"]].sum()
    assert gross <= cap * (1 + 1e-6) + 1e-3
    assert gross == pytest.approx(cap, rel=1e-4)  # the cap binds: it wants to trade more


def netting(data, offset: float, carry_value: float):
    """``data`` in the shape with the netted tax term, at a given year-to-date offset and carry value."""
    return replace(data, shape=replace(data.shape, tax_netting=True), tax_offset=offset, carry_value=carry_value)


@pytest.mark.parametrize("offset, carry_value", [(0.0, 0.0), (0.0005, 0.0), (-0.0005, 0.3), (0.002, 0.5)])
def test_netted_tax_matches_reference(offset, carry_value):
    """The year-to-date netting term max(X, kX) - max(X0, kX0) agrees with the plain formulation."""
    case = synthetic_case(8, 3, 2, seed=11, settings=Settings(wash_sale=False))
    data = netting(prepare_case(case), offset, carry_value)
    result = Rebalancer().solve(data)
    ref_trade, ref_objective = solve_reference(data)
    assert objective_value(data, ref_trade) == pytest.approx(ref_objective, rel=1e-6, abs=1e-6)
    assert result.objective_bps == pytest.approx(ref_objective, rel=1e-6, abs=1e-6)
    np.testing.assert_allclose(result.trades["trade_usd"].to_numpy() / data.nav_usd, ref_trade.net(data), atol=1e-5)


def test_gains_absorbed_by_carried_losses_are_free():
    """With a large carried loss and carry_value 0, realizing gains costs nothing: the trade is
    the one of a tax-free book (a check by a different route, not by the same formula)."""
    case = synthetic_case(8, 3, 2, seed=11, settings=Settings(wash_sale=False))
    data = prepare_case(case)
    data = replace(data, lot_wait_cost=np.zeros_like(data.lot_wait_cost))   # netting only, no waiting premium
    carried = Rebalancer().solve(netting(data, -1.0, 0.0))
    untaxed = Rebalancer().solve(replace(data, lot_tax_cost=np.zeros_like(data.lot_tax_cost)))
    taxed = Rebalancer().solve(data)
    np.testing.assert_allclose(carried.trades["trade_usd"], untaxed.trades["trade_usd"], atol=1e-5 * data.nav_usd)
    assert np.abs(taxed.trades["trade_usd"] - untaxed.trades["trade_usd"]).max() > 1e-3 * data.nav_usd


def test_the_netted_tax_term_is_built_only_when_the_year_to_date_is_known():
    case = synthetic_case(6, 2, 2, seed=3, settings=Settings(wash_sale=False))
    assert not prepare_case(case).shape.tax_netting                 # linear term, no extra rows
    known = replace(case, portfolio=replace(case.portfolio, realized_gain_usd=-5_000.0))
    data = prepare_case(known)
    assert data.shape.tax_netting and data.carry_value == known.tax.carry_value
    result = Rebalancer().solve(data)
    assert result.objective_bps == pytest.approx(solve_reference(data)[1], rel=1e-6, abs=1e-6)
