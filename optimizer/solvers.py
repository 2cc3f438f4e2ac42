"""The solver chain: try solvers in order, accept only verified optimal answers, record every try.

Order (measured by ``benchmarks/solver_chain.py``, rows in ``benchmarks/results/solver_chain.csv``;
5 lots and 10 factors per book, 24 books per size, iterations of each solver alone; the
milliseconds are the solvers' own medians in that run on a loaded machine, 2-5x a quiet one,
iteration counts do not depend on load), with PIQP's options of :data:`SOLVER_OPTIONS`:

    assets (trade vars)   PIQP iterations median / max   Clarabel median / max   chain ms, median / p90:
                                                                                 PIQP first    Clarabel first
    20 (120)              13 / 14                        14 / 17                 0.4 / 0.5     1.4 / 1.4
    100 (600)             14 / 15                        16 / 17                 2.1 / 2.3     7.4 / 7.7
    200 (1,200)           15 / 16                        17 / 18                 4.8 / 9.3     20.7 / 34.6
    500 (3,000)           18 / 19                        19 / 19                 13.1 / 14.0   54.4 / 106
    1000 (6,000)          20 / 22                        21 / 22                 33 / 83       331 / 616
    2000 (12,000)         21 / 23                        23 / 26                 94 / 106      294 / 392
    10000 (60,000)*       24 / 25                        29 / 34                 566 / 612     2,053 / 2,252

    (* 8 books, compiled afresh per solve without DPP, as the engine does above
    :data:`~optimizer.program.DPP_MAX_TRADE_VARIABLES`; ``--sizes 10000 --repeats 8 --append``)

PIQP is 3-4x faster per solve at every measured size and never stalled. (With PIQP's
default options its count grew to 40 at 500 assets and 108 at 2,000, with 1,000-iteration
stalls on 1-5 books in 24 from 150 assets: its preconditioner did not scale the cost, and
its duality-gap test at 1e-9 relative was out of reach on some books. Then a Clarabel-led
chain was faster above 200 assets.) So problems up to :data:`SMALL_PROBLEM_VARIABLES` (the
largest measured size, 10,000 assets x 5 lots) try PIQP then Clarabel; larger ones, not
measured, Clarabel then PIQP; OSQP and SCS (10-100x slower here) are last resorts.

Stalls. Every interior-point attempt but the chain's last solver and a rescue runs under
caps scaled to the problem:

* an iteration cap of :data:`ITERATION_CAP_FACTOR` x the solver's typical iteration count
  on this problem (the median of its recent accepted solves; before any, a measured prior
  by size, :func:`typical_iterations`), at least :data:`MIN_ITERATION_CAP`;
* a time cap (Clarabel; PIQP has no time limit) of :data:`TIME_CAP_FACTOR` x
  the solver's typical own time on this problem (before any, a per-variable prior), at
  least :data:`MIN_TIME_CAP_SECONDS`.

Only the interior-point solvers (:data:`CAPPED_SOLVERS`) are capped; OSQP and SCS run as before.

Interior-point iterations cost about the same each, so with PIQP first (where it is at
least 2x faster than Clarabel) a stall cut at 2x its typical count wastes at most about
one Clarabel solve: a round with a stall costs at most about 2x the clean solve of the
solver that answers. A solver that stalls on :data:`DEMOTE_AFTER_STALLS` of its last
:data:`STALL_WINDOW` tries on a problem moves behind the next solver for
:data:`DEMOTED_SOLVES` solves (then it is tried first again). If every capped attempt
fails, the stalled solvers are retried once without caps (``rescue``, before OSQP and SCS),
so caps never lose an answer the old chain would have found.

No rebuild when switching. cvxpy keeps one compiled problem (per solver) and discards it
when a different solver is asked for, so a fallback used to recompile, and the next round
recompiled again for the first solver (about a second at 2,000 assets). The chain keeps
each solver's compiled problem and solver state parked (:class:`ChainState`) and puts the
right one back before each attempt: each solver compiles once per problem
(:func:`compile_solvers` compiles fallbacks ahead of time), and warm re-solves keep
updating the solver's own workspace.

Status handling: ``optimal`` is accepted only after ``verify``; ``optimal_inaccurate`` is
never taken silently (kept as a last resort, ``accurate=False``); ``user_limit`` is a
stall (its point is never used); ``infeasible`` stops the chain; inaccurate infeasibility,
unboundedness and solver errors move on. Every try is recorded with its reason.
"""

from __future__ import annotations

import math
import statistics
import time
import warnings
import weakref
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import cvxpy as cp

from optimizer.errors import SolveAttempt, SolverError

SMALL_PROBLEM_CHAIN: tuple[str, ...] = ("PIQP", "CLARABEL", "OSQP", "SCS")
LARGE_PROBLEM_CHAIN: tuple[str, ...] = ("CLARABEL", "PIQP", "OSQP", "SCS")
#: Problems with at most this many trade variables (assets + lot slots) are "small": a chain led
#: by PIQP is faster than one led by Clarabel at every measured size, up to 10,000 assets x 5 lots.
SMALL_PROBLEM_VARIABLES = 60_000


def default_chain(n_variables: int) -> tuple[str, ...]:
    """The measured default solver order for a problem with ``n_variables`` trade variables."""
    return SMALL_PROBLEM_CHAIN if n_variables <= SMALL_PROBLEM_VARIABLES else LARGE_PROBLEM_CHAIN


#: Tolerances per solver, tight enough that objectives agree to ~1e-6 relative. The
#: iteration limits here apply to uncapped (rescue) attempts.
SOLVER_OPTIONS: dict[str, dict] = {
    "CLARABEL": {"tol_gap_abs": 1e-9, "tol_gap_rel": 1e-9, "tol_feas": 1e-9},
    "OSQP": {"eps_abs": 1e-7, "eps_rel": 1e-7, "max_iter": 200_000, "polishing": True},
    "SCS": {"eps_abs": 1e-7, "eps_rel": 1e-7, "max_iters": 200_000},
    # PIQP (benchmarks/solver_chain.py): its Ruiz preconditioner also scales the cost, else its
    # iterations grew from 18 at 100 assets x 5 lots to 34-68 at 500 and 57 at 2,000; and its
    # duality-gap test at 1e-8 relative (default 1e-9) with a lower regularisation floor, else
    # 1-4 books in 24 at 1,000-2,000 assets never met the gap test (1,000 iterations)
    "PIQP": {"eps_abs": 1e-8, "eps_rel": 1e-8, "max_iter": 1000, "compute_timings": True,
             "preconditioner_scale_cost": True, "eps_duality_gap_rel": 1e-8, "reg_lower_limit": 1e-12},
    "ECOS": {},
}

INFEASIBLE_STATUSES = (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE)
UNBOUNDED_STATUSES = (cp.UNBOUNDED, cp.UNBOUNDED_INACCURATE)

#: Solvers never warm-started. OSQP 1.1 under cvxpy 1.9 rejects the in-place update when only
#: the constraint bounds change ("ERROR in osqp_update_data_vec: Problem data validation"),
#: and cvxpy then reports the *previous* solution as optimal; a fresh setup each time is correct.
NO_WARM_START = frozenset({"OSQP"})

#: A capped attempt may take this many times the solver's typical iteration count.
ITERATION_CAP_FACTOR = 2.0
#: ... but never fewer iterations than this (interior-point solvers need 14-26 here).
MIN_ITERATION_CAP = 30
#: A capped attempt may take this many times the solver's typical own time (machine load
#: varies; iteration caps are the precise guard, the time cap catches slow iterations; at 5x
#: a loaded machine cut one clean Clarabel solve in 288 during the measurement).
TIME_CAP_FACTOR = 10.0
#: ... but never less than this (seconds).
MIN_TIME_CAP_SECONDS = 0.05
#: Solvers whose attempts are capped: the interior-point ones, whose iteration counts are
#: tight and were measured. OSQP and SCS (first-order, counts vary 2-10x) run uncapped, after
#: the rescue.
CAPPED_SOLVERS = frozenset({"PIQP", "CLARABEL"})
#: Solver option names of the iteration and time limits (PIQP has no time limit: its
#: iteration cap bounds its time).
ITERATION_OPTION = {"PIQP": "max_iter", "CLARABEL": "max_iter"}
TIME_OPTION = {"CLARABEL": "time_limit"}
#: Solver seconds per trade variable before a problem has history (measured medians of
#: ``benchmarks/solver_chain.py``, rounded up: Clarabel 1.3 ms at 120 variables, 53 at 3,000,
#: 292 at 12,000).
PRIOR_SECONDS_PER_VARIABLE = {"CLARABEL": 2.5e-5}
#: Accepted solves remembered per solver and problem for the typical iterations and time.
HISTORY = 9
#: Demotion: a solver that stalled on this many of its last ``STALL_WINDOW`` tries on a problem
#: goes behind the next solver for ``DEMOTED_SOLVES`` solves of that problem.
DEMOTE_AFTER_STALLS = 2
STALL_WINDOW = 4
DEMOTED_SOLVES = 20


def typical_iterations(solver: str, n_variables: int) -> float:
    """Measured median iterations of ``solver`` on a problem with ``n_variables`` trade variables.

    Interior-point counts grow about logarithmically with size (``benchmarks/solver_chain.py``):
    Clarabel 14 at 120 variables to 23 at 12,000; PIQP 13 to 21. Other solvers have no prior (``inf``).
    """
    doublings = math.log2(max(n_variables, 120) / 120)
    if solver == "CLARABEL":
        return 14.0 + 1.4 * doublings
    if solver == "PIQP":
        return 13.0 + 1.2 * doublings
    return math.inf


@lru_cache(maxsize=1)
def available() -> tuple[str, ...]:
    """Solvers cvxpy can call on this machine (looked up once per process: it scans installed packages)."""
    return tuple(cp.installed_solvers())


@dataclass(frozen=True)
class ChainOutcome:
    """What the chain settled on: the accepted solver (or None), whether it was accurate, and every try.

    ``order`` is the order the solvers were tried in (the chain, with demoted solvers moved
    back); ``compiled`` the solvers cvxpy compiled the problem for during this call.
    """

    solver: str | None
    accurate: bool
    infeasible: bool
    attempts: list[SolveAttempt]
    order: tuple[str, ...] = ()
    compiled: tuple[str, ...] = ()


@dataclass
class SolverRecord:
    """One solver's recent history on one problem (iterations and own seconds of accepted solves,
    stall flags of its tries, solves left while demoted)."""

    iterations: deque = field(default_factory=lambda: deque(maxlen=HISTORY))
    seconds: deque = field(default_factory=lambda: deque(maxlen=HISTORY))
    stalls: deque = field(default_factory=lambda: deque(maxlen=STALL_WINDOW))
    demoted_for: int = 0


@dataclass
class ChainState:
    """What the chain keeps per cvxpy problem: each solver's parked compilation and its record.

    ``compilations`` counts the solves in which cvxpy compiled this problem (for a solver it
    had no compiled problem for); with the parking it is at most one per solver.
    """

    parked: dict[str, tuple] = field(default_factory=dict)
    records: dict[str, SolverRecord] = field(default_factory=dict)
    compilations: int = 0
    solves: int = 0

    def record(self, solver: str) -> SolverRecord:
        return self.records.setdefault(solver, SolverRecord())


_STATES: "weakref.WeakKeyDictionary[cp.Problem, ChainState]" = weakref.WeakKeyDictionary()


def chain_state(problem: cp.Problem) -> ChainState:
    """The chain's state for ``problem`` (created empty on first use; dropped with the problem)."""
    state = _STATES.get(problem)
    if state is None:
        state = _STATES[problem] = ChainState()
    return state


def _activate(problem: cp.Problem, state: ChainState, solver: str) -> bool | None:
    """Make ``solver``'s compiled problem and solver workspace the problem's active ones.

    cvxpy (1.5-1.9) keeps one compiled problem in ``problem._cache`` (keyed by solver) and the
    solver's warm-start workspace in ``problem._solver_cache``, and throws both away when
    another solver is asked for. This parks the active pair under its solver's name and
    restores ``solver``'s. Returns whether cvxpy will compile on this solve, or None when
    cvxpy's internals are not as expected (then nothing is swapped: cvxpy recompiles as usual).
    """
    cache = getattr(problem, "_cache", None)
    if cache is None or not hasattr(cache, "key") or not hasattr(problem, "_solver_cache"):
        return None
    active = cache.key[0] if cache.key else None
    if active != solver:
        if active is not None:
            state.parked[active] = (cache, problem._solver_cache, getattr(problem, "solver_context", None))
        if solver in state.parked:
            problem._cache, problem._solver_cache, context = state.parked.pop(solver)
            if hasattr(problem, "solver_context"):
                problem.solver_context = context
        else:
            problem._cache = type(cache)()
            problem._solver_cache = {}
    return problem._cache.param_prog is None


def compile_solvers(problem: cp.Problem, solvers: tuple[str, ...]) -> tuple[str, ...]:
    """Compile ``problem`` for each installed solver of ``solvers`` now (parameters must hold
    values), so a later fallback to one of them does not pay cvxpy's canonicalisation inside a
    decision. Returns the solvers compiled now; the first of ``solvers`` ends active."""
    state, compiled = chain_state(problem), []
    installed = set(available())
    for solver in reversed([s for s in solvers if s in installed]):
        if _activate(problem, state, solver):
            problem.get_problem_data(solver)
            state.compilations += 1
            compiled.append(solver)
    return tuple(reversed(compiled))


def _order(chain: tuple[str, ...], state: ChainState) -> tuple[str, ...]:
    """``chain`` with each demoted solver moved one place back (behind the next solver)."""
    order = list(chain)
    for solver in chain:
        record = state.records.get(solver)
        if record is not None and record.demoted_for > 0:
            at = order.index(solver)
            if at + 1 < len(order):
                order[at], order[at + 1] = order[at + 1], order[at]
            record.demoted_for -= 1
    return tuple(order)


def caps(solver: str, record: SolverRecord, n_variables: int) -> tuple[int | None, float | None]:
    """The iteration and time caps (None: no cap) of a capped attempt by ``solver``."""
    if len(record.iterations) >= 3:
        typical = float(statistics.median(record.iterations))
    else:
        typical = max([typical_iterations(solver, n_variables), *record.iterations])
    iteration_cap = (max(MIN_ITERATION_CAP, math.ceil(ITERATION_CAP_FACTOR * typical))
                     if math.isfinite(typical) and solver in ITERATION_OPTION else None)
    if len(record.seconds) >= 3:
        expected = float(statistics.median(record.seconds))
    else:
        expected = max([PRIOR_SECONDS_PER_VARIABLE.get(solver, 1e-3) * n_variables, *record.seconds])
    time_cap = max(MIN_TIME_CAP_SECONDS, TIME_CAP_FACTOR * expected) if solver in TIME_OPTION else None
    return iteration_cap, time_cap


def _n_variables(problem: cp.Problem) -> int:
    return int(sum(v.size for v in problem.variables()))


def solve_chain(problem: cp.Problem, chain: tuple[str, ...], verify: Callable[[], str | None],
                *, warm_start: bool = True, options: dict[str, dict] | None = None,
                capped: bool | None = None, n_variables: int | None = None,
                ignore_dpp: bool = False) -> ChainOutcome:
    """Solve ``problem`` with each solver in ``chain`` until one gives a verified optimal answer.

    ``verify`` re-checks the current variable values in numpy and returns a reason to
    reject them, or None. ``options`` replaces :data:`SOLVER_OPTIONS` (per solver name) for
    a problem that needs other tolerances. ``capped`` puts the stall caps on the
    interior-point attempts except the last installed solver's and the rescue (default: only
    with the default options, whose iteration counts were measured). ``n_variables`` sizes
    the caps' priors (default: the problem's variable count). ``ignore_dpp`` compiles the
    problem afresh with the parameters' current values (cvxpy's ``ignore_dpp``): nothing to
    reuse, but no DPP coefficient tensor either, whose size grows with variables x objective
    parameters (167 GiB at 10,000 assets x 5 lots, which this compiles in 0.3 s; up to 2,000
    assets the warm DPP re-solve is faster: 238 vs 344 ms at 2,000, Clarabel).
    Returns the outcome; the accepted solution is left in the problem's variables. Raises
    :class:`SolverError` when no solver gives any answer.
    """
    capped = options is None if capped is None else capped
    options = SOLVER_OPTIONS if options is None else options
    state = chain_state(problem)
    state.solves += 1
    size = n_variables if n_variables is not None else (_n_variables(problem) if capped else 0)
    order = _order(tuple(chain), state)
    attempts: list[SolveAttempt] = []
    compiled: list[str] = []
    stalled: list[str] = []
    fallback: tuple[str, dict] | None = None
    installed = set(available())

    def attempt(name: str, limits: tuple[int | None, float | None]) -> str | None:
        """One try; returns "accepted", "infeasible", "stalled" or None (rejected for another reason)."""
        nonlocal fallback
        record = state.record(name)
        iteration_cap, time_cap = limits
        solver_options = dict(options.get(name, {}))
        if iteration_cap is not None:
            solver_options[ITERATION_OPTION[name]] = iteration_cap
        if time_cap is not None:
            solver_options[TIME_OPTION[name]] = time_cap
        compiles = _activate(problem, state, name)
        started = time.perf_counter()
        try:
            with warnings.catch_warnings():
                # cvxpy warns "Solution may be inaccurate"; the status is handled (and recorded) below.
                warnings.filterwarnings("ignore", message="Solution may be inaccurate", category=UserWarning)
                problem.solve(solver=name, warm_start=warm_start and name not in NO_WARM_START,
                              ignore_dpp=ignore_dpp, **solver_options)
        except (cp.error.SolverError, ValueError, ArithmeticError) as exc:
            attempts.append(SolveAttempt(name, "error", time.perf_counter() - started, False, str(exc)[:200]))
            record.stalls.append(False)
            return None
        finally:
            if compiles:
                state.compilations += 1
                compiled.append(name)
        seconds = time.perf_counter() - started
        status = problem.status
        stats = problem.solver_stats
        solver_seconds = getattr(stats, "solve_time", None)
        iterations = getattr(stats, "num_iters", None)
        if status == cp.USER_LIMIT:
            if iteration_cap is not None and iterations is not None and iterations >= iteration_cap:
                why = f"stalled: iteration cap {iteration_cap} reached"
            elif time_cap is not None:
                why = f"stalled: time cap {time_cap:.3g} s or iteration limit reached ({iterations} iterations)"
            else:
                why = f"iteration or time limit reached ({iterations} iterations); its point is not used"
            attempts.append(SolveAttempt(name, status, seconds, False, why, solver_seconds))
            record.stalls.append(True)
            if sum(record.stalls) >= DEMOTE_AFTER_STALLS:
                record.demoted_for, record.stalls = DEMOTED_SOLVES, deque(maxlen=STALL_WINDOW)
            return "stalled"
        record.stalls.append(False)
        if status in INFEASIBLE_STATUSES:
            attempts.append(SolveAttempt(name, status, seconds, False, "solver reports the problem infeasible",
                                         solver_seconds))
            return "infeasible" if status == cp.INFEASIBLE else None
        if status in UNBOUNDED_STATUSES:
            attempts.append(SolveAttempt(name, status, seconds, False, "solver reports the problem unbounded",
                                         solver_seconds))
            return None
        if status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            attempts.append(SolveAttempt(name, str(status), seconds, False, "no solution returned", solver_seconds))
            return None
        reason = verify()
        if reason is not None:
            attempts.append(SolveAttempt(name, status, seconds, False, f"verification failed: {reason}",
                                         solver_seconds))
            return None
        if status == cp.OPTIMAL_INACCURATE:
            attempts.append(SolveAttempt(name, status, seconds, False, "inaccurate; kept only as a last resort",
                                         solver_seconds))
            if fallback is None:
                fallback = (name, {v.id: v.value.copy() for v in problem.variables()})
            return None
        attempts.append(SolveAttempt(name, status, seconds, True, "optimal and verified", solver_seconds))
        if iterations is not None:
            record.iterations.append(int(iterations))
        if solver_seconds:
            record.seconds.append(float(solver_seconds))
        return "accepted"

    def outcome(solver: str | None, accurate: bool, infeasible: bool) -> ChainOutcome:
        return ChainOutcome(solver, accurate, infeasible, attempts, order, tuple(compiled))

    def settle(result: str | None, name: str) -> ChainOutcome | None:
        if result == "accepted":
            return outcome(name, True, False)
        if result == "infeasible":
            return outcome(None, True, True)
        return None

    def rescue() -> ChainOutcome | None:
        """The stalled solvers once more, without caps (before any slower first-order solver)."""
        while stalled:
            name = stalled.pop(0)
            done = settle(attempt(name, (None, None)), name)
            if done is not None:
                return done
        return None

    runnable = [name for name in order if name in installed]
    for name in order:
        if name not in installed:
            attempts.append(SolveAttempt(name, "not installed", 0.0, False, "solver is not installed"))
            continue
        # the last installed solver runs uncapped: nothing after it could answer sooner
        is_capped = capped and name in CAPPED_SOLVERS and name != runnable[-1]
        if name not in CAPPED_SOLVERS and (done := rescue()) is not None:
            return done
        result = attempt(name, caps(name, state.record(name), size) if is_capped else (None, None))
        if (done := settle(result, name)) is not None:
            return done
        if result == "stalled" and is_capped:
            stalled.append(name)
    if (done := rescue()) is not None:
        return done
    if fallback is not None:
        name, values = fallback
        for v in problem.variables():
            v.value = values[v.id]
        return outcome(name, False, False)
    raise SolverError("no solver in the chain returned an acceptable answer", attempts)
