"""The solver chain: try solvers in order, accept only verified optimal answers, record every try.

The default order depends on the problem's size and was chosen by measurement
(``benchmarks/solve_speed.py``, results in ``benchmarks/results/solve_speed.csv``, 5 lots
and 10 factors per case): PIQP is fastest up to 500 assets (solver time 0.35 / 1.8 /
20 ms at 20 / 100 / 500 assets, about 30% under Clarabel) but slows down and sometimes
stops at its iteration limit above that (one of four cases at 1000 assets; 756 ms vs
Clarabel's 218 ms at 2000). So small problems try PIQP then Clarabel, large ones Clarabel
then PIQP; OSQP and SCS (10-100x slower here) are last resorts. An ``optimal_inaccurate`` answer is never taken
silently: the chain moves on, and only if no solver is accurate is the best verified
inaccurate answer used, with ``accurate=False`` on the result.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import cvxpy as cp

from optimizer.errors import SolveAttempt, SolverError

SMALL_PROBLEM_CHAIN: tuple[str, ...] = ("PIQP", "CLARABEL", "OSQP", "SCS")
LARGE_PROBLEM_CHAIN: tuple[str, ...] = ("CLARABEL", "PIQP", "OSQP", "SCS")
#: Problems with at most this many trade variables (assets x (lot slots + 1)) are "small".
SMALL_PROBLEM_VARIABLES = 3_000


def default_chain(n_variables: int) -> tuple[str, ...]:
    """The measured default solver order for a problem with ``n_variables`` trade variables."""
    return SMALL_PROBLEM_CHAIN if n_variables <= SMALL_PROBLEM_VARIABLES else LARGE_PROBLEM_CHAIN

#: Tolerances per solver, tight enough that objectives agree to ~1e-6 relative.
SOLVER_OPTIONS: dict[str, dict] = {
    "CLARABEL": {"tol_gap_abs": 1e-9, "tol_gap_rel": 1e-9, "tol_feas": 1e-9},
    "OSQP": {"eps_abs": 1e-7, "eps_rel": 1e-7, "max_iter": 200_000, "polishing": True},
    "SCS": {"eps_abs": 1e-7, "eps_rel": 1e-7, "max_iters": 200_000},
    "PIQP": {"eps_abs": 1e-8, "eps_rel": 1e-8, "max_iter": 1000, "compute_timings": True},
    "ECOS": {},
}

INFEASIBLE_STATUSES = (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE)

#: Solvers never warm-started. OSQP 1.1 under cvxpy 1.9 rejects the in-place update when only
#: the constraint bounds change ("ERROR in osqp_update_data_vec: Problem data validation"),
#: and cvxpy then reports the *previous* solution as optimal; a fresh setup each time is correct.
NO_WARM_START = frozenset({"OSQP"})


@lru_cache(maxsize=1)
def available() -> tuple[str, ...]:
    """Solvers cvxpy can call on this machine (looked up once per process: it scans installed packages)."""
    return tuple(cp.installed_solvers())


@dataclass(frozen=True)
class ChainOutcome:
    """What the chain settled on: the accepted solver (or None), whether it was accurate, and every try."""

    solver: str | None
    accurate: bool
    infeasible: bool
    attempts: list[SolveAttempt]


def solve_chain(problem: cp.Problem, chain: tuple[str, ...], verify: Callable[[], str | None],
                *, warm_start: bool = True, options: dict[str, dict] | None = None) -> ChainOutcome:
    """Solve ``problem`` with each solver in ``chain`` until one gives a verified optimal answer.

    ``verify`` re-checks the current variable values in numpy and returns a reason to
    reject them, or None. ``options`` replaces :data:`SOLVER_OPTIONS` (per solver name) for
    a problem that needs other tolerances. Returns the outcome; the accepted solution is
    left in the problem's variables. Raises :class:`SolverError` when no solver gives any answer.
    """
    options = SOLVER_OPTIONS if options is None else options
    attempts: list[SolveAttempt] = []
    fallback: tuple[str, dict] | None = None
    installed = set(available())
    for name in chain:
        if name not in installed:
            attempts.append(SolveAttempt(name, "not installed", 0.0, False, "solver is not installed"))
            continue
        started = time.perf_counter()
        try:
            with warnings.catch_warnings():
                # cvxpy warns "Solution may be inaccurate"; the status is handled (and recorded) below.
                warnings.filterwarnings("ignore", message="Solution may be inaccurate", category=UserWarning)
                problem.solve(solver=name, warm_start=warm_start and name not in NO_WARM_START,
                              **options.get(name, {}))
        except (cp.error.SolverError, ValueError, ArithmeticError) as exc:
            attempts.append(SolveAttempt(name, "error", time.perf_counter() - started, False, str(exc)[:200]))
            continue
        seconds = time.perf_counter() - started
        status = problem.status
        solver_seconds = getattr(problem.solver_stats, "solve_time", None)
        if status in INFEASIBLE_STATUSES:
            attempts.append(SolveAttempt(name, status, seconds, False, "solver reports the problem infeasible",
                                         solver_seconds))
            if status == cp.INFEASIBLE:
                return ChainOutcome(None, True, True, attempts)
            continue
        if status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            attempts.append(SolveAttempt(name, str(status), seconds, False, "no solution returned", solver_seconds))
            continue
        reason = verify()
        if reason is not None:
            attempts.append(SolveAttempt(name, status, seconds, False, f"verification failed: {reason}", solver_seconds))
            continue
        if status == cp.OPTIMAL_INACCURATE:
            attempts.append(SolveAttempt(name, status, seconds, False, "inaccurate; kept only as a last resort",
                                         solver_seconds))
            if fallback is None:
                fallback = (name, {v.id: v.value.copy() for v in problem.variables()})
            continue
        attempts.append(SolveAttempt(name, status, seconds, True, "optimal and verified", solver_seconds))
        return ChainOutcome(name, True, False, attempts)
    if fallback is not None:
        name, values = fallback
        for v in problem.variables():
            v.value = values[v.id]
        return ChainOutcome(name, False, False, attempts)
    raise SolverError("no solver in the chain returned an acceptable answer", attempts)
