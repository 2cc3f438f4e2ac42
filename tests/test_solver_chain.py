"""The solver chain under stalls: caps cut a stalling solver, the fallback answers without a
rebuild, the next warm solve does not rebuild either, statuses are reported honestly, and the
chain's order per size follows the committed measurement.

Compilations are counted independently of the chain's own counter, by wrapping cvxpy's
``Problem._construct_chain`` (cvxpy calls it whenever it (re)compiles a problem for a solver).
"""

from __future__ import annotations

import csv
from pathlib import Path

import cvxpy as cp
import numpy as np
import pytest

from optimizer import Settings
from optimizer import solvers
from optimizer.errors import SolverError
from optimizer.problem_data import prepare
from optimizer.program import Program, verify
from optimizer.solvers import chain_state, compile_solvers, default_chain, solve_chain
from optimizer.terms.base import Trade
from problems.synthetic import synthetic_case

MEASUREMENT = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "solver_chain.csv"


@pytest.fixture
def constructions(monkeypatch):
    """A list that gets one entry (the solver's name) per cvxpy compilation of any problem."""
    seen: list[str] = []
    original = cp.Problem._construct_chain

    def counting(self, solver=None, *args, **kwargs):
        seen.append(solver)
        return original(self, solver, *args, **kwargs)

    monkeypatch.setattr(cp.Problem, "_construct_chain", counting)
    return seen


@pytest.fixture
def piqp_stalls(monkeypatch):
    """PIQP's capped attempts get a 2-iteration cap (it needs ~15): it stalls on every book."""
    original = solvers.caps

    def tiny_for_piqp(solver, record, n_variables):
        return (2, None) if solver == "PIQP" else original(solver, record, n_variables)

    monkeypatch.setattr(solvers, "caps", tiny_for_piqp)
    return monkeypatch


def books(count: int, n_assets: int = 12):
    """Prepared data of ``count`` books of one shape (seeds 0..count-1)."""
    out = []
    for seed in range(count):
        case = synthetic_case(n_assets, 3, 4, seed=seed, settings=Settings(wash_sale=False))
        out.append(prepare(case.portfolio, case.targets, case.market, case.settings, **case.options()))
    return out


def clarabel_objective(data) -> float:
    """Reference: a fresh program solved by Clarabel at tight tolerances (bps of NAV)."""
    program = Program(data.shape)
    program.update(data)
    program.problem.solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    return program.objective_value(data, Trade.from_variables(program.variables))


def run(program, data, chain, **kwargs):
    program.update(data)
    outcome = solve_chain(program.problem, chain,
                          lambda: verify(data, Trade.from_variables(program.variables)), **kwargs)
    return outcome, program.objective_value(data, Trade.from_variables(program.variables))


def test_forced_stall_falls_back_without_rebuilding(piqp_stalls, constructions):
    data = books(3)
    references = [clarabel_objective(d) for d in data]
    constructions.clear()
    program = Program(data[0].shape)
    outcome, objective = run(program, data[0], ("PIQP", "CLARABEL"))
    assert [a.solver for a in outcome.attempts] == ["PIQP", "CLARABEL"]
    assert outcome.attempts[0].status == cp.USER_LIMIT and "stalled" in outcome.attempts[0].reason
    assert not outcome.attempts[0].accepted
    assert outcome.solver == "CLARABEL" and outcome.accurate
    assert objective == pytest.approx(references[0], rel=1e-6, abs=1e-6)
    assert sorted(constructions) == ["CLARABEL", "PIQP"]  # each solver compiled once
    for d, reference in zip(data[1:], references[1:]):
        outcome, objective = run(program, d, ("PIQP", "CLARABEL"))
        assert outcome.solver == "CLARABEL"
        assert objective == pytest.approx(reference, rel=1e-6, abs=1e-6)
    # two more rounds, each switching PIQP -> CLARABEL (or the demoted order): no recompilation
    assert sorted(constructions) == ["CLARABEL", "PIQP"]
    assert chain_state(program.problem).compilations == 2


def test_warm_solve_after_a_fallback_does_not_rebuild(monkeypatch, constructions):
    data = books(3)
    program = Program(data[0].shape)
    run(program, data[0], ("PIQP", "CLARABEL"))  # compiles for PIQP
    original = solvers.caps
    monkeypatch.setattr(solvers, "caps", lambda solver, *a: (2, None) if solver == "PIQP" else original(solver, *a))
    outcome, _ = run(program, data[1], ("PIQP", "CLARABEL"))  # PIQP stalls, CLARABEL compiles and answers
    assert outcome.solver == "CLARABEL" and outcome.compiled == ("CLARABEL",)
    monkeypatch.setattr(solvers, "caps", original)
    constructions.clear()
    outcome, objective = run(program, data[2], ("PIQP", "CLARABEL"))
    assert outcome.solver == "PIQP" and outcome.compiled == () and constructions == []
    assert objective == pytest.approx(clarabel_objective(data[2]), rel=1e-6, abs=1e-6)


def test_repeated_stalls_demote_the_solver(piqp_stalls):
    data = books(4)
    program = Program(data[0].shape)
    orders = [run(program, d, ("PIQP", "CLARABEL"))[0].order for d in data]
    assert orders[:2] == [("PIQP", "CLARABEL")] * 2
    assert orders[2:] == [("CLARABEL", "PIQP")] * 2  # demoted after its second stall


def test_rescue_when_every_capped_solver_stalls(monkeypatch):
    monkeypatch.setattr(solvers, "ITERATION_CAP_FACTOR", 0.01)
    monkeypatch.setattr(solvers, "MIN_ITERATION_CAP", 2)
    data = books(1)[0]
    program = Program(data.shape)
    outcome, objective = run(program, data, ("PIQP", "CLARABEL", "SCS"))  # SCS only after the rescue
    assert [(a.solver, a.status) for a in outcome.attempts] == [
        ("PIQP", cp.USER_LIMIT), ("CLARABEL", cp.USER_LIMIT), ("PIQP", cp.OPTIMAL)]
    assert outcome.solver == "PIQP" and outcome.accurate
    assert objective == pytest.approx(clarabel_objective(data), rel=1e-6, abs=1e-6)


def test_capped_attempts_use_the_solvers_own_history():
    data = books(4)
    program = Program(data[0].shape)
    for d in data:
        run(program, d, ("CLARABEL",))
    record = chain_state(program.problem).records["CLARABEL"]
    iteration_cap, time_cap = solvers.caps("CLARABEL", record, 10_000_000)  # a huge prior size is ignored
    expected = max(solvers.MIN_ITERATION_CAP, int(np.ceil(solvers.ITERATION_CAP_FACTOR * np.median(record.iterations))))
    assert iteration_cap == expected
    assert time_cap == pytest.approx(max(solvers.MIN_TIME_CAP_SECONDS,
                                         solvers.TIME_CAP_FACTOR * np.median(record.seconds)))


def test_last_solver_runs_uncapped(monkeypatch):
    monkeypatch.setattr(solvers, "ITERATION_CAP_FACTOR", 0.01)
    monkeypatch.setattr(solvers, "MIN_ITERATION_CAP", 2)
    data = books(1)[0]
    program = Program(data.shape)
    outcome, _ = run(program, data, ("CLARABEL",))
    assert [(a.solver, a.status) for a in outcome.attempts] == [("CLARABEL", cp.OPTIMAL)]


def test_uncapped_limit_is_not_an_answer():
    data = books(1)[0]
    program = Program(data.shape)
    tiny = {"PIQP": {"max_iter": 2}, "CLARABEL": {"max_iter": 2}}
    with pytest.raises(SolverError) as caught:
        run(program, data, ("PIQP", "CLARABEL"), options=tiny)
    assert [(a.solver, a.status, a.accepted) for a in caught.value.attempts] == [
        ("PIQP", cp.USER_LIMIT, False), ("CLARABEL", cp.USER_LIMIT, False)]


def test_infeasible_stops_the_chain_and_verification_moves_on():
    x = cp.Variable(2)
    infeasible = cp.Problem(cp.Minimize(cp.sum_squares(x)), [x >= 1, cp.sum(x) <= 1])
    outcome = solve_chain(infeasible, ("PIQP", "CLARABEL"), lambda: None)
    assert outcome.infeasible and outcome.solver is None and len(outcome.attempts) == 1
    feasible = cp.Problem(cp.Minimize(cp.sum_squares(x - 3)), [x <= 1])
    outcome = solve_chain(feasible, ("PIQP", "CLARABEL"),
                          lambda: "rejected for the test" if feasible.solver_stats.solver_name == "PIQP" else None)
    assert [a.accepted for a in outcome.attempts] == [False, True]
    assert outcome.attempts[0].reason.startswith("verification failed")
    np.testing.assert_allclose(x.value, [1.0, 1.0], atol=1e-6)  # closed form: the bound


class ScriptedProblem:
    """A stand-in for a cvxpy problem whose solvers return scripted statuses (x = the solver's index)."""

    def __init__(self, statuses: dict[str, str]):
        self.statuses = statuses
        self.x = cp.Variable(1)
        self.status = None
        self.solver_stats = None

    def variables(self):
        return [self.x]

    def solve(self, solver, **_):
        self.status = self.statuses[solver]
        self.x.value = np.array([float(list(self.statuses).index(solver))])
        self.solver_stats = type("Stats", (), {"solve_time": 0.001, "num_iters": 5})()


def test_inaccurate_answer_is_only_a_last_resort():
    problem = ScriptedProblem({"PIQP": cp.OPTIMAL_INACCURATE, "CLARABEL": cp.UNBOUNDED})
    outcome = solve_chain(problem, ("PIQP", "CLARABEL"), lambda: None)
    assert outcome.solver == "PIQP" and not outcome.accurate
    assert [a.reason for a in outcome.attempts] == ["inaccurate; kept only as a last resort",
                                                     "solver reports the problem unbounded"]
    assert problem.x.value[0] == 0.0  # PIQP's point restored after CLARABEL overwrote it
    problem = ScriptedProblem({"PIQP": cp.OPTIMAL_INACCURATE, "CLARABEL": cp.OPTIMAL})
    outcome = solve_chain(problem, ("PIQP", "CLARABEL"), lambda: None)
    assert outcome.solver == "CLARABEL" and outcome.accurate


def test_compile_solvers_ahead_means_no_compilation_in_a_fallback(piqp_stalls, constructions):
    data = books(1)[0]
    program = Program(data.shape)
    program.update(data)
    assert compile_solvers(program.problem, ("PIQP", "CLARABEL")) == ("PIQP", "CLARABEL")
    constructions.clear()
    outcome, _ = run(program, data, ("PIQP", "CLARABEL"))
    assert outcome.solver == "CLARABEL" and outcome.compiled == () and constructions == []


def test_chain_order_per_size_follows_the_measurement():
    """PIQP goes first up to the largest measured size below which, at every size, the whole
    chain led by PIQP (its stalls cut by the caps, then Clarabel) had the lower median time
    than the chain led by Clarabel, and a 90th percentile at most 10% worse."""
    rows = list(csv.DictReader(MEASUREMENT.open()))
    sizes = sorted({int(r["n_assets"]) for r in rows})
    assert len(sizes) >= 4

    def times(n, chain):
        return np.array([float(r["solver_ms"]) for r in rows if int(r["n_assets"]) == n and r["solver"] == chain])

    def piqp_leads(n):
        piqp, clarabel = times(n, "chain:PIQP>CLARABEL"), times(n, "chain:CLARABEL>PIQP")
        return np.median(piqp) < np.median(clarabel) and np.quantile(piqp, 0.9) <= 1.1 * np.quantile(clarabel, 0.9)

    last = None
    for n in sizes:
        if not piqp_leads(n):
            break
        last = n
    assert last is not None
    for n in sizes:
        trade_variables = n * (1 + 5)  # the measurement's books hold 5 lots per asset
        assert default_chain(trade_variables)[0] == ("PIQP" if n <= last else "CLARABEL"), n
    # beyond the measured sizes (or where PIQP stopped winning) Clarabel leads
    assert default_chain(last * (1 + 5) + 1)[0] == "CLARABEL"


def test_ignore_dpp_solves_the_same_problem_afresh():
    data = books(2)
    program = Program(data[0].shape)
    for d in data:
        outcome, objective = run(program, d, ("CLARABEL",), ignore_dpp=True)
        assert outcome.solver == "CLARABEL" and outcome.compiled == ("CLARABEL",)  # a fresh compilation each time
        assert objective == pytest.approx(clarabel_objective(d), rel=1e-6, abs=1e-6)
