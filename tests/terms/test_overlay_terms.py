"""Overlay terms in the core program: per-instrument limits and carry cost.

Oracles: the plain reference formulation (which writes both rules out in constants), and
the direction of a comparative static (a costlier overlay to carry is held less).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from optimizer import OverlayInstrument, Settings, solve_case
from optimizer.problem_data import prepare
from optimizer.reference import solve_reference
from problems.synthetic import synthetic_case


def with_overlays(case, **changes):
    overlays = tuple(replace(o, **changes) for o in case.overlays)
    return replace(case, overlays=overlays)


def base_case(seed: int = 3):
    # the futures are cheap to trade and the physical book pays real impact, so the program leans on them
    return synthetic_case(8, 2, 3, seed=seed, n_overlays=2, nav_usd=5e9,
                          settings=Settings(wash_sale=False, overlay_gross_limit=0.5))


def solve_both(case):
    result = solve_case(case)
    data = prepare(case.portfolio, case.targets, case.market, case.settings, **case.options())
    _, reference_bps = solve_reference(data)
    return result, reference_bps


def test_overlays_are_used_in_the_base_case():
    result = solve_case(base_case())
    assert np.abs(result.overlay["notional_after_usd"]).sum() > 1e6


@pytest.mark.parametrize("limit_usd", [5e6, 2e7])
def test_per_instrument_limit_holds_and_matches_reference(limit_usd):
    case = with_overlays(base_case(), max_notional_usd=limit_usd)
    result, reference_bps = solve_both(case)
    assert np.all(np.abs(result.overlay["notional_after_usd"]) <= limit_usd * (1 + 1e-6) + 1.0)
    assert result.objective_bps == pytest.approx(reference_bps, rel=1e-6, abs=1e-6)
    unlimited = solve_case(base_case())
    assert result.objective_bps >= unlimited.objective_bps - 1e-7


def test_carry_cost_matches_reference_and_shrinks_the_overlay():
    free = solve_case(base_case())
    costly_case = with_overlays(base_case(), holding_cost=0.002)
    costly, reference_bps = solve_both(costly_case)
    assert costly.objective_bps == pytest.approx(reference_bps, rel=1e-6, abs=1e-6)
    held_free = np.abs(free.overlay["notional_after_usd"]).sum()
    held_costly = np.abs(costly.overlay["notional_after_usd"]).sum()
    assert held_costly < held_free
    expected_carry = 0.002 * held_costly
    assert costly.costs_usd["overlay_carry"] == pytest.approx(expected_carry, rel=1e-9)


def test_existing_position_above_the_limit_may_be_kept_but_not_grown():
    case = base_case()
    contracts = case.portfolio.overlay_contracts.copy()
    name = case.overlays[0].name
    notional = case.overlays[0].notional_per_contract_usd
    portfolio = replace(case.portfolio, overlay_contracts=contracts.reindex([name]).fillna(100.0))
    limited = replace(with_overlays(case, max_notional_usd=10 * notional), portfolio=portfolio)
    result = solve_case(limited)
    assert abs(result.overlay.loc[name, "contracts_after"]) <= 100.0 + 1e-6


def test_negative_limit_is_an_input_error():
    from optimizer import InputError

    with pytest.raises(InputError) as err:
        OverlayInstrument("ES", 50, 5000, {"A": 1.0}, max_notional_usd=-1.0)
    assert err.value.field == "overlays[ES].max_notional_usd"
