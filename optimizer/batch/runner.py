"""The nightly batch: every account of a book, on Dask, with nothing lost.

:func:`run_batch` loads the book, slices it into chunks of accounts, runs the chunks on a
Dask cluster (a fresh ``LocalCluster`` of ``workers`` single-threaded processes, or an
existing cluster at ``scheduler``), writes each chunk's results as one atomic part, and at
the end consolidates the parts into the date's tables and writes the manifest last.

What is enforced, exactly
-------------------------
* **Per account, after the fact**: an account whose own work (building its case and
  solving, **not** building a program for a new problem shape) took longer than
  ``timeout_s`` is recorded ``failed`` with ``error_type`` ``Timeout`` and its trades are
  dropped. A solve cannot be interrupted inside a worker thread, so this check alone
  does not stop a hung account.
* **Per chunk, hard**: at most one chunk runs per worker thread, so a chunk starts about
  when it is submitted. A chunk not back within ``timeout_s * len(chunk) + grace_s``
  seconds of its start (reported by the worker; until then ``START_ALLOWANCE_S`` from
  submission), plus the time its worker reported building programs, is
  cancelled and the worker process running it is killed (its nanny starts a fresh one;
  this is what stops the stuck solve). Its accounts are then retried one per chunk (a
  household, one chunk: its accounts are one program); a single account that again misses
  ``timeout_s + grace_s`` is recorded ``Timeout`` (hard).
* **Worker death**: Dask retries a task whose worker died (its ``allowed-failures``). If
  the chunk still fails, its accounts are retried one by one (a lone account gets
  ``SINGLE_RETRIES`` more tries, since it may only have shared a dying worker with a poison
  account; a retry runs with nothing else in flight, so it cannot be collateral damage
  again); an account that still kills its worker is recorded ``WorkerDied``.
* **Households** (``accounts.household_id``): a household's accounts are always in one chunk
  and solved as one program; its solve is checked once against ``timeout_s`` times its
  members; if it fails, every member is recorded failed with the same reason; ``resume``
  skips a household only when every member is done, and each member's ``input_sha`` covers
  every member's rows, so ``rerun_changed`` re-solves the whole household when one changes.
* Everything an account can raise (``InputError``, ``InfeasibleError``, ``SolverError``,
  or an unexpected bug) is caught for that account and recorded with its reason.

What stops the whole run (:class:`~optimizer.batch.errors.BatchRunError`, exit code 3)
------------------------------------------------------------------------------------
The cluster cannot be started or reached after ``START_TRIES`` tries; a part, table or
manifest cannot be written (read-only or full filesystem: no temporary folder is left);
a worker cannot see the output folder (an existing cluster without a shared
filesystem); the scheduler stays unreachable for ``SCHEDULER_PATIENCE_S``. Whatever
finished is consolidated and described by a manifest with ``"aborted"`` where the
output is still writable, and ``resume`` finishes the work.

Resume never mixes inputs: ``OUT/date=.../inputs.json`` records the checksums of the
book's files and of the date's market/model/risk context; ``resume`` refuses a changed
book (:class:`~optimizer.batch.errors.BookChangedError`, exit code 2) unless
``rerun_changed``, which keeps only results whose per-account ``input_sha`` still matches.
Workers that join mid-run get work: the worker threads are counted on every round.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import sys
import time
import uuid
from collections import deque
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from optimizer.batch import output
from optimizer.book_schema import household_key
from optimizer.batch.accounts import ACCOUNT_TABLES, make_context
from optimizer.batch.errors import BatchRunError, OutputError
from optimizer.batch.store import load_book
from optimizer.batch.households import units
from optimizer.batch.worker import (BATCH_CONFLICT_SEARCH, Chunk, RowHashes, WorkOptions, diagnostics_frame,
                                    solve_chunk, unit_shas, write_part)
from optimizer.trade_file import OrderRules
from optimizer.wash_sale import ConflictSearch

#: Most accounts in one chunk. A chunk of 250 accounts of 50 assets takes ~2 s on the fast path; each
#: chunk costs a task round trip and a part of five fsynced Parquet files, so fewer, larger chunks
#: (10,000 accounts: 40 chunks, 20 per worker) keep that under ~2% without a long tail at the end.
MAX_CHUNK = 250
#: Chunks kept in flight per worker thread: one running and one waiting on its worker, so a
#: worker starts its next chunk as soon as it finishes one instead of idling through the
#: round trip to this process and the chunk's shipping (30-180 ms per chunk measured on a
#: loaded machine, ~1-2 s per worker over a 10,000-account run). Dask cannot cancel a started
#: task, so a run stopped by a failed write first lets its chunks in flight end
#: (:data:`STOP_WAIT_S`): none writes a part after the run has returned.
IN_FLIGHT_PER_THREAD = 2
#: Longest wait, when a failed write stops the run, for the chunks still in flight to end.
STOP_WAIT_S = 60.0
#: The smallest chunk the default sizing makes at the end of a run (:func:`_chunk_limits`).
MIN_TAIL_CHUNK = 20
#: Extra tries of a lone account whose task failed (beyond Dask's own retries).
SINGLE_RETRIES = 1
#: A local cluster serves nothing beyond this machine: no dashboard, and the HTTP endpoints Dask
#: still runs (health, metrics) bound to 127.0.0.1 on a free port, for the scheduler and workers.
LOCAL_ONLY = {"dashboard_address": None, "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"},
              "worker_dashboard_address": "127.0.0.1:0"}
#: Tries to start the local cluster or reach the scheduler before the run is given up (exit 3).
START_TRIES = 3
#: Seconds to wait for the scheduler to answer, or for a first worker, before giving up.
CONNECT_TIMEOUT_S = 60.0
#: Seconds with no worker at all (restarts after a kill take ~10 s on a loaded machine) before giving up.
NO_WORKER_PATIENCE_S = 300.0
#: Seconds without a scheduler connection before the run stops (with a manifest of what finished).
SCHEDULER_PATIENCE_S = 10.0
#: Hard-deadline room given to a chunk while its worker builds a program (the build time is then added).
BUILD_ALLOWANCE_S = 120.0
#: Hard-deadline room of a chunk submitted but not reported started (a worker restarting, importing).
START_ALLOWANCE_S = 120.0


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
              workers: int = 2, timeout_s: float = 60.0, progress: bool = True, rerun_changed: bool = False,
              whole_shares: bool = True, orders: OrderRules | None = None,
              conflict_search: ConflictSearch | None = None) -> BatchSummary:
    """Rebalance every account of ``book`` on ``date`` and write the results under ``out``.

    Parameters
    ----------
    book:
        A folder of Parquet tables or a ``.duckdb`` file (schema: :mod:`optimizer.batch.store`).
    date:
        Run date (``YYYY-MM-DD``); the book's market and risk rows of that date are used.
    out:
        Output root; results go to ``out/date=YYYY-MM-DD/`` (see :mod:`optimizer.batch.output`).
        Resolved to an absolute path before any worker sees it.
    scheduler:
        Address of an existing Dask scheduler; ``None`` starts a local cluster (bound to
        127.0.0.1, no dashboard). Workers of an existing cluster must see ``out`` on a
        **shared filesystem** at the same absolute path: each worker is checked before it
        gets work (a worker that cannot see it stops the run with :class:`OutputError`).
    resume:
        Skip accounts whose latest result for this date is ``ok``; retry the rest. Refused
        (:class:`BookChangedError`) when the book or the date's market/model/risk data
        changed since those results were made, unless ``rerun_changed``.
        Without it, earlier results of the date are replaced.
    workers:
        Worker processes of the local cluster (one thread each).
    timeout_s:
        Time limit per account, seconds, not counting a program build (see the module docstring).
    progress:
        Show a progress bar on stderr.
    rerun_changed:
        With ``resume`` after a change: keep only results whose account rows and run
        context are unchanged (per-account ``input_sha``), solve every other account again,
        and drop accounts no longer in the book from the tables.
    whole_shares:
        Solve in whole shares and contracts (default) or fractional shares.
    orders:
        Dust and rounding rules of the executable orders (:class:`~optimizer.trade_file.OrderRules`).
    conflict_search:
        How far the wash-sale settling searches (:class:`~optimizer.wash_sale.ConflictSearch`);
        default :data:`~optimizer.batch.worker.BATCH_CONFLICT_SEARCH` (the library's search
        without the two-pass certificate solve); ``optimizer.wash_sale.LIBRARY_SEARCH`` gives
        the library's answers exactly.

    Raises
    ------
    InputError
        Only for problems of the whole book (missing table/column, no market on ``date``,
        a changed book on ``resume``); problems of one account are recorded, not raised.
    BatchRunError
        The run could not go on (cluster start, output not writable, scheduler lost); what
        finished is kept for ``resume`` and, where writable, described by a manifest with
        ``"aborted"``.
    """
    return execute(book, date, out, scheduler=scheduler, resume=resume, workers=workers, timeout_s=timeout_s,
                   progress=progress, rerun_changed=rerun_changed, whole_shares=whole_shares, orders=orders,
                   conflict_search=conflict_search)


def execute(book: Path, date: str, out: Path, *, scheduler: str | None = None, resume: bool = False,
            workers: int = 2, timeout_s: float = 60.0, progress: bool = True, chunk_size: int | None = None,
            grace_s: float = 30.0, fault: Callable[[str], None] | None = None,
            client=None, rerun_changed: bool = False, whole_shares: bool = True,
            orders: OrderRules | None = None, start_tries: int = START_TRIES,
            conflict_search: ConflictSearch | None = None,
            processes: bool = True) -> BatchSummary:
    """:func:`run_batch` with the knobs tests and benchmarks need.

    ``chunk_size`` fixes accounts per chunk (default: about four chunks per worker thread,
    at most :data:`MAX_CHUNK`); ``grace_s`` is the slack of the hard chunk deadline;
    ``fault`` is a hook from :mod:`optimizer.batch.faults`; ``client`` reuses a connected
    ``distributed.Client`` (its cluster is then left running); ``start_tries`` bounds the
    attempts to start or reach the cluster; ``processes=False`` runs the local cluster's
    workers as threads of this process (no hard kill of a hung account: for drills and tests).
    """
    started = time.perf_counter()
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    out = Path(out).expanduser().resolve()
    own_client = client is None
    cluster = None
    phases = {}
    preloads: list = []   # held until the run ends: a released future may be cancelled on its worker
    if own_client:  # first, so the workers import the engine (~3 s) while the book loads
        mark = time.perf_counter()
        client, cluster = _connect(scheduler, workers, tries=start_tries, processes=processes)
        phases["cluster_start"] = time.perf_counter() - mark
        preloads = _preload(client)
    try:
        mark = time.perf_counter()
        loaded = load_book(Path(book))
        context = make_context(loaded, date)
        token, blob = context.blob()
        day = output.day_dir(out, date)
        try:
            day.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the output folder {str(day)!r}: {type(exc).__name__}: {exc}") from None
        run_id = f"{time.time_ns():020d}"
        options = WorkOptions(whole_shares=whole_shares,
                              orders=orders if orders is not None else OrderRules(whole_shares=whole_shares),
                              topic=f"batch-{run_id}",
                              conflict_search=conflict_search or BATCH_CONFLICT_SEARCH)
        run_key = f"{token}:{options.fingerprint()}"
        inputs = {"files": dict(loaded.checksums), "context": token, "options": options.fingerprint()}
        accounts = loaded["accounts"].sort_values("account_id", kind="stable").reset_index(drop=True)
        state = output.check_inputs(day, inputs, rerun_changed=rerun_changed) if resume else "fresh"
        phases["load"] = time.perf_counter() - mark
    except BaseException:
        if own_client:
            _close(client, cluster)
        raise
    try:
        output.clean_staging(day, keep_parts=resume)
        if state == "changed":
            skip = output.done_accounts(day, _fingerprints(run_key, accounts, loaded))
        else:
            skip = output.done_accounts(day) if resume else set()
        skip = _whole_households(skip & set(accounts["account_id"]), accounts)
        output.write_inputs(day, inputs)
    except OSError as exc:
        if own_client:
            _close(client, cluster)
        raise OutputError(f"cannot write under {str(day)!r}: {type(exc).__name__}: {exc}") from None

    todo = accounts[~accounts["account_id"].isin(skip)].reset_index(drop=True)
    stats = {"threads": 0, "chunks": 0, "restarts": 0, "workers_seen": 0}
    size = chunk_size or 1
    aborted: BatchRunError | None = None
    reads = output.PartReads()   # each finished chunk's part, read while the workers solve the next ones
    try:
        threads = max(1, sum(client.nthreads().values()))
        size = chunk_size or max(1, min(MAX_CHUNK, math.ceil(len(todo) / (threads * 4)) if len(todo) else 1))
        chunks = _chunks(todo, loaded, size, taper=None if chunk_size else threads)
        mark = time.perf_counter()
        stats = _schedule(client, chunks, token=token, blob=blob, day=day, run_id=run_id,
                          timeout_s=timeout_s, grace_s=grace_s, fault=fault, progress=progress,
                          total=len(todo), label=str(context.date.date()), options=options,
                          kill_hung=processes or scheduler is not None or not own_client, reads=reads)
        phases["schedule"] = time.perf_counter() - mark
    except BatchRunError as exc:
        aborted = exc
    except (OSError, TimeoutError) as exc:  # the scheduler went away under a client call
        aborted = BatchRunError(f"lost the Dask scheduler: {type(exc).__name__}: {exc}")
    except CancelledError as exc:  # a future read just as Dask cancelled it for the lost scheduler
        if "scheduler" not in str(exc) and "connection" not in str(exc):
            raise
        aborted = BatchRunError(f"lost the Dask scheduler ({str(exc).splitlines()[-1][:200]}); finished "
                                "accounts are kept for --resume")
    finally:
        preloads.clear()
        if own_client:
            _close(client, cluster)

    mark = time.perf_counter()
    try:
        tables = output.consolidate(day, set(accounts["account_id"]), reads)
    except OutputError as exc:
        output.clean_staging(day, keep_parts=True)
        if aborted is not None:
            raise aborted from exc
        raise
    phases["consolidate"] = time.perf_counter() - mark
    diag = tables["diagnostics"]
    if not len(diag):  # nothing finished (e.g. the scheduler was lost first): the columns, no rows
        diag = diagnostics_frame([])
    ok = diag["status"] == "ok"
    failed = diag[~ok]
    this_run = diag["run_id"] == run_id
    done = int((ok & this_run).sum())
    seconds = time.perf_counter() - started
    missing = sorted(set(accounts["account_id"]) - set(diag["account_id"]))
    known = set(accounts["account_id"])
    orphans = {name: int((~loaded[name]["account_id"].isin(known)).sum())
               for name in ACCOUNT_TABLES if name in loaded.tables}
    failures = tuple((str(r.account_id), str(r.error_type), str(r.reason)) for r in failed.itertuples())
    manifest = {
        "date": str(context.date.date()),
        "book": str(Path(book).resolve()),
        "store": loaded.kind,
        "inputs": loaded.checksums,
        "context": token,
        "options_fingerprint": options.fingerprint(),
        "versions": output.package_versions(),
        "run_id": run_id,
        "runs": sorted(set(diag["run_id"])),
        "resume": resume,
        "resume_inputs": state,
        "aborted": None if aborted is None else str(aborted),
        "scheduler": scheduler or f"LocalCluster({workers} {'processes' if processes else 'threads'} x 1 thread)",
        "out": str(out),
        "worker_threads": stats["threads"],
        "workers_seen": stats["workers_seen"],
        "chunk_size": size,
        "chunks": stats["chunks"],
        "lot_slots": context.lot_slots,
        "timeout_s": timeout_s,
        "grace_s": grace_s,
        "whole_shares": whole_shares,
        "orders": dataclasses.asdict(options.orders),
        "timeout_policy": "per account: recorded as Timeout when its own work (not counting a program build) "
                          "exceeded timeout_s (checked after it finishes); per chunk: hard deadline "
                          "timeout_s*len(chunk)+grace_s from submission, extended by the time its worker spends "
                          "building programs, then worker restart and one-account retries with deadline "
                          "timeout_s+grace_s",
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
    }
    try:
        output.write_manifest(day, manifest)
    except OutputError as exc:
        output.clean_staging(day, keep_parts=True)
        if aborted is not None:
            raise aborted from exc
        raise
    if aborted is not None:
        raise aborted
    return BatchSummary(date=str(context.date.date()), out_dir=day, total=int(len(accounts)), done=done,
                        failed=int(len(failed)), skipped=len(skip), seconds=seconds,
                        solve_seconds=float(diag.loc[this_run, "seconds"].sum()), workers=stats["threads"],
                        failures=failures)


def _fingerprints(token: str, accounts: pd.DataFrame, book) -> dict[str, str]:
    """Per account, the input sha a worker would compute for it now (see :func:`worker.unit_shas`)."""
    hashes = RowHashes({name: book[name] for name in ACCOUNT_TABLES if name in book.tables})
    return unit_shas(token, accounts.to_dict("records"), hashes)


def _connect(scheduler: str | None, workers: int, *, tries: int = START_TRIES, processes: bool = True):
    """A client (and the local cluster it owns, or None); start-up failures are retried ``tries`` times.

    A local cluster listens on 127.0.0.1 only and has no scheduler dashboard (:data:`LOCAL_ONLY`).

    Raises
    ------
    BatchRunError
        The cluster could not be started or reached.
    """
    from distributed import Client, LocalCluster

    errors = []
    for attempt in range(1, max(1, tries) + 1):
        cluster = None
        try:
            if scheduler:
                client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
                return client, None
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                                   silence_logs=logging.ERROR, **LOCAL_ONLY, **({"host": "127.0.0.1"} if processes
                                                                               else {}))  # inproc:// has no host
            client = Client(cluster)
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
            return client, cluster
        except Exception as exc:  # noqa: BLE001 - any start-up failure is retried, then reported
            errors.append(f"try {attempt}: {type(exc).__name__}: {str(exc)[:200]}")
            if cluster is not None:
                try:
                    cluster.close()
                except Exception:  # noqa: BLE001 - a half-started cluster may fail to close too
                    pass
            if attempt < tries:
                time.sleep(min(5.0, 0.5 * 2 ** attempt))
    where = f"the Dask scheduler at {scheduler}" if scheduler else f"a local Dask cluster of {workers} worker(s)"
    raise BatchRunError(f"could not start or reach {where} after {tries} tries: " + "; ".join(errors))


def _preload(client) -> list:
    """Start importing the engine on every worker now (cvxpy, the solvers, pandas: ~3 s per fresh
    worker process), so it overlaps the runner's loading of the book. Returns the futures
    (fire and forget: a failure here shows again, properly reported, on the first chunk)."""
    try:
        return [client.submit(_import_engine, key=f"preload-{uuid.uuid4().hex}", workers=[address], pure=False,
                              allow_other_workers=True)
                for address in client.nthreads()]
    except Exception:  # noqa: BLE001 - an optimisation only
        return []


def _import_engine() -> bool:
    import optimizer.batch.worker  # noqa: F401 - the import is the point

    return True


def _close(client, cluster) -> None:
    """Close what this run opened; a scheduler that is already gone must not turn a clean stop into a crash."""
    for thing in (client, cluster):
        if thing is None:
            continue
        try:
            thing.close()
        except Exception:  # noqa: BLE001 - closing after a lost scheduler may fail in many ways
            pass


def _chunk_limits(total: int, size: int, taper: int | None) -> "Callable[[int], int]":
    """The size limit of the next chunk given the accounts still to slice: ``size``, or with
    ``taper`` (worker threads) shrinking towards the end, to a quarter of what is left per
    thread and at least :data:`MIN_TAIL_CHUNK`, so the threads finish close together
    (the last chunks are small) without many more chunks."""
    if not taper:
        return lambda remaining: size
    return lambda remaining: max(min(size, MIN_TAIL_CHUNK), min(size, math.ceil(remaining / (2 * taper))))


def _chunks(todo: pd.DataFrame, book, size: int, taper: int | None = None) -> list[Chunk]:
    """Slices of about ``size`` accounts with their rows of every per-account table of ``book``
    (smaller towards the end with ``taper`` worker threads, :func:`_chunk_limits`).

    A household's accounts always land in one chunk (:func:`~optimizer.batch.households.units`);
    a household larger than ``size`` makes a chunk of its own.
    """
    tables = {name: book[name] for name in ACCOUNT_TABLES if name in book.tables}
    positions = {name: frame.groupby("account_id", sort=False).indices for name, frame in tables.items()}
    empty = np.zeros(0, dtype=int)
    batches: list[list[int]] = []
    current: list[int] = []
    limit = _chunk_limits(len(todo), size, taper)
    remaining = len(todo)
    allowed = limit(remaining)
    for unit in units(todo):
        if current and len(current) + len(unit) > allowed:
            batches.append(current)
            remaining -= len(current)
            allowed = limit(remaining)
            current = []
        current += unit
    if current:
        batches.append(current)
    chunks = []
    for number, picked in enumerate(batches):
        part = todo.iloc[picked].reset_index(drop=True)
        ids = list(part["account_id"])
        rows = {}
        for name, frame in tables.items():
            pos = np.concatenate([positions[name].get(a, empty) for a in ids]) if ids else empty
            rows[name] = frame.iloc[pos].reset_index(drop=True)
        chunks.append(Chunk(number, part, rows))
    return chunks


def _split(chunk: Chunk, next_number: int) -> list[Chunk]:
    """The chunk's solving units (a household, or a lone account), one chunk each."""
    out = []
    for k, unit in enumerate(units(chunk.accounts)):
        ids = set(chunk.accounts["account_id"].iloc[unit])
        out.append(Chunk(next_number + k, chunk.accounts.iloc[unit],
                         {name: frame[frame["account_id"].isin(ids)] for name, frame in chunk.tables.items()}))
    return out


def _units_in(chunk: Chunk) -> int:
    """How many solving units (households or lone accounts) a chunk holds."""
    return len(units(chunk.accounts))


def _whole_households(skip: set[str], accounts: pd.DataFrame) -> set[str]:
    """``skip`` without the members of any household that is not skipped whole (a household is
    solved as one unit, so it is resumed as one)."""
    ids = list(accounts["account_id"].astype(str))
    out = set(skip)
    for unit in units(accounts):
        members = {ids[i] for i in unit}
        if not members <= out:
            out -= members
    return out


def _record_failed(chunk: Chunk, parts_dir: str, run_id: str, kind: str, reason: str) -> pd.DataFrame:
    """Write a part for accounts the workers could not finish, so they are counted, not lost."""
    from optimizer.batch.worker import LOT_SALE_COLUMNS, OVERLAY_COLUMNS, TRADE_COLUMNS, _frame
    from optimizer.trade_file import ORDER_COLUMNS

    rows = [{"account_id": str(a["account_id"]), "model_id": str(a["model_id"]),
             "household_id": household_key(a.get("household_id")) or "", "status": "failed",
             "error_type": kind, "reason": reason, "run_id": run_id} for a in chunk.accounts.to_dict("records")]
    frame = diagnostics_frame(rows)
    write_part(Path(parts_dir), f"{run_id}-{chunk.number:06d}", {
        "trades": _frame([], TRADE_COLUMNS), "lot_sales": _frame([], LOT_SALE_COLUMNS),
        "overlay": _frame([], OVERLAY_COLUMNS), "orders": _frame([], ORDER_COLUMNS), "diagnostics": frame})
    return frame


def _schedule(client, chunks: list[Chunk], *, token: str, blob: bytes, day: Path, run_id: str,
              timeout_s: float, grace_s: float, fault, progress: bool, total: int, label: str,
              options: WorkOptions, kill_hung: bool = True, reads: "output.PartReads | None" = None) -> dict:
    """Keep :data:`IN_FLIGHT_PER_THREAD` chunks per worker thread in flight; collect, retry, time
    out. Returns run statistics.

    The worker threads are counted again on every round, so workers that join mid-run get
    work; each new worker is first checked to see the output folder (:func:`_check_workers`).

    Raises
    ------
    OutputError
        A part could not be written, or a worker cannot see the output folder.
    BatchRunError
        The scheduler is gone (no answer for :data:`SCHEDULER_PATIENCE_S`) or no worker
        was there for :data:`NO_WORKER_PATIENCE_S`.
    """
    from distributed import wait
    from distributed.client import FuturesCancelledError
    from tqdm import tqdm

    parts_dir = str(day / output.PARTS)
    queue = deque(chunks)
    next_number = len(chunks)
    in_flight: dict = {}   # future -> (chunk, deadline from submission)
    restarts = 0
    failed = 0
    retried: dict[str, int] = {}
    # Retries of lone accounts run with nothing else in flight: while a worker restarts after a
    # death, Dask may queue two tasks on the surviving worker, and a poison account would then
    # take an innocent one down with it. Alone, a retry that dies can only have killed itself.
    isolated: set[int] = set()
    # Program builds reported by the workers (through the scheduler's event log): a chunk's
    # hard deadline is extended by the time its worker spends building.
    events: deque = deque()
    began: dict[int, float] = {}
    building: dict[int, float] = {}
    extension: dict[int, float] = {}
    topic = options.topic
    if topic:
        client.subscribe_topic(topic, lambda event: events.append((time.monotonic(), event[1])))
    probe = _write_probe(day)
    checked: set[str] = set()
    seen: set[str] = set()
    threads = 0
    no_workers_since = None
    lost_since = None
    bar = tqdm(total=total, desc=f"batch {label}", unit="acct", disable=not progress, file=sys.stderr,
               dynamic_ncols=True)

    def finish(chunk: Chunk, diag: pd.DataFrame) -> None:
        nonlocal failed
        failed += int((diag["status"] != "ok").sum())
        bar.update(len(diag))
        bar.set_postfix(failed=failed)
        if reads is not None:
            reads.load(Path(parts_dir) / f"{run_id}-{chunk.number:06d}")

    def deadline(chunk: Chunk, submitted: float) -> float:
        """Hard deadline: ``timeout_s`` per account + grace from the chunk's reported start (from its
        submission plus START_ALLOWANCE_S while no start was reported), plus build time."""
        limit = timeout_s * len(chunk.account_ids) + grace_s
        number = chunk.number
        base = began[number] + limit if number in began else submitted + max(limit, START_ALLOWANCE_S)
        if number in building:
            base = max(base, building[number] + BUILD_ALLOWANCE_S)
        return base + extension.get(number, 0.0)

    try:
        while queue or in_flight:
            if client.status != "running":  # the scheduler connection dropped: wait a little, then give up
                lost_since = lost_since or time.monotonic()
                if time.monotonic() - lost_since > SCHEDULER_PATIENCE_S:
                    raise BatchRunError(f"lost the Dask scheduler (client {client.status} for more than "
                                        f"{SCHEDULER_PATIENCE_S:g} s); finished accounts are kept for --resume")
                time.sleep(0.2)
                continue
            lost_since = None
            nthreads = client.nthreads()
            new = [w for w in nthreads if w not in checked]
            if new:
                _check_workers(client, new, probe)
                checked.update(new)
            seen.update(nthreads)
            threads = sum(nthreads.values())
            if threads == 0:
                no_workers_since = no_workers_since or time.monotonic()
                if time.monotonic() - no_workers_since > NO_WORKER_PATIENCE_S and not in_flight:
                    raise BatchRunError(f"no Dask worker for {NO_WORKER_PATIENCE_S:g} s; "
                                        "finished accounts are kept for --resume")
            else:
                no_workers_since = None
            while queue and len(in_flight) < max(threads, 0) * IN_FLIGHT_PER_THREAD:
                running_isolated = any(c.number in isolated for c, _ in in_flight.values())
                if running_isolated or (queue[0].number in isolated and in_flight):
                    break
                chunk = queue.popleft()
                future = client.submit(solve_chunk, token, blob, chunk, parts_dir, run_id, timeout_s, fault, options,
                                       key=f"batch-{run_id}-{chunk.number}", pure=False)
                in_flight[future] = (chunk, time.monotonic())
            if not in_flight:
                time.sleep(0.2)
                continue
            soonest = min(deadline(c, d) for c, d in in_flight.values())
            try:
                wait(list(in_flight), timeout=max(0.05, min(1.0, soonest - time.monotonic())),
                     return_when="FIRST_COMPLETED")
            except TimeoutError:
                pass  # nothing finished yet: check the deadlines below
            except FuturesCancelledError as exc:  # Dask cancels every future when the scheduler is gone
                if client.status != "running" or "connection" in str(exc):
                    raise BatchRunError(f"lost the Dask scheduler ({str(exc).splitlines()[-1][:200]}); finished "
                                        "accounts are kept for --resume") from None
            while events:
                at, message = events.popleft()
                number = int(message.get("chunk", -1)) if isinstance(message, dict) else -1
                if message.get("kind") == "start":
                    began[number] = at
                elif message.get("kind") == "build":
                    building[number] = at
                elif message.get("kind") == "built" and number in building:
                    extension[number] = extension.get(number, 0.0) + (at - building.pop(number))
            now = time.monotonic()
            for future in list(in_flight):
                chunk, base = in_flight[future]
                if future.status == "finished":
                    del in_flight[future]
                    finish(chunk, future.result())
                elif future.status in ("error", "cancelled", "lost"):
                    if client.status != "running":
                        break  # not the chunk's fault: the scheduler is gone (handled above)
                    del in_flight[future]
                    kind, reason, exc = _future_error(future)
                    if isinstance(exc, BatchRunError):
                        raise exc
                    if _units_in(chunk) > 1:
                        queue.extendleft(reversed(_split(chunk, next_number)))
                        next_number += _units_in(chunk)
                    elif retried.get(chunk.account_ids[0], 0) < SINGLE_RETRIES:
                        # a lone account may only have shared a dying worker with a poison account
                        retried[chunk.account_ids[0]] = retried.get(chunk.account_ids[0], 0) + 1
                        retry = _split(chunk, next_number)[0]
                        isolated.add(retry.number)
                        queue.appendleft(retry)
                        next_number += 1
                    else:
                        finish(chunk, _record_failed(chunk, parts_dir, run_id, kind, reason))
                elif now > deadline(chunk, base) and kill_hung:
                    del in_flight[future]
                    restarts += _stop(client, future)
                    if _units_in(chunk) > 1:
                        queue.extendleft(reversed(_split(chunk, next_number)))
                        next_number += _units_in(chunk)
                    else:
                        finish(chunk, _record_failed(
                            chunk, parts_dir, run_id, "Timeout",
                            f"timeout (hard): no result within {timeout_s:g} s + {grace_s:g} s grace; "
                            "its worker process was killed and restarted"))
    finally:
        bar.close()
        if isinstance(sys.exc_info()[1], OutputError) and in_flight:
            _let_end(client, list(in_flight))
        for future in in_flight:
            try:
                future.cancel()
            except Exception:  # noqa: BLE001 - cancelling after a lost scheduler may fail
                pass
        if topic:
            try:
                client.unsubscribe_topic(topic)
            except Exception:  # noqa: BLE001
                pass
        probe.unlink(missing_ok=True)
    return {"threads": threads, "chunks": next_number, "restarts": restarts, "workers_seen": len(seen)}


def _let_end(client, futures: list) -> None:
    """Wait (at most :data:`STOP_WAIT_S`) for chunks in flight to end, their results unread: a
    chunk already started on its worker cannot be cancelled and would otherwise write its part
    (or its temporary folder) after the stopped run has written its manifest."""
    from distributed import wait

    if client.status != "running":
        return
    try:
        wait(futures, timeout=STOP_WAIT_S)
    except Exception:  # noqa: BLE001 - a timeout or a lost scheduler: cancel them as before
        pass


def _write_probe(day: Path) -> Path:
    """A file with random content in the output folder that every worker must be able to read."""
    from optimizer.files import write_text

    path = day / output.PARTS / f".probe-{uuid.uuid4().hex}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, path.name)
    except OSError as exc:
        raise OutputError(f"cannot write under {str(day)!r}: {type(exc).__name__}: {exc}") from None
    return path


def see_output(probe: str) -> str:
    """Run on a worker: ``""`` if it reads the driver's probe file and can write beside it, else why not."""
    path = Path(probe)
    try:
        if path.read_text() != path.name:
            return f"{probe} has other content here"
        test = path.with_name(f".tmp-{uuid.uuid4().hex}")
        test.write_text("x")
        test.unlink()
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return ""


def _check_workers(client, addresses: list[str], probe: Path) -> None:
    """Fail fast when a worker cannot see the output folder (not a shared filesystem, wrong mount)."""
    try:
        answers = client.run(see_output, str(probe), workers=addresses, on_error="return")
    except (OSError, TimeoutError):
        return  # a worker that went away in between: the scheduler reschedules its work
    bad = {w: a for w, a in answers.items() if a}
    if bad:
        worker, why = sorted(bad.items())[0]
        problem = why if isinstance(why, str) else f"{type(why).__name__}: {why}"
        raise OutputError(f"worker {worker} cannot see the output folder {str(probe.parent.parent)!r} ({problem}). "
                          "Workers of an existing cluster must share the filesystem of --out at the same absolute "
                          "path; finished accounts are kept for --resume")


def _future_error(future) -> tuple[str, str, BaseException | None]:
    """``(error_type, reason, exception)`` of a failed chunk task: ``WorkerDied`` when Dask gave
    up after worker deaths, ``TaskError`` when the task itself raised."""
    from distributed import KilledWorker

    try:
        exc = future.exception(timeout=5)
    except (TimeoutError, Exception):  # noqa: BLE001 - a cancelled or lost future has no exception to fetch
        return "WorkerDied", "the chunk's task was lost", None
    if exc is None:
        return "TaskError", f"task {future.status}", None
    kind = "WorkerDied" if isinstance(exc, KilledWorker) else "TaskError"
    return kind, f"{type(exc).__name__}: {exc}"[:500], exc


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
