"""Solve speed and scaling: our warm re-solve against the solver's own time, naive rebuilds and a peer.

For each size (assets x 5 lots x 10 factors) it makes ``--repeats`` synthetic books of one
shape (seeds 1..R; seed 0 warms every method up, untimed) and times, **interleaved** (book
by book, every method in turn, so machine load hits all methods alike), per decision:

* ``ours``: one :class:`Rebalancer` (problem built once, before timing), end to end per
  book: validation, ``prepare``, parameter update, default solver chain, result.
* ``solver_only``: the solvers' own reported time inside ``ours`` (every attempt's).
* ``ours_<SOLVER>``: ``ours`` with a single solver (``--solvers``).
* ``ours_exempt``: ``ours`` on the same books held in a tax-exempt account
  (``TaxRules.none()``): the decision cvxportfolio makes (no tax, so lots do not matter),
  which our engine solves with one pooled lot slot per asset (``optimizer/lot_pooling.py``).
* ``naive``: our parametrised problem built afresh per book and solved by the default chain.
* ``naive_plain_<SOLVER>``: the plain formulation (constants, dense covariance in
  ``quad_form``, ``optimizer/reference.py``) built per book and solved by ``<SOLVER>`` at
  our tolerances (what a user writing the problem by hand would pay); ``naive_plain`` is
  the fastest of them that solved every book within 1e-6 of the reference at that size
  (its ``solver`` column says which). A solver that fails every book at one size (PIQP hits its iteration limit on
  the dense formulation at 500 assets) is not tried at larger sizes.
* ``cvxportfolio_<SOLVER>``: cvxportfolio's single-period optimization with the same factor
  risk, costs, soft bands and cash floor but no tax lots (``benchmarks/cvxportfolio_peer.py``;
  timed warm, one ``values_in_time_recursive`` per decision), at ``--peer-sizes``;
  ``cvxportfolio`` is the fastest. cvxportfolio is GPL-3: install it only for this
  benchmark (``.venv/bin/python -m pip install cvxportfolio`` or the ``[bench]`` extra); the
  rows are skipped with a note if it is missing.
* ``ours_first``: the warm-up decision of ``ours`` (build, compile, solve; one sample).
* ``ours_fresh`` (from ``--fresh-min-assets``): our program compiled afresh per book without
  DPP (``solve_chain(ignore_dpp=True)``), with ``solver_only_fresh`` its solvers' time; above
  ``--dpp-max-assets`` it is the only route (cvxpy's DPP compilation needs variables x
  objective parameters x 8 bytes: 167 GiB at 10,000 assets x 5 lots).

``objective`` is the median objective (bps of NAV); ``objective_gap`` the largest relative
gap ``|f - f_ref| / max(1, |f_ref|)`` over the books to a high-accuracy reference of the
same problem: our program solved by Clarabel at 1e-10 tolerances (for ``cvxportfolio``,
its own policy re-solved by Clarabel at 1e-10; ``same_problem_gap`` compares it with our
program with tax rates set to zero, the same decision without lots). ``vs_ours`` is
``median_ms / ours median_ms``. The wash-sale conflict resolution is off so every method
solves exactly one problem. The Markdown table also gives the log-log slope of ``ours``
from 100 to 2,000 assets.

    python benchmarks/solve_speed.py [--sizes 20 100 500 2000] [--repeats 5]
    python benchmarks/solve_speed.py --sizes 10000 --repeats 2 --solvers --naive-solvers --peer-sizes \
        --out benchmarks/results/solve_speed_10000.csv                                   # scale check
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from optimizer import Rebalancer, Settings, SolverError, TaxRules  # noqa: E402
from optimizer.problem_data import prepare  # noqa: E402
from optimizer.program import Program, verify  # noqa: E402
from optimizer.reference import solve_reference  # noqa: E402
from optimizer.solvers import (LARGE_PROBLEM_CHAIN, SMALL_PROBLEM_CHAIN, SMALL_PROBLEM_VARIABLES,  # noqa: E402
                               SOLVER_OPTIONS, available, default_chain, solve_chain)
from optimizer.terms.base import Trade  # noqa: E402
from problems.synthetic import synthetic_case  # noqa: E402

LOTS, FACTORS = 5, 10
RESULTS = ROOT / "benchmarks" / "results" / "solve_speed.csv"
TIGHT = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}


@dataclasses.dataclass
class Books:
    """The books of one size: cases (seed 0 first), their prepared data, and no-tax twins."""

    cases: list
    data: list
    untaxed: list


def make_books(n_assets: int, repeats: int) -> Books:
    cases, data, untaxed = [], [], []
    for seed in range(repeats + 1):
        case = synthetic_case(n_assets, LOTS, FACTORS, seed=seed, settings=Settings(wash_sale=False))
        options = case.options()
        cases.append(case)
        data.append(prepare(case.portfolio, case.targets, case.market, case.settings, **options))
        options["tax"] = dataclasses.replace(options["tax"], short_term_rate=0.0, long_term_rate=0.0)
        untaxed.append(prepare(case.portfolio, case.targets, case.market, case.settings, **options))
    return Books(cases, data, untaxed)


def tight_objectives(data: list, ignore_dpp: bool = False) -> list[float]:
    """High-accuracy objectives (bps of NAV): our program, Clarabel at 1e-10."""
    out, program = [], None
    for d in data:
        program = program or Program(d.shape)
        program.update(d)
        program.problem.solve(solver="CLARABEL", ignore_dpp=ignore_dpp, **TIGHT)
        out.append(program.objective_value(d, Trade.from_variables(program.variables)))
    return out


class Method:
    """One timed method: ``warm(books)`` once (untimed), then ``decide(i)`` per book -> objective."""

    name = ""
    solver = ""

    def __init__(self):
        self.seconds: list[float] = []
        self.objectives: list[float] = []
        self.solver_seconds: list[float] = []
        self.answered: list[str] = []

    def warm(self, books: Books) -> None:
        self.books = books

    def time(self, i: int) -> None:
        started = time.perf_counter()
        try:
            objective = self.decide(i)
        except (SolverError, RuntimeError) as exc:  # a failed repeat, with the reason printed
            print(f"  {self.name} book {i}: {str(exc)[:160]}", flush=True)
            self.seconds.append(np.nan)
            self.objectives.append(np.nan)
            return
        self.seconds.append(time.perf_counter() - started)
        self.objectives.append(objective)

    def decide(self, i: int) -> float:
        raise NotImplementedError


class Ours(Method):
    def __init__(self, solvers: tuple[str, ...] | None = None):
        super().__init__()
        self.solvers = solvers
        self.name = "ours" if solvers is None else f"ours_{solvers[0]}"
        self.first_seconds = np.nan

    def case(self, case):
        """The book as this method solves it (here: with its single solver, if any)."""
        if self.solvers is None:
            return case
        return dataclasses.replace(case, settings=dataclasses.replace(case.settings, solvers=self.solvers))

    def warm(self, books: Books) -> None:
        super().warm(books)
        self.cases = [self.case(c) for c in books.cases]
        self.rebalancer = Rebalancer()
        started = time.perf_counter()
        try:
            self.rebalancer.solve_case(self.cases[0])  # build once, outside the timing
        except SolverError:
            pass
        self.first_seconds = time.perf_counter() - started

    def decide(self, i: int) -> float:
        result = self.rebalancer.solve_case(self.cases[i])
        if self.rebalancer.builds != 1:
            raise RuntimeError(f"expected one build, saw {self.rebalancer.builds}")
        self.solver_seconds.append(sum(a.solver_seconds or 0.0 for a in result.attempts))
        self.answered.append(result.solver)
        return result.objective_bps


class OursExempt(Ours):
    """``ours`` with each book in a tax-exempt account: the same decision as the peer's."""

    def __init__(self):
        super().__init__()
        self.name = "ours_exempt"

    def case(self, case):
        return dataclasses.replace(case, tax=TaxRules.none())


class OursFresh(Method):
    """Our program compiled afresh per book without DPP (``solve_chain(ignore_dpp=True)``), default chain:
    the route at sizes where cvxpy's DPP compilation does not fit in memory."""

    name = "ours_fresh"
    solver = "default chain"

    def warm(self, books: Books) -> None:
        super().warm(books)
        self.program = Program(books.data[0].shape)

    def decide(self, i: int) -> float:
        case = self.books.cases[i]
        data = prepare(case.portfolio, case.targets, case.market, case.settings, **case.options())
        self.program.update(data)
        chain = default_chain(data.shape.n_assets + data.shape.n_lots)
        outcome = solve_chain(self.program.problem, chain,
                              lambda: verify(data, Trade.from_variables(self.program.variables),
                                             extra_terms=self.program.terms),
                              ignore_dpp=True, n_variables=data.shape.n_assets + data.shape.n_lots)
        self.solver_seconds.append(sum(a.solver_seconds or 0.0 for a in outcome.attempts))
        self.answered.append(outcome.solver)
        return self.program.objective_value(data, Trade.from_variables(self.program.variables))


class Naive(Method):
    name = "naive"
    solver = "default chain"

    def decide(self, i: int) -> float:
        case = self.books.cases[i]
        data = prepare(case.portfolio, case.targets, case.market, case.settings, **case.options())
        program = Program(data.shape)
        trade, _ = program.solve(data)
        return program.objective_value(data, trade)


class NaivePlain(Method):
    def __init__(self, solver: str):
        super().__init__()
        self.solver = solver
        self.name = f"naive_plain_{solver}"

    def decide(self, i: int) -> float:
        case = self.books.cases[i]
        data = prepare(case.portfolio, case.targets, case.market, case.settings, **case.options())
        return solve_reference(data, self.solver, **SOLVER_OPTIONS.get(self.solver, {}))[1]


class Peer(Method):
    """cvxportfolio, warm: the policy initialised over all books' dates, one decision per book."""

    def __init__(self, solver: str):
        super().__init__()
        self.solver = solver
        self.name = f"cvxportfolio_{solver}"

    def warm(self, books: Books) -> None:
        import cvxportfolio_peer as peer

        super().warm(books)
        self.peer = peer
        self.policy, self.calendar, self.universe = peer.build_policy(books.untaxed, self.solver,
                                                                      SOLVER_OPTIONS.get(self.solver, {}))
        peer.decide(self.policy, self.calendar[0], books.untaxed[0], self.universe)

    def decide(self, i: int) -> float:
        return self.peer.decide(self.policy, self.calendar[i], self.books.untaxed[i], self.universe)

    def references(self) -> list[float]:
        policy, calendar, universe = self.peer.build_policy(self.books.untaxed, "CLARABEL", TIGHT)
        return [self.peer.decide(policy, calendar[i], self.books.untaxed[i], universe)
                for i in range(1, len(calendar))]


def gap(objectives, references) -> float:
    gaps = [abs(o - r) / max(1.0, abs(r)) for o, r in zip(objectives, references) if np.isfinite(o)]
    return float(np.max(gaps)) if gaps else np.nan


def row(n: int, method: str, solver: str, seconds, objectives=(), references=(), **extra) -> dict:
    all_ms = np.array(seconds, dtype=float) * 1e3
    ms = all_ms[np.isfinite(all_ms)] if np.isfinite(all_ms).any() else np.array([np.nan])
    return {"n_assets": n, "lots_per_asset": LOTS, "n_factors": FACTORS, "method": method, "solver": solver,
            "repeats": len(all_ms), "failed": int((~np.isfinite(all_ms)).sum()),
            "median_ms": round(float(np.median(ms)), 3), "p90_ms": round(float(np.percentile(ms, 90)), 3),
            "objective": round(float(np.nanmedian(objectives)), 6) if len(objectives) else "",
            "objective_gap": f"{gap(objectives, references):.2e}" if len(objectives) else "",
            "same_problem_gap": extra.get("same_problem_gap", ""), "vs_ours": ""}


#: A candidate for ``naive_plain`` / ``cvxportfolio`` must match the reference this closely.
GAP_LIMIT = 1e-6


def fastest(rows: list[dict], n: int, prefix: str, method: str) -> None:
    """Add a row ``method``: the fastest ``prefix*`` row of size ``n`` with no failed repeat and an
    objective gap within :data:`GAP_LIMIT` (OSQP at 1e-7 tolerances misses it on some books)."""
    candidates = [r for r in rows if r["n_assets"] == n and r["method"].startswith(prefix) and r["failed"] == 0
                  and float(r["objective_gap"]) <= GAP_LIMIT]
    if candidates:
        best = min(candidates, key=lambda r: r["median_ms"])
        rows.append({**best, "method": method})


def loglog_slope(rows: list[dict], low: int = 100, high: int = 2000) -> float | None:
    """Least-squares slope of log(ours median ms) on log(assets) for sizes in [low, high]."""
    points = [(r["n_assets"], r["median_ms"]) for r in rows
              if r["method"] == "ours" and low <= r["n_assets"] <= high and np.isfinite(r["median_ms"])]
    if len({n for n, _ in points}) < 2:
        return None
    x, y = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    return float(np.polyfit(x, y, 1)[0])


def measure_size(n: int, args, rows: list[dict]) -> None:
    books = make_books(n, args.repeats)
    methods: list[Method] = []
    if n <= args.dpp_max_assets:
        methods.append(Ours())
        methods.append(OursExempt())
        methods += [Ours((s,)) for s in args.solvers
                    if s in available() and not (s in ("OSQP", "SCS") and n > args.first_order_max_assets)]
    if n >= args.fresh_min_assets:
        methods.append(OursFresh())
    if n <= args.naive_max_assets:
        methods.append(Naive())
        methods += [NaivePlain(s) for s in args.naive_solvers if s in available() and s not in args.dropped
                    and not (s in ("OSQP", "SCS") and n > args.first_order_max_assets)]
    peer_ok = True
    if n in args.peer_sizes:
        try:
            import cvxportfolio  # noqa: F401
        except ImportError:
            peer_ok = False
            print("  cvxportfolio not installed: no cvxportfolio rows (pip install cvxportfolio)", flush=True)
        if peer_ok:
            methods += [Peer(s) for s in args.peer_solvers if s in available()]
    for method in methods:
        method.warm(books)
    for i in range(1, args.repeats + 1):
        for method in methods:
            method.time(i)
    reference = tight_objectives(books.data[1:], ignore_dpp=n > args.dpp_max_assets)
    untaxed_reference = (tight_objectives(books.untaxed[1:])
                         if any(isinstance(m, (Peer, OursExempt)) for m in methods) else [])
    size_rows: list[dict] = []
    for method in methods:
        if isinstance(method, Peer):
            size_rows.append(row(n, method.name, method.solver, method.seconds, method.objectives,
                                 method.references(),
                                 same_problem_gap=f"{gap(method.objectives, untaxed_reference):.2e}"))
            continue
        solver = method.solver
        if isinstance(method, (Ours, OursFresh)):
            answered = sorted(set(a for a in method.answered if a))
            solver = "+".join(answered)
        size_rows.append(row(n, method.name, solver, method.seconds, method.objectives,
                             untaxed_reference if isinstance(method, OursExempt) else reference))
        if method.name == "ours":
            size_rows.append(row(n, "solver_only", solver, method.solver_seconds))
            size_rows.append(row(n, "ours_first", solver, [method.first_seconds]))
        if method.name == "ours_fresh":
            size_rows.append(row(n, "solver_only_fresh", solver, method.solver_seconds))
    for r in size_rows:  # a solver that failed every book of the plain formulation is not tried at larger sizes
        if r["method"].startswith("naive_plain_") and r["failed"] == r["repeats"]:
            args.dropped.add(r["solver"])
            print(f"  {r['method']} failed every book: not tried above {n} assets", flush=True)
    fastest(size_rows, n, "naive_plain_", "naive_plain")
    fastest(size_rows, n, "cvxportfolio_", "cvxportfolio")
    ours_ms = next((r["median_ms"] for r in size_rows if r["method"] == "ours"), None)
    if ours_ms is None:  # above --dpp-max-assets: only the fresh route
        rows.extend(size_rows)
        for r in size_rows:
            print(f"n={n}: {r['method']} {r['median_ms']:.1f} ms ({r['solver']}), gap {r['objective_gap']}", flush=True)
        return
    for r in size_rows:
        r["vs_ours"] = round(r["median_ms"] / ours_ms, 3) if ours_ms and np.isfinite(r["median_ms"]) else ""
    rows.extend(size_rows)
    by = {r["method"]: r for r in size_rows}
    parts = [f"n={n}: ours {ours_ms:.1f} ms (first {by['ours_first']['median_ms']:.0f} ms), "
             f"solver {by['solver_only']['median_ms']:.1f} ms -> ours/solver "
             f"{ours_ms / by['solver_only']['median_ms']:.2f}x"]
    for name in ("ours_exempt", "naive", "naive_plain", "cvxportfolio"):
        if name in by:
            parts.append(f"{name} {by[name]['median_ms']:.1f} ms ({by[name]['solver'] or '-'}) = "
                         f"{by[name]['vs_ours']:.2f}x ours")
    print("; ".join(parts), flush=True)


def markdown(rows: list[dict]) -> str:
    """The results as a Markdown table of medians, the headline ratios, the gap and the slope."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    table = frame.pivot(index="n_assets", columns="method", values="median_ms")
    solvers = frame.pivot(index="n_assets", columns="method", values="solver")
    order = ["ours", "solver_only", "ours_first", "ours_exempt", "ours_PIQP", "ours_CLARABEL", "ours_OSQP", "ours_SCS", "ours_fresh",
             "solver_only_fresh", "naive", "naive_plain", "cvxportfolio"]
    table = table[[c for c in order if c in table]]
    ratios = [("ours / solver", "ours", "solver_only", False), ("naive_plain / ours", "naive_plain", "ours", True),
              ("cvxportfolio / ours", "cvxportfolio", "ours", True),
              ("cvxportfolio / ours_exempt", "cvxportfolio", "ours_exempt", True),
              ("ours_fresh / its solver", "ours_fresh", "solver_only_fresh", False)]
    ratios = [r for r in ratios if r[1] in table and r[2] in table]
    lines = ["| assets (x5 lots, 10 factors) | " + " | ".join(table.columns) + " | "
             + " | ".join(r[0] for r in ratios) + " |",
             "|" + "---|" * (len(table.columns) + len(ratios) + 1)]
    for n, values in table.iterrows():
        cells = []
        for column, v in values.items():
            text = "" if pd.isna(v) else f"{v:,.1f}"
            if column in ("naive_plain", "cvxportfolio") and text:
                text += f" ({solvers.loc[n, column]})"
            cells.append(text)
        cells += ["" if pd.isna(values[a]) or pd.isna(values[b]) else f"{values[a] / values[b]:.2f}x"
                  for _, a, b, _ in ratios]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    gaps = pd.to_numeric(frame["objective_gap"], errors="coerce")
    slope = loglog_slope(rows)
    notes = [f"Largest relative objective gap of any row to its high-accuracy reference: {gaps.max():.1e}."]
    if slope is not None:
        notes.append(f"Log-log slope of `ours` from 100 to 2,000 assets: {slope:.2f}.")
    return ("Median milliseconds per decision (`python benchmarks/solve_speed.py`; methods interleaved book by "
            "book). `ours`: built once, parameters updated, default chain; `solver_only`: the solvers' own time "
            "inside it; `ours_first`: the first decision (build + compile + solve); `naive`: our problem rebuilt "
            "per book; `naive_plain`: the plain dense formulation rebuilt per book, fastest solver (named); "
            "`cvxportfolio`: its single-period optimization, same risk and costs, no lots, warm, fastest solver; "
            "`ours_exempt`: `ours` with the books in a tax-exempt account (the decision cvxportfolio makes; "
            "lots pooled per asset); "
            "`ours_fresh`: our program compiled afresh per book without DPP (the route above 2,000 assets). "
            + " ".join(notes) + "\n\n" + "\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 100, 500, 2000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--solvers", nargs="*", default=["PIQP", "CLARABEL", "OSQP"],
                        help="single-solver variants ours_<SOLVER> (SCS too if you have minutes)")
    parser.add_argument("--naive-solvers", nargs="*", default=["PIQP", "CLARABEL", "OSQP"])
    parser.add_argument("--peer-solvers", nargs="*", default=["CLARABEL", "PIQP"])
    parser.add_argument("--peer-sizes", type=int, nargs="*", default=[100, 500, 2000])
    parser.add_argument("--naive-max-assets", type=int, default=2000,
                        help="no naive rows above this (the dense covariance of 10,000 assets is 800 MB)")
    parser.add_argument("--first-order-max-assets", type=int, default=500,
                        help="no OSQP/SCS rows above this (seconds per solve at 2,000 assets, measured)")
    parser.add_argument("--dpp-max-assets", type=int, default=2000,
                        help="no warm (DPP) rows above this: cvxpy's DPP compilation needs variables x "
                             "objective parameters x 8 bytes (167 GiB at 10,000 assets)")
    parser.add_argument("--fresh-min-assets", type=int, default=2000,
                        help="ours_fresh rows (compiled afresh per book, no DPP) from this size")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.dropped = set()
    rows: list[dict] = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for n in args.sizes:
        measure_size(n, args, rows)
        with open(args.out, "w", newline="") as handle:  # after every size: a long run keeps what it measured
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        args.out.with_suffix(".md").write_text(markdown(rows))
    slope = loglog_slope(rows)
    if slope is not None:
        print(f"log-log slope of ours from 100 to 2,000 assets: {slope:.2f}")
    print(f"default chain: {SMALL_PROBLEM_CHAIN} up to {SMALL_PROBLEM_VARIABLES} trade variables, "
          f"{LARGE_PROBLEM_CHAIN} above; wrote {args.out}")


if __name__ == "__main__":
    main()
