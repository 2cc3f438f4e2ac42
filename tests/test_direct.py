"""The warm path (``optimizer.direct.DirectProgram``, on by default in ``Rebalancer``) gives
the solver chain's answers.

Oracle: the same decisions through cvxpy and the chain (``Rebalancer(direct=False)``), and
the plain reference formulation for the objective.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings as hypothesis_settings
from hypothesis import strategies as st

from optimizer import InfeasibleError, Rebalancer, Settings, solve_case
import optimizer.direct as direct_module
from optimizer.direct import DirectProgram
from optimizer.program import Program
from optimizer.reference import solve_reference
from optimizer.solvers import chain_state
from optimizer.terms.base import Term
from problems.synthetic import synthetic_case
from case_factories import prepare_case

SIZES = [(6, 2, 2), (20, 5, 4)]


class HalfTurnover(Term):
    """A user term: a linear charge on traded value (a Parameter the direct path must read)."""

    name = "half_turnover"

    def __init__(self, shape, v):
        super().__init__(shape, v)
        import cvxpy as cp

        self.rate = cp.Parameter(nonneg=True, name="half_turnover_rate")
        self._expr = self.rate * cp.sum(v.gross)

    def update(self, data, weight: float = 1.0) -> None:
        self.rate.value = 5e-3 * weight

    def objective(self):
        return self._expr

    def price(self, data, trade) -> float:
        return 5e-3 * float(trade.gross(data).sum())


@pytest.mark.parametrize("n, lots, factors", SIZES)
@pytest.mark.parametrize("wash_sale", [False, True])
def test_direct_answers_equal_the_chain(n, lots, factors, wash_sale):
    fast, chain = Rebalancer(), Rebalancer(direct=False)
    for seed in range(4):
        case = synthetic_case(n, lots, factors, seed=seed, settings=Settings(wash_sale=wash_sale), n_overlays=seed % 2)
        got, want = solve_case(case, fast), solve_case(case, chain)
        assert got.objective_bps == pytest.approx(want.objective_bps, abs=1e-5)
        np.testing.assert_allclose(got.trades["trade_usd"], want.trades["trade_usd"], atol=1e-6 * got.nav_usd)
        assert got.wash_sale_fixes == want.wash_sale_fixes
    assert sum(d.direct_solves for d in fast._direct.values()) >= 4
    assert not chain._direct


def test_direct_objective_matches_the_plain_reference():
    case = synthetic_case(12, 3, 3, seed=9, settings=Settings(wash_sale=False))
    got = solve_case(case, Rebalancer())
    want = solve_reference(prepare_case(case))
    assert got.objective_bps == pytest.approx(want[1], rel=1e-6, abs=1e-6)


def test_user_terms_are_read_by_the_direct_path():
    case = synthetic_case(10, 2, 2, seed=3, settings=Settings(wash_sale=False))
    fast = solve_case(case, Rebalancer(terms=[HalfTurnover]))
    chain = solve_case(case, Rebalancer(terms=[HalfTurnover], direct=False))
    plain = solve_case(case, Rebalancer())
    assert fast.objective_bps == pytest.approx(chain.objective_bps, abs=1e-5)
    assert fast.trades["gross_usd"].sum() < plain.trades["gross_usd"].sum()  # the charge bites


def test_a_stall_falls_back_to_the_chain_with_piqp_last(monkeypatch):
    data = prepare_case(synthetic_case(20, 5, 4, seed=2, settings=Settings(wash_sale=False)))
    program = Program(data.shape)
    direct = DirectProgram(program)
    monkeypatch.setattr(direct_module, "caps", lambda *args: (1, None))  # a one-iteration cap: PIQP stalls
    trade, outcome = direct.solve(data)
    assert direct.fallbacks == 1 and direct.direct_solves == 0
    assert outcome.solver == "CLARABEL"  # PIQP moved behind Clarabel after its stall
    assert list(chain_state(program.problem).record("PIQP").stalls)[0] is True  # the chain's record knows
    want, _ = Program(data.shape).solve(data)
    np.testing.assert_allclose(trade.buy, want.buy, atol=1e-6)


def test_a_chain_not_led_by_piqp_goes_to_the_program():
    data = prepare_case(synthetic_case(8, 2, 2, seed=1, settings=Settings(wash_sale=False, solvers=("CLARABEL",))))
    direct = DirectProgram(Program(data.shape))
    _, outcome = direct.solve(data)
    assert outcome.solver == "CLARABEL" and direct.fallbacks == 1


def test_a_shape_above_the_dpp_limit_goes_to_the_program(monkeypatch):
    """Above DPP_MAX_TRADE_VARIABLES the canonical form is never read through DPP (it would not
    fit in memory at 10,000 assets): the program solves afresh, PIQP-led or not."""
    data = prepare_case(synthetic_case(8, 2, 2, seed=1, settings=Settings(wash_sale=False, solvers=("PIQP",))))
    monkeypatch.setattr(direct_module, "DPP_MAX_TRADE_VARIABLES", data.shape.n_assets + data.shape.n_lots - 1)
    direct = DirectProgram(Program(data.shape))
    _, outcome = direct.solve(data)
    assert outcome.solver == "PIQP" and direct.fallbacks == 1 and direct.direct_solves == 0
    assert not direct._compiled


class BuyCap(Term):
    """A user term with single-variable rows: ``scale * buy <= cap`` (a parametric coefficient,
    which must stay a row) and, optionally, ``buy[0] >= floor`` (a constant one, a bound)."""

    name = "buy_cap"

    def __init__(self, shape, v, floor: float | None = None):
        super().__init__(shape, v)
        import cvxpy as cp

        self.scale = cp.Parameter(shape.n_assets, nonneg=True, name="buy_cap_scale")
        self._rows = [cp.multiply(self.scale, v.buy) <= 0.01]
        if floor is not None:
            self._rows.append(v.buy[0] >= floor)

    def update(self, data, weight: float = 1.0) -> None:
        self.scale.value = np.full(self.shape.n_assets, 4.0)

    def constraints(self):
        return self._rows

    def check(self, data, trade, tolerance):
        return "buy above its cap" if np.any(4.0 * trade.buy > 0.01 + tolerance) else None


@pytest.mark.parametrize("bands", ["soft", "hard"])
def test_single_variable_rows_are_solved_as_box_bounds(bands):
    """The limits (``buy <= buy_max``, ``sell <= lot_sell_max``) and, one asset per key, hard
    bands on ``trade`` reach PIQP as bounds, not rows; the answer is the chain's."""
    data = prepare_case(synthetic_case(20, 5, 4, seed=4, settings=Settings(wash_sale=False, bands=bands)))
    program = Program(data.shape)
    direct = DirectProgram(program)
    trade, _ = direct.solve(data)
    assert direct.direct_solves == 1
    bounded = set(direct._row_bounds.column.tolist())
    for name in ("buy", "sell"):
        assert set(direct._at[name].tolist()) <= bounded
    soft_band_rows = 2 * len(data.shape.keys) if bands == "soft" else 0   # a band and its slack
    assert direct._G.shape[0] == soft_band_rows + 1  # and the cash floor
    want, _ = Program(data.shape).solve(data)
    np.testing.assert_allclose(trade.sell, want.sell, atol=1e-6)
    np.testing.assert_allclose(trade.buy, want.buy, atol=1e-6)


def test_a_row_with_a_parametric_coefficient_stays_a_row():
    case = synthetic_case(10, 2, 2, seed=5, settings=Settings(wash_sale=False))
    fast = solve_case(case, Rebalancer(terms=[BuyCap]))
    chain = solve_case(case, Rebalancer(terms=[BuyCap], direct=False))
    assert fast.objective_bps == pytest.approx(chain.objective_bps, abs=1e-5)
    assert fast.trades["trade_usd"].max() <= 0.0025 * fast.nav_usd * (1 + 1e-6)   # 4 * buy <= 1% of NAV
    assert solve_case(case, Rebalancer()).trades["trade_usd"].max() > 0.01 * fast.nav_usd  # the cap bites
    data = prepare_case(case)
    direct = DirectProgram(Program(data.shape, [BuyCap]))
    direct.solve(data)
    assert direct.direct_solves == 1
    assert direct._G.shape[0] >= data.shape.n_assets  # the scaled caps are rows


def test_crossing_bounds_fall_back_to_the_chain_and_its_infeasibility_report():
    def floored(shape, v):
        return BuyCap(shape, v, floor=0.5)   # buy[0] >= 0.5 against 4 * buy[0] <= 0.01

    data = prepare_case(synthetic_case(10, 2, 2, seed=5, settings=Settings(wash_sale=False)))
    direct = DirectProgram(Program(data.shape, [floored]))
    with pytest.raises(InfeasibleError):
        direct.solve(data)
    assert direct.fallbacks == 1


@pytest.mark.parametrize("overlays", [0, 1])
def test_auxiliary_squares_are_folded_into_the_quadratic_form(overlays):
    """cvxpy's one-variable-per-entry auxiliaries of ``sum_squares(root * trade + offset)`` are
    substituted out: impact always, the specific risk when each key holds one asset and no
    overlay enters it. Same answer as the chain, on fewer variables and equality rows."""
    case = synthetic_case(12, 3, 3, seed=6, n_overlays=overlays, settings=Settings(wash_sale=False))
    data = prepare_case(case)
    program = Program(data.shape)
    direct = DirectProgram(program)
    trade, _ = direct.solve(data)
    n = data.shape.n_assets
    assert len(direct._folds.t) == (n if overlays else 2 * n)
    assert direct._P.shape[0] == direct._n - len(direct._folds.t)
    assert direct._A.shape[0] == int(program.problem.get_problem_data("PIQP")[0]["n_eq"]) - len(direct._folds.t)
    want, _ = Program(data.shape).solve(data)
    assert program.objective_value(data, trade) == pytest.approx(program.objective_value(data, want), abs=1e-6)
    np.testing.assert_allclose(trade.net(data), want.net(data), atol=1e-6)


class ScaledTradeSquares(Term):
    """A user term with its own variable ``z = 3 * trade`` charged ``||z||^2 / 1000 + tilt @ z``: a
    variable with a linear cost, which the direct path folds too (the ``q_t`` part of the fold)."""

    name = "scaled_trade_squares"

    def __init__(self, shape, v):
        super().__init__(shape, v)
        import cvxpy as cp

        self.z = cp.Variable(shape.n_assets, name="z")
        self.tilt = np.linspace(-1e-3, 1e-3, shape.n_assets)
        self._rows = [self.z == 3 * v.trade]
        self._expr = cp.sum_squares(self.z) / 1000 + self.tilt @ self.z

    def update(self, data, weight: float = 1.0) -> None:
        pass

    def objective(self):
        return self._expr

    def constraints(self):
        return self._rows

    def price(self, data, trade) -> float:
        z = 3 * trade.net(data)
        return float(z @ z / 1000 + self.tilt @ z)


def test_a_folded_variable_with_a_linear_cost_keeps_the_chains_answer():
    case = synthetic_case(10, 2, 2, seed=8, settings=Settings(wash_sale=False))
    data = prepare_case(case)
    direct = DirectProgram(Program(data.shape, [ScaledTradeSquares]))
    trade, _ = direct.solve(data)
    assert direct.direct_solves == 1 and len(direct._folds.t) == 3 * data.shape.n_assets
    want, _ = Program(data.shape, [ScaledTradeSquares]).solve(data)
    np.testing.assert_allclose(trade.net(data), want.net(data), atol=1e-6)
    plain, _ = Program(data.shape).solve(data)
    assert np.abs(plain.net(data) - want.net(data)).max() > 1e-4   # the term changes the answer


def test_a_bounds_only_resolve_sends_only_the_bounds(monkeypatch):
    """A wash-sale or small-trade round changes only the limits: the direct path recomputes the
    values they touch and sends PIQP the bounds alone; the answer is the chain's on the new bounds."""
    data = prepare_case(synthetic_case(12, 3, 3, seed=2, settings=Settings(wash_sale=False)))
    direct = DirectProgram(Program(data.shape))
    direct.solve(data)
    assert direct._bounds_path is not None
    sent = []
    send = direct._send
    monkeypatch.setattr(direct, "_send", lambda qp: (sent.append(set(qp)), send(qp))[1])
    blocked = np.arange(data.shape.n_assets) % 3 == 0
    bounded = data.with_bounds(buy_max=np.where(blocked, 0.0, data.buy_max),
                               lot_sell_max=np.where(np.repeat(blocked, 3), 0.0, data.lot_sell_max))
    trade, _ = direct.solve(bounded)
    assert sent == [{"x_l", "x_u"}]
    want, _ = Program(data.shape).solve(bounded)
    np.testing.assert_allclose(trade.buy, want.buy, atol=1e-6)
    np.testing.assert_allclose(trade.sold(bounded), want.sold(bounded), atol=1e-6)
    assert trade.buy[blocked].max() <= 1e-9 and trade.sold(bounded)[blocked].max() <= 1e-9
    again, _ = direct.solve(data)          # and back to the first bounds: again only the bounds
    assert sent[-1] == {"x_l", "x_u"}
    np.testing.assert_allclose(again.buy, Program(data.shape).solve(data)[0].buy, atol=1e-6)


@pytest.mark.parametrize("bands, netting, shorts, overlays", [("soft", True, True, 0), ("hard", False, True, 2),
                                                              ("hard", True, False, 0), ("soft", False, False, 1)])
def test_every_shape_variant_solves_directly_to_the_chains_optimum(bands, netting, shorts, overlays):
    """Shorts and trade caps (rows over several variables), tax netting (an epigraph variable),
    hard or soft bands and overlays: the folds and bounds leave the optimum where the chain finds it."""
    import dataclasses

    import pandas as pd

    from optimizer import Restrictions

    case = synthetic_case(10, 3, 3, seed=12, n_overlays=overlays,
                          settings=Settings(wash_sale=False, bands=bands, risk_aversion=7.0))
    portfolio = dataclasses.replace(case.portfolio, realized_gain_usd=25_000.0) if netting else case.portfolio
    asset = case.market.prices.index[0]
    table = (pd.DataFrame({"allow_short": [True], "max_short_usd": [50_000.0], "max_trade_usd": [400_000.0]},
                          index=[asset]) if shorts else pd.DataFrame(index=pd.Index([], dtype=str)))
    data = prepare_case(dataclasses.replace(case, portfolio=portfolio, restrictions=Restrictions(table)))
    assert data.shape.shorts == shorts and data.shape.trade_caps == shorts and data.shape.tax_netting == netting
    direct = DirectProgram(Program(data.shape))
    trade, _ = direct.solve(data)
    assert direct.direct_solves == 1
    want, _ = Program(data.shape).solve(data)
    program = direct.program
    assert program.objective_value(data, trade) == pytest.approx(program.objective_value(data, want), abs=1e-6)
    np.testing.assert_allclose(trade.net(data), want.net(data), atol=1e-5)


class FlatBuyCap(Term):
    """A user term ``buy <= 0.2% of NAV``: a second upper bound row on every buy (besides ``buy_max``)."""

    name = "flat_buy_cap"

    def __init__(self, shape, v):
        super().__init__(shape, v)
        self._rows = [v.buy <= 0.002]

    def update(self, data, weight: float = 1.0) -> None:
        pass

    def constraints(self):
        return self._rows

    def check(self, data, trade, tolerance):
        return "buy above 0.2%" if np.any(trade.buy > 0.002 + tolerance) else None


def test_two_bound_rows_on_one_variable_keep_the_tighter():
    data = prepare_case(synthetic_case(10, 2, 2, seed=5, settings=Settings(wash_sale=False)))
    direct = DirectProgram(Program(data.shape, [FlatBuyCap]))
    trade, _ = direct.solve(data)
    assert direct.direct_solves == 1 and not direct._row_bounds.one_per_column
    want, _ = Program(data.shape, [FlatBuyCap]).solve(data)
    np.testing.assert_allclose(trade.buy, want.buy, atol=1e-6)
    assert trade.buy.max() <= 0.002 + 1e-9 and want.buy.max() > 0.002 - 1e-6   # the flat cap binds


@hypothesis_settings(max_examples=8, deadline=None, derandomize=True, database=None)
@given(n=st.integers(2, 14), lots=st.integers(1, 4), factors=st.integers(1, 4), seed=st.integers(0, 10_000),
       overlays=st.integers(0, 1), hard=st.booleans(), risk_aversion=st.sampled_from([0.5, 7.0, 200.0]))
def test_the_reduced_problem_keeps_the_chains_optimum_on_random_books(n, lots, factors, seed, overlays, hard,
                                                                      risk_aversion):
    """Property: on any synthetic book the direct path's smaller problem (folds, bounds) reaches the
    optimum of the program as cvxpy states it (solved by the chain), to solver accuracy."""
    case = synthetic_case(n, lots, factors, seed=seed, n_overlays=overlays,
                          settings=Settings(wash_sale=False, bands="hard" if hard else "soft",
                                            risk_aversion=risk_aversion))
    data = prepare_case(case)
    direct = DirectProgram(Program(data.shape))
    try:
        want, _ = Program(data.shape).solve(data)
    except InfeasibleError:   # hard bands a book cannot reach: the direct path says so too
        with pytest.raises(InfeasibleError):
            direct.solve(data)
        return
    trade, _ = direct.solve(data)
    assert direct.direct_solves == 1      # answered by the reduced problem, not the fallback
    program = direct.program
    assert program.objective_value(data, trade) == pytest.approx(program.objective_value(data, want), abs=1e-5)
    assert np.abs(trade.net(data) - want.net(data)).max() <= 1e-4
