"""Same-date wash-sale conflicts: our method against the exact optimum and the two-pass method.

For random synthetic books with loss lots (``problems.synthetic.synthetic_case``; about a
third of the lots sit below basis, so harvest-and-rebuy conflicts arise in most books) at
20, 100 and 500 assets, solve each decision

* plainly, without the rule (one solve: the time unit, and a lower bound),
* with ``optimizer.wash_sale.resolve_conflicts`` (what ``Rebalancer.solve`` runs),
* with the first version's two-pass method (``optimizer.wash_sale.two_pass``),
* exactly: a mixed-integer program, one binary per wash-sale group that could conflict
  (big-M on its buys and on its loss-lot sales), solved by SCIP through cvxpy
  (``pip install .[bench]``; a time limit per book, the incumbent counts as the optimum
  only when SCIP proves it within its gap, else the best known answer is used and the
  book is flagged).

Gaps are ``(objective - optimum) / |optimum|`` on the program's objective (numpy price,
basis points of NAV; objectives are mostly negative: harvested losses are a benefit).
``optimum`` is the best known answer (SCIP's incumbent, ours or the two-pass one; SCIP's
own when it proves optimality), so ``share_within_1pct`` is exact only where
``mip_proven`` counts every book; ``share_certified_1pct`` and ``median_gap_to_bound``
measure against a proven lower bound instead (SCIP's dual bound or the relaxed solve,
whichever is higher). Time ratios divide the wall time of one decision by one plain
re-solve of the same built program (no rule), each the least of ``--repeats`` runs. Writes
``benchmarks/results/wash_sale_conflicts.csv`` (one row per size) and
``wash_sale_conflicts_books.csv`` (one row per book; a run over some sizes keeps the other
sizes' rows). ``--mip-cache FILE`` keeps SCIP's answers between runs.

    python benchmarks/wash_sale_conflicts.py --books 20
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import cvxpy as cp
import numpy as np
import pandas as pd

from optimizer import Rebalancer
from optimizer.problem_data import ProblemData, prepare
from optimizer.program import Program, objective_value
from optimizer.terms.base import Trade
from optimizer.wash_sale import WashGroups, resolve_conflicts, two_pass
from problems.synthetic import synthetic_case

RESULTS = Path(__file__).parent / "results"
SIZES = (20, 100, 500)
#: SCIP's time limit per book (seconds) and its relative optimality gap.
MIP_SECONDS = 30.0
MIP_GAP = 1e-5


def book(n_assets: int, seed: int) -> ProblemData:
    """One random book: 5 lots per asset, 10 factors, the default tax rules and settings."""
    case = synthetic_case(n_assets, 5, 10, seed=seed)
    return prepare(case.portfolio, case.targets, case.market, case.settings, **case.options())


def mip_optimum(program: Program, data: ProblemData, *,
                seconds: float = MIP_SECONDS) -> tuple[float, float, bool, float]:
    """The exact optimum by SCIP: ``(objective_bps, lower_bound_bps, proven, seconds)``;
    ``proven`` is False when SCIP stopped at its time limit (the incumbent is then only an
    upper bound and ``lower_bound_bps`` its proven dual bound)."""
    program.update(data)
    v = program.variables
    groups = WashGroups(data)
    codes = groups.choosable(data)
    choose = cp.Variable(len(codes), boolean=True)  # 1: keep the buy
    sellable = float(data.lot_value.sum())
    constraints = list(program.problem.constraints)
    L = data.shape.lot_slots
    for g, code in enumerate(codes):
        members = groups.members(code)
        big_buy = np.minimum(data.buy_max[members], data.cash0 + sellable + 1e-3)
        constraints.append(v.buy[members] <= cp.multiply(big_buy, choose[g]))
        slots = np.concatenate([i * L + np.nonzero(groups.loss[i])[0] for i in members]).astype(int)
        if len(slots):
            constraints.append(v.sell[slots] <= cp.multiply(data.lot_sell_max[slots], 1 - choose[g]))
    problem = cp.Problem(program.problem.objective, constraints)
    started = time.perf_counter()
    with warnings.catch_warnings():  # a time-limited answer is flagged "inaccurate"; handled via `proven`
        warnings.filterwarnings("ignore", message="Solution may be inaccurate", category=UserWarning)
        problem.solve(solver="SCIP", scip_params={"limits/time": seconds, "limits/gap": MIP_GAP,
                                                  "display/verblevel": 0})
    elapsed = time.perf_counter() - started
    trade = Trade.from_variables(v)
    value = float(objective_value(data, trade))
    model = problem.solver_stats.extra_stats["model"]
    # SCIP's bounds are on its own objective; cvxpy's constant offset is the difference at the incumbent
    offset = float(problem.objective.value) - model.getPrimalbound()
    bound = min(model.getDualbound() + offset, value)
    proven = bool(model.getStatus() == "optimal")
    return value, bound, proven, elapsed


def _timed(run, repeats: int):
    """``(answer, seconds)``: the least wall time of ``repeats`` runs (the machine is shared)."""
    best = np.inf
    for _ in range(repeats):
        started = time.perf_counter()
        answer = run()
        best = min(best, time.perf_counter() - started)
    return answer, best


def run_book(n_assets: int, seed: int, mip: bool, max_solves: int | None, cache: dict, repeats: int = 3) -> dict:
    data = book(n_assets, seed)
    rebalancer = Rebalancer()
    program = rebalancer.program(data.shape)
    program.solve(data)                                    # build and first solve: not timed
    plain, plain_seconds = _timed(lambda: program.solve(data)[0], repeats)
    relaxed = objective_value(data, plain)
    conflicts = len(WashGroups(data).conflicts(plain))
    ours, ours_seconds = _timed(lambda: resolve_conflicts(program, data, max_solves=max_solves), repeats)
    baseline, two_pass_seconds = _timed(lambda: two_pass(program, data), repeats)

    row = dict(n_assets=n_assets, seed=seed, conflicts=conflicts, choosable=len(WashGroups(data).choosable(data)),
               relaxed_bps=relaxed, ours_bps=ours.objective_bps, two_pass_bps=baseline.objective_bps,
               ours_solves=ours.solves, two_pass_solves=baseline.solves, plain_seconds=plain_seconds,
               ours_seconds=ours_seconds, two_pass_seconds=two_pass_seconds,
               ours_violations=len(WashGroups(data).conflicts(ours.trade)))
    key = f"{n_assets}-{seed}-{MIP_SECONDS}-v2"
    if mip and conflicts:
        if key not in cache:
            cache[key] = mip_optimum(program, data)
        value, bound, proven, seconds = cache[key]
        row.update(mip_bps=value, mip_bound_bps=max(bound, relaxed), mip_proven=proven, mip_seconds=seconds)
    best = min(v for v in (row.get("mip_bps", np.inf), ours.objective_bps, baseline.objective_bps))
    scale = max(abs(best), 1e-9)
    bound = row.get("mip_bound_bps", relaxed)
    row.update(optimum_bps=best, ours_gap=(ours.objective_bps - best) / scale,
               two_pass_gap=(baseline.objective_bps - best) / scale,
               ours_gap_to_bound=(ours.objective_bps - bound) / max(abs(bound), 1e-9))
    return row


def summarize(books: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for n, group in books.groupby("n_assets"):
        conflicted = group[group["conflicts"] > 0]
        rows.append(dict(
            n_assets=n, books=len(group), books_with_conflicts=len(conflicted),
            median_conflicts=float(conflicted["conflicts"].median()) if len(conflicted) else 0.0,
            mip_proven=int(conflicted.get("mip_proven", pd.Series(dtype=bool)).fillna(False).sum()),
            share_within_1pct=float((conflicted["ours_gap"] <= 0.01).mean()) if len(conflicted) else np.nan,
            share_certified_1pct=float((conflicted["ours_gap_to_bound"] <= 0.01).mean()) if len(conflicted) else np.nan,
            median_gap_to_bound=float(conflicted["ours_gap_to_bound"].median()),
            median_gap=float(conflicted["ours_gap"].median()), max_gap=float(conflicted["ours_gap"].max()),
            two_pass_median_gap=float(conflicted["two_pass_gap"].median()),
            two_pass_max_gap=float(conflicted["two_pass_gap"].max()),
            worse_than_two_pass=int((conflicted["ours_bps"] > conflicted["two_pass_bps"] + 1e-6).sum()),
            median_solves=float(conflicted["ours_solves"].median()),
            median_time_ratio=float((conflicted["ours_seconds"] / conflicted["plain_seconds"]).median()),
            max_time_ratio=float((conflicted["ours_seconds"] / conflicted["plain_seconds"]).max()),
            two_pass_median_time_ratio=float((conflicted["two_pass_seconds"] / conflicted["plain_seconds"]).median()),
        ))
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", type=int, default=20, help="books per size")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--no-mip", action="store_true", help="skip the SCIP oracle (best known answer instead)")
    parser.add_argument("--max-solves", type=int, help="resolve_conflicts budget (default: its own by size)")
    parser.add_argument("--mip-cache", type=Path, help="JSON file keeping SCIP answers between runs")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per method (the least counts)")
    args = parser.parse_args()
    cache = json.loads(args.mip_cache.read_text()) if args.mip_cache and args.mip_cache.exists() else {}
    mip = not args.no_mip and "SCIP" in cp.installed_solvers()
    rows = []
    for n in args.sizes:
        for seed in range(args.books):
            row = run_book(n, seed, mip, args.max_solves, cache, args.repeats)
            if args.mip_cache:
                args.mip_cache.write_text(json.dumps(cache))
            rows.append(row)
            print(f"n={n} seed={seed} conflicts={row['conflicts']} gap ours {row['ours_gap']:.4%} "
                  f"two-pass {row['two_pass_gap']:.4%} solves {row['ours_solves']} "
                  f"ratio {row['ours_seconds'] / row['plain_seconds']:.1f}"
                  + (f" mip {row['mip_seconds']:.1f}s proven={row['mip_proven']}" if "mip_bps" in row else ""),
                  flush=True)
    books = pd.DataFrame(rows)
    RESULTS.mkdir(exist_ok=True)
    books_file = RESULTS / "wash_sale_conflicts_books.csv"
    if books_file.exists():  # keep the other sizes' books from earlier runs
        earlier = pd.read_csv(books_file)
        books = pd.concat([earlier[~earlier["n_assets"].isin(args.sizes)], books], ignore_index=True)
    books = books.sort_values(["n_assets", "seed"])
    books.to_csv(books_file, index=False, float_format="%.6g")
    table = summarize(books)
    table.to_csv(RESULTS / "wash_sale_conflicts.csv", index=False, float_format="%.6g")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
