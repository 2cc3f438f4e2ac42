"""Property tests over random small synthetic books (hypothesis, derandomised).

Each property is re-derived from the inputs, not from the engine's own bookkeeping:
the budget from the portfolio's cash and the reported trades and costs, bands from the
post-trade weights, lot sales from the input lots.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from optimizer import InfeasibleError, Rebalancer, Restrictions, Settings, solve_case
from problems.synthetic import synthetic_case

PROPERTY = settings(max_examples=25, deadline=None, derandomize=True, database=None)
NAV = 10_000_000.0
TOL = 1e-6  # NAV fraction

REBALANCER = Rebalancer(max_programs=256)

books = st.tuples(
    st.integers(0, 10_000),                               # seed
    st.integers(2, 8),                                    # assets
    st.integers(1, 3),                                    # lots per asset
    st.sampled_from([0.002, 0.01, 0.03, 0.1]),            # band half-width
    st.sampled_from([-0.08, -0.02, 0.0, 0.01, 0.05]),     # cash flow, fraction of NAV (negative: withdrawal)
    st.sampled_from(["soft", "hard"]),
    st.integers(0, 1),                                    # overlays
    st.booleans(),                                        # wash-sale rule
    st.booleans(),                                        # first asset may be shorted
)


@lru_cache(maxsize=None)
def solved(book):
    """``(case, result)``, or ``(case, InfeasibleError)`` when hard bands cannot hold."""
    seed, n, lots, width, flow, bands, overlays, wash, short = book
    case = synthetic_case(n, lots, 2, seed=seed, nav_usd=NAV, band_width=width, n_overlays=overlays,
                          settings=Settings(bands=bands, cash_flow_usd=flow * NAV, wash_sale=wash,
                                            risk_aversion=20.0))
    if short:
        first = case.market.assets[0]
        table = pd.DataFrame({"allow_short": [True], "max_short_usd": [0.02 * NAV]}, index=[first])
        case = replace(case, restrictions=Restrictions(table))
    try:
        return case, solve_case(case, REBALANCER)
    except InfeasibleError as exc:
        return case, exc


def result_of(book):
    """The result, after checking that an infeasible answer is a genuine, explained one."""
    case, result = solved(book)
    if isinstance(result, InfeasibleError):
        assert case.settings.bands == "hard"  # soft bands always give a trade
        assert result.conflicts  # and the diagnosis says which constraint had to give
        return case, None
    return case, result


@PROPERTY
@given(books)
def test_budget_balances(book):
    case, result = result_of(book)
    if result is None:
        return
    portfolio, s = case.portfolio, case.settings
    nav = float((portfolio.lots["quantity"] * case.market.prices[portfolio.lots["asset"]].to_numpy()).sum()
                + portfolio.cash_usd + s.cash_flow_usd)
    assert result.nav_usd == pytest.approx(nav, rel=1e-12)
    assert result.cash_before_usd == pytest.approx(portfolio.cash_usd + s.cash_flow_usd, abs=1e-6)
    c = result.costs_usd
    expected = (result.cash_before_usd - result.trades["trade_usd"].sum()
                - c["spread"] - c["commission"] - c["overlay"] - c["impact"])
    assert result.cash_after_usd == pytest.approx(expected, abs=1e-9 * nav)
    # Before impact (which the program keeps out of the constraint), cash covers buffer and margin.
    assert result.cash_after_usd + c["impact"] - result.margin_usd >= -TOL * nav


@PROPERTY
@given(books)
def test_hard_bands_hold(book):
    case, result = result_of(book)
    if result is None or case.settings.bands != "hard":
        return
    # Post-trade exposure per key from the trades and overlay notionals (per-asset keys here).
    after = result.trades.groupby("asset_class")["weight_after"].sum()
    for name, row in result.overlay.iterrows():
        instrument = next(o for o in case.overlays if o.name == name)
        for key, beta in instrument.exposure.items():
            after[key] += beta * row["notional_after_usd"] / result.nav_usd
    lower, upper = case.targets.band_lower[after.index], case.targets.band_upper[after.index]
    assert (after >= lower - TOL).all() and (after <= upper + TOL).all()
    assert result.bands_ok


@PROPERTY
@given(books)
def test_no_lot_oversold(book):
    case, result = result_of(book)
    if result is None:
        return
    lots = case.portfolio.lots.set_index("lot_id")
    sales = result.lot_sales
    assert set(sales.index) <= set(lots.index)
    assert (sales["shares"] <= lots.loc[sales.index, "quantity"] * (1 + 1e-9) + 1e-9).all()
    assert (sales["asset"] == lots.loc[sales.index, "asset"]).all()
    assert (sales["shares"] > 0).all()
    # Sales per asset in the trade table add up to the lot sales.
    per_asset = sales.groupby("asset")["proceeds_usd"].sum().reindex(result.trades.index).fillna(0.0)
    np.testing.assert_allclose(per_asset, result.trades["sell_usd"], atol=1e-5 * result.nav_usd)


@PROPERTY
@given(books)
def test_no_short_unless_allowed(book):
    case, result = result_of(book)
    if result is None:
        return
    allowed = case.restrictions.flag("allow_short", list(result.trades.index))
    trades = result.trades
    assert (trades.loc[~allowed, "short_usd"] <= TOL * result.nav_usd).all()
    assert (trades.loc[~allowed, "weight_after"] >= -TOL).all()
    if allowed.any():
        cap = case.restrictions.size("max_short_usd", list(trades.index))
        assert (trades["short_usd"] <= cap * (1 + 1e-6) + TOL * result.nav_usd).all()


@PROPERTY
@given(books)
def test_costs_never_negative(book):
    case, result = result_of(book)
    if result is None:
        return
    c = result.costs_usd
    for name in ("spread", "commission", "overlay", "impact"):
        assert c[name] >= -1e-9 * result.nav_usd, name
    traded = result.trades[["buy_usd", "sell_usd", "short_usd"]].sum(axis=1)
    spread = float((case.market.half_spread[traded.index] * traded).sum())
    assert c["spread"] == pytest.approx(spread, rel=1e-9, abs=1e-6)
    assert c["total"] == pytest.approx(sum(v for k, v in c.items() if k != "total"), rel=1e-12, abs=1e-6)
