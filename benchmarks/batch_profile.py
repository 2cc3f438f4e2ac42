"""Where one batch worker's time per account goes (issue 11, nightly batch).

    python benchmarks/batch_profile.py                 # 300 accounts x 50 assets x 3 lots, in-process
    python benchmarks/batch_profile.py --accounts 1000 --cprofile /tmp/batch.prof

Runs :func:`optimizer.batch.worker.solve_chunk` in this process on chunks of a synthetic
book (the first chunk warms the program and is not counted) and splits each account's time
into phases by wrapping the functions that do them:

* ``prepare``: book rows to ``ProblemData`` (the fast path, or the general case + prepare);
* ``solver``: the solvers' own time (PIQP's ``run_time``, or what the chain recorded);
* ``solve_python``: the rest of each solve call (parameter updates, matrices, verification);
* ``conflicts``: the wash-sale settling around the solves (estimates, bounds, pricing);
* ``rounding``: whole-share rounding; ``result``: pricing the result (``build_result``);
* ``output``: the account's output rows (orders, trades, lot sales) and its share of the part write;
* ``other``: the rest of the chunk (fingerprints, grouping, diagnostics).

Prints one line per phase (ms per account) and the solves per account. ``--clock wall``
(default) times phases by the wall clock on a machine that may be shared (``load`` is printed
with them), and the solver phase is the solvers' own reported time; ``--clock cpu`` times
every phase by this process's CPU time, the solver phase by the CPU time inside PIQP's
``solve`` (the batch's solves go there; a solve another solver answers is then counted
in ``solve_python``): comparable across runs on a loaded machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DATE = "2024-06-28"


def run(accounts: int, assets: int, lots: int, chunk: int, cprofile: str | None,
        clock: str = "wall") -> dict[str, float]:
    import optimizer.rebalancer
    from optimizer import direct
    from optimizer.batch import worker
    from optimizer.batch.accounts import make_context
    from optimizer.batch.fast_prepare import ChunkPreparer
    from optimizer.batch.runner import _chunks
    from optimizer.batch.store import load_book
    from optimizer.trade_file import OrderRules
    from problems.books import synthetic_book, write_parquet_book

    spent: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)

    now = time.process_time if clock == "cpu" else time.perf_counter

    inside: set[str] = set()   # the timed calls running now (a solve inside the settling is the settling's)

    def timed(name, fn, on_result=None):
        def wrapper(*args, **kwargs):
            mark = now()
            inside.add(name)
            try:
                out = fn(*args, **kwargs)
            finally:
                inside.discard(name)
            seconds = now() - mark
            spent[name] += seconds
            if name == "solve_call" and "conflicts_call" in inside:
                spent["solve_in_conflicts"] += seconds
            counts[name] += 1
            if on_result is not None:
                on_result(out)
            return out
        return wrapper

    def solver_seconds(out) -> None:
        if clock == "cpu":
            return
        _, outcome = out
        spent["solver"] += sum(a.solver_seconds or 0.0 for a in outcome.attempts)

    if clock == "cpu":  # CPU time inside PIQP's solve (the programs made from here on use this class)
        import piqp

        class CpuTimedSolver(piqp.SparseSolver):
            def solve(self):
                mark = time.process_time()
                try:
                    return super().solve()
                finally:
                    spent["solver"] += time.process_time() - mark

        piqp.SparseSolver = CpuTimedSolver

    root = Path(tempfile.mkdtemp(prefix="batch_profile_"))
    tables = synthetic_book(accounts + chunk, assets, lots, n_models=20, seed=0, date=DATE)
    book = load_book(write_parquet_book(tables, root / "book"))
    context = make_context(book, DATE)
    token, blob = context.blob()
    todo = book["accounts"].sort_values("account_id").reset_index(drop=True)
    chunks = _chunks(todo, book, chunk)
    options = worker.WorkOptions(whole_shares=True, orders=OrderRules(whole_shares=True))
    worker.solve_chunk(token, blob, chunks[0], str(root / "parts"), "warm", 60.0, None, options)

    direct.DirectProgram.solve = timed("solve_call", direct.DirectProgram.solve, solver_seconds)
    # patched where they are called (the rebalancer imports them by name)
    rebalancer = optimizer.rebalancer
    rebalancer.resolve_conflicts = timed("conflicts_call", rebalancer.resolve_conflicts)
    rebalancer.round_to_whole_units = timed("rounding", rebalancer.round_to_whole_units)
    rebalancer.build_result = timed("result", rebalancer.build_result)
    ChunkPreparer.prepare = timed("prepare_fast", ChunkPreparer.prepare)
    worker.prepare = timed("prepare_general", worker.prepare)
    worker.account_columns = timed("output_rows", worker.account_columns)
    worker.write_part = timed("output_write", worker.write_part)
    worker.CaseBuilder.case = timed("prepare_case", worker.CaseBuilder.case)

    profiler = None
    if cprofile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    load = os.getloadavg()[0]
    spent["solver"] = 0.0
    mark, cpu = time.perf_counter(), time.process_time()
    n = 0
    for part in chunks[1:]:
        worker.solve_chunk(token, blob, part, str(root / "parts"), "run", 60.0, None, options)
        n += len(part.account_ids)
    wall, cpu = time.perf_counter() - mark, time.process_time() - cpu
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(cprofile)

    per = {
        "prepare": spent["prepare_fast"] + spent["prepare_case"] + spent["prepare_general"],
        "solver": spent["solver"],
        "solve_python": spent["solve_call"] - spent["solver"],
        "conflicts": spent["conflicts_call"] - spent["solve_in_conflicts"],
        "rounding": spent["rounding"],
        "result": spent["result"],
        "output": spent["output_rows"] + spent["output_write"],
    }
    total = cpu if clock == "cpu" else wall
    per["other"] = total - sum(per.values())
    print(f"{n} accounts x {assets} assets x {lots} lots, chunks of {chunk}, {clock} clock: "
          f"wall {1e3 * wall / n:.2f} ms/account, "
          f"cpu {1e3 * cpu / n:.2f} ms/account, load {load:.2f} -> {os.getloadavg()[0]:.2f}")
    for name, seconds in per.items():
        print(f"  {name:13s} {1e3 * seconds / n:7.2f} ms/account  ({seconds / total:5.1%})")
    print(f"  solves per account {counts['solve_call'] / n:.2f}; fast-prepared accounts "
          f"{counts['prepare_fast'] and (counts['prepare_fast'] - counts['prepare_case'])} of {n}")
    return {name: 1e3 * seconds / n for name, seconds in per.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--assets", type=int, default=50)
    parser.add_argument("--lots", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--cprofile", default=None, help="write cProfile stats of the timed part here")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="time phases by the wall clock or by this process's CPU time")
    args = parser.parse_args()
    run(args.accounts, args.assets, args.lots, args.chunk, args.cprofile, args.clock)


if __name__ == "__main__":
    main()
