"""The built program, its re-use across decisions, the solver chain and the result contract."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from case_factories import prepare_case
from optimizer import InfeasibleError, Rebalancer, Restrictions, Settings, solve_case
from optimizer.solvers import available
from problems.synthetic import synthetic_case


def case_of(seed: int, **settings):
    return synthetic_case(6, 3, 2, seed=seed, n_overlays=1, settings=Settings(**{"wash_sale": False, **settings}))


# --------------------------------------------------------------------------------------
# one build per shape; a parameter update gives the same answer as a fresh build
# --------------------------------------------------------------------------------------

def test_parameter_update_equals_fresh_build():
    a, b = case_of(0), case_of(7)
    shared = Rebalancer()
    first = solve_case(a, shared)
    reused = solve_case(b, shared)
    fresh = solve_case(b, Rebalancer())
    assert shared.builds == 1
    assert prepare_case(a).shape == prepare_case(b).shape
    # A and B really are different decisions, so stale parameters would show.
    assert np.abs(first.trades["trade_usd"].to_numpy() - fresh.trades["trade_usd"].to_numpy()).max() > 1e3
    assert reused.objective_bps == pytest.approx(fresh.objective_bps, rel=1e-7, abs=1e-7)
    np.testing.assert_allclose(reused.trades["trade_usd"], fresh.trades["trade_usd"], atol=1e-5 * fresh.nav_usd)
    np.testing.assert_allclose(reused.overlay["contracts_trade"], fresh.overlay["contracts_trade"], atol=1e-3)


def test_builds_stay_one_over_many_dates_and_the_problem_is_dpp():
    rebalancer = Rebalancer()
    for seed in range(4):
        solve_case(case_of(seed), rebalancer)
    assert rebalancer.builds == 1
    program = rebalancer.program(prepare_case(case_of(0)).shape)
    assert program.problem.is_dpp()
    assert program.solves == 4


# --------------------------------------------------------------------------------------
# solver chain
# --------------------------------------------------------------------------------------

def test_chain_records_a_missing_solver_and_answers_with_the_next():
    result = solve_case(case_of(1, solvers=("NOPE", "CLARABEL")))
    assert result.solver == "CLARABEL"
    assert result.attempts[0].solver == "NOPE"
    assert result.attempts[0].status == "not installed" and not result.attempts[0].accepted
    assert result.attempts[-1].solver == "CLARABEL" and result.attempts[-1].accepted


@pytest.mark.parametrize("solver", ["OSQP", "SCS"])
@pytest.mark.parametrize("bands", ["soft", "hard"])
def test_other_solvers_agree_with_clarabel(solver, bands):
    if solver not in available():
        pytest.skip(f"{solver} is not installed")
    base = case_of(2, solvers=("CLARABEL",), bands=bands, risk_aversion=30.0)
    clarabel = solve_case(base)
    other = solve_case(replace(base, settings=replace(base.settings, solvers=(solver,))))
    assert other.solver == solver
    assert other.objective_bps == pytest.approx(clarabel.objective_bps, rel=1e-5)


# --------------------------------------------------------------------------------------
# infeasible hard bands vs soft bands
# --------------------------------------------------------------------------------------

def overweight_case(bands: str):
    """A hard-to-fix book: the asset furthest above its band may not be sold."""
    case = synthetic_case(6, 2, 2, seed=3, band_width=0.01, settings=Settings(bands=bands, wash_sale=False))
    data = prepare_case(case)
    excess = pd.Series(data.weight0 - data.band_upper, index=list(data.shape.assets))
    asset = excess.idxmax()
    assert excess[asset] > 0.01
    return replace(case, restrictions=Restrictions(pd.DataFrame({"no_sell": [True]}, index=[asset]))), asset, excess[asset]


def test_infeasible_hard_bands_name_the_band():
    case, asset, excess = overweight_case("hard")
    with pytest.raises(InfeasibleError) as caught:
        solve_case(case)
    conflicts = {(c.constraint, c.key): c.shortfall for c in caught.value.conflicts}
    assert ("band upper", asset) in conflicts
    assert conflicts[("band upper", asset)] == pytest.approx(excess, rel=1e-4)
    assert asset in str(caught.value)


def test_soft_bands_report_the_violation():
    case, asset, excess = overweight_case("soft")
    result = solve_case(case)
    row = result.exposures.loc[asset]
    assert row["status"] == "above"
    assert row["violation"] == pytest.approx(excess, rel=1e-4)
    assert not result.bands_ok
    assert asset in result.summary()


# --------------------------------------------------------------------------------------
# wash sale, whole units, result contract
# --------------------------------------------------------------------------------------

def loss_sold_and_bought(result) -> list[str]:
    """Assets that both buy and sell a lot at a loss in ``result``."""
    losses = result.lot_sales[result.lot_sales["gain_usd"] < 0]
    sold_at_loss = set(losses.loc[losses["proceeds_usd"] > 1e-6 * result.nav_usd, "asset"])
    bought = set(result.trades.index[result.trades["buy_usd"] > 1e-6 * result.nav_usd])
    return sorted(sold_at_loss & bought)


@pytest.mark.parametrize("seed", range(6))
def test_wash_sale_no_asset_buys_and_sells_a_loss_lot(seed):
    relaxed = solve_case(synthetic_case(6, 3, 2, seed=seed, settings=Settings(wash_sale=False)))
    assert loss_sold_and_bought(relaxed)  # without the rule, harvest-and-rebuy happens
    result = solve_case(synthetic_case(6, 3, 2, seed=seed, settings=Settings(wash_sale=True)))
    assert result.wash_sale_fixes
    assert loss_sold_and_bought(result) == []


def test_whole_units_gives_integer_shares_and_keeps_cash():
    case = synthetic_case(6, 3, 2, seed=4, settings=Settings(wash_sale=False, min_cash_usd=0.0))
    result = solve_case(case, whole_units=True)
    assert result.whole_units
    trades = result.trades
    bought = trades["buy_usd"] / trades["price"]
    assert (bought > 0).any()
    np.testing.assert_allclose(bought, np.round(bought), atol=1e-6)
    lots = case.portfolio.lots.set_index("lot_id")["quantity"]
    shares = result.lot_sales["shares"]
    whole = np.isclose(shares, np.round(shares), atol=1e-6) | np.isclose(shares, lots[shares.index], rtol=1e-9)
    assert whole.all() and len(shares)
    assert result.cash_after_usd >= 0.0


def test_result_is_json_ready_and_summary_names_the_solver():
    result = solve_case(case_of(5, solvers=("NOPE", "CLARABEL")))
    encoded = json.dumps(result.to_dict())
    decoded = json.loads(encoded)
    assert decoded["solver"] == "CLARABEL"
    assert decoded["attempts"][0]["solver"] == "NOPE"
    assert len(decoded["trades"]) == len(result.to_frame())
    assert "CLARABEL" in result.summary()


def test_programs_above_the_dpp_limit_compile_afresh_with_the_same_answer(monkeypatch):
    """Above ``DPP_MAX_TRADE_VARIABLES`` (cvxpy's DPP tables would not fit in memory at
    10,000 assets) each solve compiles afresh without DPP; the answer is the same."""
    import optimizer.program as program_module

    datas = [prepare_case(synthetic_case(15, 3, 3, seed=s, settings=Settings(wash_sale=False))) for s in (1, 2)]
    warm = program_module.Program(datas[0].shape)
    wanted = [warm.solve(d, ("CLARABEL",))[0] for d in datas]
    monkeypatch.setattr(program_module, "DPP_MAX_TRADE_VARIABLES", 0)
    fresh = program_module.Program(datas[0].shape)
    for data, want in zip(datas, wanted):
        got, outcome = fresh.solve(data, ("CLARABEL",))
        assert outcome.compiled == ("CLARABEL",)  # compiled for this solve
        np.testing.assert_allclose(got.buy, want.buy, atol=1e-7)
        np.testing.assert_allclose(got.sell, want.sell, atol=1e-7)
