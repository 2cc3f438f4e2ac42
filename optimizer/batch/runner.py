"""The nightly batch: every account of a book, on Dask, with nothing lost.

:func:`run_batch` loads the book, slices it into chunks of accounts, runs the chunks on a
Dask cluster (a fresh ``LocalCluster`` of ``workers`` single-threaded processes, or an
existing cluster at ``scheduler``), writes each chunk's results as one atomic part, and at
the end consolidates the parts into the date's tables and writes the manifest last.

What is enforced, exactly
-------------------------
* **Per account, after the fact**: an account whose own work (building its case and
  solving) took longer than ``timeout_s`` is recorded ``failed`` with ``error_type``
  ``Timeout`` and its trades are dropped. A solve cannot be interrupted inside a worker
  thread, so this check alone does not stop a hung account.
* **Per chunk, hard**: at most one chunk runs per worker thread, so a chunk starts about
  when it is submitted. A chunk not back within ``timeout_s * len(chunk) + grace_s``
  seconds of submission is cancelled and the worker process running it is killed (its
  nanny starts a fresh one; this is what stops the stuck solve). Its accounts are then retried one per chunk; a single account that
  again misses ``timeout_s + grace_s`` is recorded ``Timeout`` (hard).
* **Worker death**: Dask retries a task whose worker died (its ``allowed-failures``). If
  the chunk still fails, its accounts are retried one by one (a lone account gets
  ``SINGLE_RETRIES`` more tries, since it may only have shared a dying worker with a poison
  account; a retry runs with nothing else in flight, so it cannot be collateral damage
  again); an account that still kills its worker is recorded ``WorkerDied`` (``TaskError`` if the task itself raised, e.g. its
  part could not be written).
* Everything an account can raise (``InputError``, ``InfeasibleError``, ``SolverError``,
  or an unexpected bug) is caught for that account and recorded with its reason.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from optimizer.batch import output
from optimizer.batch.accounts import make_context
from optimizer.batch.store import load_book
from optimizer.batch.worker import Chunk, diagnostics_frame, solve_chunk, write_part

#: Most accounts in one chunk (a chunk of 100 small accounts takes ~1-2 s).
MAX_CHUNK = 100
#: Extra tries of a lone account whose task failed (beyond Dask's own retries).
SINGLE_RETRIES = 1


@dataclass(frozen=True)
class BatchSummary:
    """Counts of one batch run.

    ``done``: accounts solved ``ok`` by this run; ``failed``: accounts whose latest result
    is a failure; ``skipped``: accounts skipped because an earlier run had solved them
    (``resume``). ``failures`` lists ``(account_id, error_type, reason)``.
    """

    date: str
    out_dir: Path
    total: int
    done: int
    failed: int
    skipped: int
    seconds: float
    solve_seconds: float
    workers: int
    failures: tuple[tuple[str, str, str], ...] = field(default=())

    @property
    def rate(self) -> float:
        """Accounts handled by this run per wall-clock second."""
        return (self.done + self.failed) / self.seconds if self.seconds > 0 else float("nan")

    def text(self) -> str:
        """A short report for operations."""
        lines = [
            f"Batch {self.date}: {self.total} accounts -> {self.done} solved, {self.failed} failed, "
            f"{self.skipped} skipped (already done)",
            f"  {self.seconds:.1f} s wall on {self.workers} worker thread(s), {self.rate:.1f} accounts/s; "
            f"summed account time {self.solve_seconds:.1f} s",
            f"  results in {self.out_dir}",
        ]
        for account_id, kind, reason in self.failures[:20]:
            lines.append(f"  FAILED {account_id}: {kind}: {reason[:160]}")
        if len(self.failures) > 20:
            lines.append(f"  ... and {len(self.failures) - 20} more failures (see diagnostics.parquet)")
        return "\n".join(lines)


def run_batch(book: Path, date: str, out: Path, *, scheduler: str | None = None, resume: bool = False,
              workers: int = 2, timeout_s: float = 60.0, progress: bool = True) -> BatchSummary:
    """Rebalance every account of ``book`` on ``date`` and write the results under ``out``.

    Parameters
    ----------
    book:
        A folder of Parquet tables or a ``.duckdb`` file (schema: :mod:`optimizer.batch.store`).
    date:
        Run date (``YYYY-MM-DD``); the book's market and risk rows of that date are used.
    out:
        Output root; results go to ``out/date=YYYY-MM-DD/`` (see :mod:`optimizer.batch.output`).
    scheduler:
        Address of an existing Dask scheduler; ``None`` starts a local cluster. Workers must
        see ``out`` on a shared filesystem.
    resume:
        Skip accounts whose latest result for this date is ``ok``; retry the rest.
        Without it, earlier results of the date are replaced.
    workers:
        Worker processes of the local cluster (one thread each).
    timeout_s:
        Time limit per account, seconds (see the module docstring for what is enforced).
    progress:
        Show a progress bar on stderr.

    Raises
    ------
    InputError
        Only for problems of the whole book (missing table/column, no market on ``date``);
        problems of one account are recorded, not raised.
    """
    return execute(book, date, out, scheduler=scheduler, resume=resume, workers=workers, timeout_s=timeout_s,
                   progress=progress)


def execute(book: Path, date: str, out: Path, *, scheduler: str | None = None, resume: bool = False,
            workers: int = 2, timeout_s: float = 60.0, progress: bool = True, chunk_size: int | None = None,
            grace_s: float = 30.0, fault: Callable[[str], None] | None = None,
            client=None) -> BatchSummary:
    """:func:`run_batch` with the knobs tests and benchmarks need.

    ``chunk_size`` fixes accounts per chunk (default: about four chunks per worker thread,
    at most :data:`MAX_CHUNK`); ``grace_s`` is the slack of the hard chunk deadline;
    ``fault`` is a hook from :mod:`optimizer.batch.faults`; ``client`` reuses a connected
    ``distributed.Client`` (its cluster is then left running).
    """
    started = time.perf_counter()
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    loaded = load_book(Path(book))
    context = make_context(loaded, date)
    token, blob = context.blob()
    day = output.day_dir(out, date)
    day.mkdir(parents=True, exist_ok=True)
    output.clean_staging(day, keep_parts=resume)
    skip = output.done_accounts(day) if resume else set()
    run_id = f"{time.time_ns():020d}"

    accounts = loaded["accounts"].sort_values("account_id", kind="stable").reset_index(drop=True)
    todo = accounts[~accounts["account_id"].isin(skip)].reset_index(drop=True)
    phases = {"load": time.perf_counter() - started}
    own_client = client is None
    cluster = None
    if own_client:
        mark = time.perf_counter()
        client, cluster = _connect(scheduler, workers)
        phases["cluster_start"] = time.perf_counter() - mark
    try:
        threads = max(1, sum(client.nthreads().values()))
        size = chunk_size or max(1, min(MAX_CHUNK, math.ceil(len(todo) / (threads * 4)) if len(todo) else 1))
        chunks = _chunks(todo, loaded["lots"], loaded["restrictions"], size)
        parts_dir = str(day / output.PARTS)
        mark = time.perf_counter()
        stats = _schedule(client, chunks, token=token, blob=blob, parts_dir=parts_dir, run_id=run_id,
                          timeout_s=timeout_s, grace_s=grace_s, fault=fault, threads=threads, progress=progress,
                          total=len(todo), label=str(context.date.date()))
        phases["schedule"] = time.perf_counter() - mark
    finally:
        if own_client:
            client.close()
            if cluster is not None:
                cluster.close()

    mark = time.perf_counter()
    tables = output.consolidate(day)
    phases["consolidate"] = time.perf_counter() - mark
    diag = tables["diagnostics"]
    ok = diag["status"] == "ok"
    failed = diag[~ok]
    this_run = diag["run_id"] == run_id
    done = int((ok & this_run).sum())
    seconds = time.perf_counter() - started
    missing = sorted(set(accounts["account_id"]) - set(diag["account_id"]))
    known = set(accounts["account_id"])
    orphans = {name: int((~loaded[name]["account_id"].isin(known)).sum()) for name in ("lots", "restrictions")}
    failures = tuple((str(r.account_id), str(r.error_type), str(r.reason)) for r in failed.itertuples())
    output.write_manifest(day, {
        "date": str(context.date.date()),
        "book": str(Path(book).resolve()),
        "store": loaded.kind,
        "inputs": loaded.checksums,
        "versions": output.package_versions(),
        "run_id": run_id,
        "runs": sorted(set(diag["run_id"])),
        "resume": resume,
        "scheduler": scheduler or f"LocalCluster({workers} processes x 1 thread)",
        "worker_threads": stats["threads"],
        "chunk_size": size,
        "chunks": stats["chunks"],
        "lot_slots": context.lot_slots,
        "timeout_s": timeout_s,
        "grace_s": grace_s,
        "timeout_policy": "per account: recorded as Timeout when its own work exceeded timeout_s (checked after "
                          "it finishes); per chunk: hard deadline timeout_s*len(chunk)+grace_s from submission, "
                          "then worker restart and one-account retries with deadline timeout_s+grace_s",
        "worker_restarts": stats["restarts"],
        "counts": {"accounts": int(len(accounts)), "ok": int(ok.sum()), "failed": int(len(failed)),
                   "solved_this_run": done, "skipped_already_done": len(skip), "missing": len(missing),
                   "rows_of_unknown_accounts": orphans,
                   "by_error_type": {str(k): int(v) for k, v in failed["error_type"].value_counts().items()}},
        "failures": [{"account_id": a, "error_type": k, "reason": r} for a, k, r in failures],
        "missing": missing[:100],
        "seconds": {"wall": seconds, "sum_account": float(diag.loc[this_run, "seconds"].sum()), **phases},
        "started_at": started_at,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })
    return BatchSummary(date=str(context.date.date()), out_dir=day, total=int(len(accounts)), done=done,
                        failed=int(len(failed)), skipped=len(skip), seconds=seconds,
                        solve_seconds=float(diag.loc[this_run, "seconds"].sum()), workers=stats["threads"],
                        failures=failures)


def _connect(scheduler: str | None, workers: int):
    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler), None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=logging.ERROR)
    return Client(cluster), cluster


def _chunks(todo: pd.DataFrame, lots: pd.DataFrame, restrictions: pd.DataFrame, size: int) -> list[Chunk]:
    lot_rows = lots.groupby("account_id", sort=False).indices
    restriction_rows = restrictions.groupby("account_id", sort=False).indices
    empty = np.zeros(0, dtype=int)
    chunks = []
    for number, start in enumerate(range(0, len(todo), size)):
        part = todo.iloc[start:start + size].reset_index(drop=True)
        ids = list(part["account_id"])
        lot_pos = np.concatenate([lot_rows.get(a, empty) for a in ids]) if ids else empty
        res_pos = np.concatenate([restriction_rows.get(a, empty) for a in ids]) if ids else empty
        chunks.append(Chunk(number, part, lots.iloc[lot_pos].reset_index(drop=True),
                            restrictions.iloc[res_pos].reset_index(drop=True)))
    return chunks


def _split(chunk: Chunk, next_number: int) -> list[Chunk]:
    out = []
    for k, account_id in enumerate(chunk.account_ids):
        out.append(Chunk(next_number + k, chunk.accounts[chunk.accounts["account_id"] == account_id],
                         chunk.lots[chunk.lots["account_id"] == account_id],
                         chunk.restrictions[chunk.restrictions["account_id"] == account_id]))
    return out


def _record_failed(chunk: Chunk, parts_dir: str, run_id: str, kind: str, reason: str) -> pd.DataFrame:
    """Write a part for accounts the workers could not finish, so they are counted, not lost."""
    rows = [{"account_id": str(a["account_id"]), "model_id": str(a["model_id"]), "status": "failed",
             "error_type": kind, "reason": reason, "run_id": run_id} for a in chunk.accounts.to_dict("records")]
    frame = diagnostics_frame(rows)
    from optimizer.batch.worker import LOT_SALE_COLUMNS, OVERLAY_COLUMNS, TRADE_COLUMNS, _frame

    write_part(Path(parts_dir), f"{run_id}-{chunk.number:06d}", {
        "trades": _frame([], TRADE_COLUMNS), "lot_sales": _frame([], LOT_SALE_COLUMNS),
        "overlay": _frame([], OVERLAY_COLUMNS), "diagnostics": frame})
    return frame


def _schedule(client, chunks: list[Chunk], *, token: str, blob: bytes, parts_dir: str, run_id: str,
              timeout_s: float, grace_s: float, fault, threads: int, progress: bool, total: int,
              label: str) -> dict:
    """Keep one chunk per worker thread in flight; collect, retry, time out. Returns run statistics."""
    from distributed import wait
    from tqdm import tqdm

    queue = deque(chunks)
    next_number = len(chunks)
    in_flight: dict = {}
    restarts = 0
    failed = 0
    retried: dict[str, int] = {}
    # Retries of lone accounts run with nothing else in flight: while a worker restarts after a
    # death, Dask may queue two tasks on the surviving worker, and a poison account would then
    # take an innocent one down with it. Alone, a retry that dies can only have killed itself.
    isolated: set[int] = set()
    bar = tqdm(total=total, desc=f"batch {label}", unit="acct", disable=not progress, file=sys.stderr,
               dynamic_ncols=True)

    def finish(chunk: Chunk, diag: pd.DataFrame) -> None:
        nonlocal failed
        failed += int((diag["status"] != "ok").sum())
        bar.update(len(diag))
        bar.set_postfix(failed=failed)

    try:
        while queue or in_flight:
            while queue and len(in_flight) < threads:
                running_isolated = any(c.number in isolated for c, _ in in_flight.values())
                if running_isolated or (queue[0].number in isolated and in_flight):
                    break
                chunk = queue.popleft()
                future = client.submit(solve_chunk, token, blob, chunk, parts_dir, run_id, timeout_s, fault,
                                       key=f"batch-{run_id}-{chunk.number}", pure=False)
                in_flight[future] = (chunk, time.monotonic() + timeout_s * len(chunk.account_ids) + grace_s)
            deadline = min(d for _, d in in_flight.values())
            try:
                wait(list(in_flight), timeout=max(0.05, min(1.0, deadline - time.monotonic())),
                     return_when="FIRST_COMPLETED")
            except TimeoutError:
                pass  # nothing finished yet: check the deadlines below
            now = time.monotonic()
            for future in list(in_flight):
                chunk, chunk_deadline = in_flight[future]
                if future.status == "finished":
                    del in_flight[future]
                    finish(chunk, future.result())
                elif future.status in ("error", "cancelled", "lost"):
                    del in_flight[future]
                    kind, reason = _future_error(future)
                    if len(chunk.account_ids) > 1:
                        queue.extendleft(reversed(_split(chunk, next_number)))
                        next_number += len(chunk.account_ids)
                    elif retried.get(chunk.account_ids[0], 0) < SINGLE_RETRIES:
                        # a lone account may only have shared a dying worker with a poison account
                        retried[chunk.account_ids[0]] = retried.get(chunk.account_ids[0], 0) + 1
                        retry = _split(chunk, next_number)[0]
                        isolated.add(retry.number)
                        queue.appendleft(retry)
                        next_number += 1
                    else:
                        finish(chunk, _record_failed(chunk, parts_dir, run_id, kind, reason))
                elif now > chunk_deadline:
                    del in_flight[future]
                    restarts += _stop(client, future)
                    if len(chunk.account_ids) > 1:
                        queue.extendleft(reversed(_split(chunk, next_number)))
                        next_number += len(chunk.account_ids)
                    else:
                        finish(chunk, _record_failed(
                            chunk, parts_dir, run_id, "Timeout",
                            f"timeout (hard): no result within {timeout_s:g} s + {grace_s:g} s grace; "
                            "its worker process was killed and restarted"))
    finally:
        bar.close()
        for future in in_flight:
            future.cancel()
    return {"threads": threads, "chunks": next_number, "restarts": restarts}


def _future_error(future) -> tuple[str, str]:
    """``(error_type, reason)`` of a failed chunk task: ``WorkerDied`` when Dask gave up after
    worker deaths, ``TaskError`` when the task itself raised (e.g. its part could not be written)."""
    from distributed import KilledWorker

    try:
        exc = future.exception(timeout=5)
    except TimeoutError:
        return "WorkerDied", "the chunk's task was lost"
    if exc is None:
        return "TaskError", f"task {future.status}"
    kind = "WorkerDied" if isinstance(exc, KilledWorker) else "TaskError"
    return kind, f"{type(exc).__name__}: {exc}"[:500]


def _stop(client, future) -> int:
    """Cancel a stuck chunk and kill the worker process running it (its nanny starts a fresh one).

    The kill runs on the worker's event loop (``client.run``), which still answers while its
    task thread is stuck, and exits the process at once; a graceful restart would wait for
    the stuck thread. Returns 1 if a worker was killed.
    """
    where = [w for w, keys in client.processing().items() if future.key in keys]
    future.cancel()
    if not where:
        return 0
    try:
        client.run(_exit_soon, workers=where)
    except (TimeoutError, OSError, RuntimeError, ValueError) as exc:
        print(f"batch: could not stop worker {where}: {exc}", file=sys.stderr)
        return 0
    return 1


def _exit_soon(code: int = 75, delay_s: float = 0.2) -> None:
    """Run on a worker: answer the caller, then end the whole worker process."""
    import threading

    threading.Timer(delay_s, os._exit, args=(code,)).start()


__all__ = ["BatchSummary", "execute", "run_batch"]
