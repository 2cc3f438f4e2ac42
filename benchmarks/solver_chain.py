"""The measurement behind the solver chain's order and caps (``optimizer/solvers.py``).

For each size (assets x 5 lots x 10 factors) it solves ``--repeats`` synthetic books
(seeds 0..R-1) with each candidate solver alone, on one parametrised problem per solver
(built and compiled once, before timing: the warm path), at the chain's tolerances but
with a generous iteration limit, and records per solve: the solver's status, its
iteration count, its own solve time, and the objective's relative gap to Clarabel at
tight tolerances. It also records each solver's canonicalisation (compile) time, the
cost a fallback would pay if it rebuilt the problem. Then it runs the capped chain
(``solve_chain``, both orders of PIQP and Clarabel) on the same books: rows ``chain:A>B``
hold the attempts' total time (``wall_ms``; ``solver_ms`` the solvers' own), the attempts
(``status``) and, in ``compile_ms``, how many compilations the round caused (0 expected).

    python benchmarks/solver_chain.py [--sizes 20 100 150 200 300 500 1000 2000] [--repeats 24]
    python benchmarks/solver_chain.py --sizes 10000 --repeats 8 --solvers PIQP CLARABEL --append

Above :data:`~optimizer.program.DPP_MAX_TRADE_VARIABLES` trade variables the program is
compiled afresh per solve without DPP, as ``Program.solve`` does there (``compile_ms`` of a
solver's rows is then its first compilation, and the chain rows count every solve's
compilation). ``--append`` adds the sizes run to the CSV's other sizes.

Writes ``benchmarks/results/solver_chain.csv`` (one row per solve) and prints, per size and
solver, the median / worst iterations and milliseconds; ``solvers.py`` documents the
figures its order and caps come from.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
import warnings
from pathlib import Path

import cvxpy as cp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optimizer import Settings  # noqa: E402
from optimizer.problem_data import prepare  # noqa: E402
from optimizer.program import DPP_MAX_TRADE_VARIABLES, Program  # noqa: E402
from optimizer.program import verify  # noqa: E402
from optimizer.solvers import SOLVER_OPTIONS, available, chain_state, compile_solvers, solve_chain  # noqa: E402
from optimizer.terms.base import Trade  # noqa: E402
from problems.synthetic import synthetic_case  # noqa: E402

LOTS, FACTORS = 5, 10
RESULTS = ROOT / "benchmarks" / "results" / "solver_chain.csv"
#: Iteration limit while measuring: far above any clean solve, so the tail is visible.
MEASURE_MAX_ITER = {"PIQP": 1000, "CLARABEL": 1000, "OSQP": 200_000, "SCS": 200_000}
TIGHT_CLARABEL = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}


def books(n_assets: int, repeats: int):
    settings = Settings(wash_sale=False)
    for seed in range(repeats):
        case = synthetic_case(n_assets, LOTS, FACTORS, seed=seed, settings=settings)
        yield seed, prepare(case.portfolio, case.targets, case.market, case.settings, **case.options())


def fresh(n_assets: int) -> bool:
    """Whether a book of this size is compiled afresh per solve (no DPP), as the engine does."""
    return n_assets * (1 + LOTS) > DPP_MAX_TRADE_VARIABLES


def reference(n_assets: int, repeats: int) -> dict[int, float]:
    """Objective (bps of NAV) per seed from Clarabel at tight tolerances."""
    out, program = {}, None
    for seed, data in books(n_assets, repeats):
        program = program or Program(data.shape)
        program.update(data)
        program.problem.solve(solver="CLARABEL", ignore_dpp=fresh(n_assets), **TIGHT_CLARABEL)
        out[seed] = program.objective_value(data, Trade.from_variables(program.variables))
    return out


def measure(n_assets: int, solver: str, repeats: int, best: dict[int, float]) -> list[dict]:
    rows, program = [], None
    options = {**SOLVER_OPTIONS.get(solver, {})}
    for key in ("max_iter", "max_iters"):
        if key in options:
            options[key] = MEASURE_MAX_ITER[solver]
    if solver == "CLARABEL":
        options["max_iter"] = MEASURE_MAX_ITER[solver]
    for seed, data in books(n_assets, repeats):
        compile_ms = np.nan
        if program is None:
            program = Program(data.shape)
            program.update(data)
            started = time.perf_counter()
            program.problem.get_problem_data(solver, ignore_dpp=fresh(n_assets))
            compile_ms = (time.perf_counter() - started) * 1e3
        program.update(data)
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Solution may be inaccurate", category=UserWarning)
            try:
                program.problem.solve(solver=solver, warm_start=solver != "OSQP", ignore_dpp=fresh(n_assets),
                                      **options)
                status = program.problem.status
            except cp.error.SolverError:
                status = "error"
        wall_ms = (time.perf_counter() - started) * 1e3
        stats = program.problem.solver_stats
        objective = (program.objective_value(data, Trade.from_variables(program.variables))
                     if status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) else np.nan)
        rows.append({"n_assets": n_assets, "solver": solver, "seed": seed, "status": status,
                     "iterations": getattr(stats, "num_iters", None),
                     "solver_ms": round((stats.solve_time or np.nan) * 1e3, 3) if stats else np.nan,
                     "wall_ms": round(wall_ms, 3), "compile_ms": round(compile_ms, 3),
                     "rel_gap": f"{abs(objective - best[seed]) / max(1.0, abs(best[seed])):.2e}"})
    return rows


def measure_chain(n_assets: int, chain: tuple[str, ...], repeats: int, best: dict[int, float]) -> list[dict]:
    """The capped chain itself on the same books: per book, the attempts' total time, who answered,
    and whether the problem was recompiled (both solvers compiled before timing)."""
    rows, program = [], None
    for seed, data in books(n_assets, repeats):
        if program is None:
            program = Program(data.shape)
            program.update(data)
            if not fresh(n_assets):
                compile_solvers(program.problem, chain)
        program.update(data)
        before = chain_state(program.problem).compilations
        outcome = solve_chain(program.problem, chain,
                              lambda: verify(data, Trade.from_variables(program.variables), extra_terms=program.terms),
                              ignore_dpp=fresh(n_assets), n_variables=n_assets * (1 + LOTS))
        objective = program.objective_value(data, Trade.from_variables(program.variables))
        rows.append({"n_assets": n_assets, "solver": "chain:" + ">".join(chain), "seed": seed,
                     "status": "+".join(f"{a.solver}:{a.status}" for a in outcome.attempts),
                     "iterations": None,
                     "solver_ms": round(sum(a.solver_seconds or 0.0 for a in outcome.attempts) * 1e3, 3),
                     "wall_ms": round(sum(a.seconds for a in outcome.attempts) * 1e3, 3),
                     "compile_ms": chain_state(program.problem).compilations - before,
                     "rel_gap": f"{abs(objective - best[seed]) / max(1.0, abs(best[seed])):.2e}"})
    return rows


def summary(rows: list[dict]) -> None:
    import pandas as pd

    frame = pd.DataFrame(rows)
    for column in ("n_assets", "iterations", "solver_ms", "wall_ms", "compile_ms", "rel_gap"):  # text if appended
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame["not_optimal"] = ~frame["status"].isin(["optimal", "PIQP:optimal", "CLARABEL:optimal"])
    table = frame.groupby(["n_assets", "solver"]).agg(
        iters_median=("iterations", "median"), iters_max=("iterations", "max"),
        ms_median=("solver_ms", "median"), ms_max=("solver_ms", "max"),
        wall_ms_max=("wall_ms", "max"), compile_ms=("compile_ms", "max"), not_optimal=("not_optimal", "sum"),
        worst_gap=("rel_gap", "max"))
    print(table.to_string())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 100, 150, 200, 300, 500, 1000, 2000])
    parser.add_argument("--repeats", type=int, default=24)
    parser.add_argument("--solvers", nargs="+", default=[s for s in ("PIQP", "CLARABEL", "OSQP")
                                                          if s in available()])
    parser.add_argument("--osqp-max-assets", type=int, default=100, help="OSQP takes seconds above this")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--append", action="store_true", help="keep the CSV's rows of other sizes")
    args = parser.parse_args()
    rows: list[dict] = []
    if args.append and args.out.exists():
        rows = [r for r in csv.DictReader(args.out.open()) if int(r["n_assets"]) not in args.sizes]
    for n in args.sizes:
        best = reference(n, args.repeats)
        for solver in args.solvers:
            if solver == "OSQP" and n > args.osqp_max_assets:
                continue
            rows.extend(measure(n, solver, args.repeats, best))
            print(f"n={n} {solver} done", flush=True)
        for chain in (("PIQP", "CLARABEL"), ("CLARABEL", "PIQP")):
            rows.extend(measure_chain(n, chain, args.repeats, best))
            print(f"n={n} chain {chain} done", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary(rows)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
