"""Nightly-batch throughput: accounts per second on 1 and 2 Dask workers, scaling, overhead, memory.

    python benchmarks/batch_throughput.py                       # 10,000 accounts x 50 assets x 3 lots
    python benchmarks/batch_throughput.py --accounts 2000       # a quicker look
    python benchmarks/batch_throughput.py --solvers default PIQP,CLARABEL   # compare solver chains

For each worker count the whole :func:`optimizer.batch.execute` is timed, from reading the
book to the manifest, including the start of a fresh ``LocalCluster`` (``wall_s``).

Definitions (one row per worker count in ``benchmarks/results/batch_throughput.csv``):

* ``accounts_per_s`` = accounts / ``wall_s``.
* ``speedup`` = ``accounts_per_s`` / the 1-worker ``accounts_per_s``.
* ``sum_account_s``: the time workers spent inside accounts (building the case, ``prepare``,
  solves, pricing the result), summed over accounts.
* ``overhead`` = (``wall_s`` x workers - ``sum_account_s``) / (``wall_s`` x workers): the share
  of the paid worker-seconds not spent on an account (cluster start, loading and slicing
  the book, shipping chunks, writing parts, consolidation, idle workers).
* ``overhead_schedule``: the same, over the scheduling phase only (cluster start, load and
  consolidation excluded).
* ``peak_rss_mb``: peak of the summed resident memory of this process and all its children
  (sampled every 0.2 s with psutil; else ``resource.getrusage`` maxima).
* ``answered_by``: how many accounts each solver answered (from the run's diagnostics);
  ``commit``: the checkout measured (worker processes import the code when each run starts).
* ``load_1m_before``: the 1-minute load average when the run began; the machine has two
  cores shared with other work, so a load above ~0.5 means the numbers are pessimistic.

The batch's wash-sale search (``optimizer.batch.worker.BATCH_CONFLICT_SEARCH``) skips the
library's two-pass certificate solve and keeps the local search's own budget. Measured on
this benchmark's 10,000 accounts (seed 0) against the library's search, in one process:
9,997 accounts take the same decisions (objectives within 1e-13 bp of NAV); 3 accounts,
where the two-pass method would have been run to the end, change: one 0.039 bp of NAV
worse, one 0.016 bp better, one equal (mean +2e-6 bp). It saves 0.70 solves per account
(3.91 -> 3.21). ``ConflictSearch(closest_call=False)`` would save 0.74 more but gives up
0.004 bp on average (0.28 bp at most, 245 of 2,000 accounts worse): not used.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "batch_throughput.csv"
DATE = "2024-06-28"


class PeakMemory:
    """Sample the summed RSS of this process tree until stopped."""

    def __init__(self, every_s: float = 0.2):
        self.every_s = every_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            self.peak = max(self.peak, total)
            self._stop.wait(self.every_s)

    def __enter__(self) -> "PeakMemory":
        try:
            import psutil  # noqa: F401
        except ImportError:
            return self
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self.peak == 0:  # psutil missing: ru_maxrss is in KiB on Linux (largest single process)
            import resource

            self.peak = 1024 * max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                                   resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


def run(accounts: int, assets: int, lots: int, workers: list[int], seed: int, chains: list[str],
        out_csv: Path | None) -> list[dict]:
    import subprocess

    import pandas as pd

    from optimizer.batch import execute
    from optimizer.solvers import default_chain
    from problems.books import synthetic_book, write_parquet_book

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, check=False).stdout.strip()
    except OSError:
        commit = ""
    commit = commit or os.environ.get("BENCH_COMMIT", "")  # a git archive snapshot has no .git

    root = Path(tempfile.mkdtemp(prefix="batch_bench_"))
    try:
        started = time.perf_counter()
        tables = synthetic_book(accounts, assets, lots, n_models=20, seed=seed, date=DATE)
        print(f"book: {accounts} accounts x {assets} assets x {lots} lots generated in "
              f"{time.perf_counter() - started:.1f} s")
        rows = []
        for chain, n in [(c, n) for c in chains for n in workers]:
            solvers = "" if chain == "default" else chain
            tables["accounts"]["solvers"] = solvers
            book = write_parquet_book(tables, root / "book")
            load_before = os.getloadavg()[0]
            out = root / f"out{n}"
            shutil.rmtree(out, ignore_errors=True)
            with PeakMemory() as memory:
                mark = time.perf_counter()
                summary = execute(book, DATE, out, workers=n, progress=True)
                wall = time.perf_counter() - mark
            manifest = json.loads((summary.out_dir / "manifest.json").read_text())
            answered = pd.read_parquet(summary.out_dir / "diagnostics.parquet")["solver"].value_counts()
            seconds = manifest["seconds"]
            paid = wall * n
            schedule_paid = seconds["schedule"] * n
            rows.append({
                "accounts": accounts, "assets": assets, "lots": lots, "workers": n,
                "solvers": solvers or f"default ({','.join(default_chain(assets * (lots + 1)))})",
                "answered_by": " ".join(f"{k}:{v}" for k, v in answered.items()),
                "commit": commit,
                "wall_s": round(wall, 2),
                "schedule_s": round(seconds["schedule"], 2),
                "cluster_start_s": round(seconds.get("cluster_start", 0.0), 2),
                "consolidate_s": round(seconds["consolidate"], 2),
                "accounts_per_s": round(accounts / wall, 1),
                "sum_account_s": round(summary.solve_seconds, 2),
                "mean_account_ms": round(1e3 * summary.solve_seconds / max(accounts, 1), 2),
                "overhead": round((paid - summary.solve_seconds) / paid, 3),
                "overhead_schedule": round((schedule_paid - summary.solve_seconds) / schedule_paid, 3),
                "peak_rss_mb": round(memory.peak / 2 ** 20),
                "failed": summary.failed,
                "load_1m_before": round(load_before, 2),
                "load_1m_after": round(os.getloadavg()[0], 2),
            })
            print(summary.text())
        for row in rows:
            base = next((r["accounts_per_s"] for r in rows if r["workers"] == 1 and r["solvers"] == row["solvers"]),
                        None)
            row["speedup"] = round(row["accounts_per_s"] / base, 2) if base else ""
        if out_csv is not None:
            out_csv.parent.mkdir(parents=True, exist_ok=True)
            with open(out_csv, "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
            print(f"wrote {out_csv}")
        for row in rows:
            print(row)
        return rows
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--assets", type=int, default=50)
    parser.add_argument("--lots", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--solvers", nargs="+", default=["default"],
                        help="solver chains to compare: 'default' (the engine's) and/or e.g. PIQP,CLARABEL")
    parser.add_argument("--out", type=Path, default=RESULTS, help="CSV to write ('-' for none)")
    args = parser.parse_args()
    run(args.accounts, args.assets, args.lots, args.workers, args.seed, args.solvers,
        None if str(args.out) == "-" else args.out)


if __name__ == "__main__":
    main()
