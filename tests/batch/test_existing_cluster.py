"""On an existing Dask cluster (``scheduler=``): absolute OUT, workers joining mid-run, a lost scheduler.

The "existing" cluster is a ``LocalCluster`` started by the test and reached by its
address, as ``rebalance batch --scheduler`` would. Workers are slowed down (``Slow``) so
the test can act while the run is in progress.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from batch_books import DATE, small_book
from optimizer.batch import execute, runner
from optimizer.batch.errors import BatchRunError
from optimizer.batch.faults import Slow
from optimizer.batch.output import day_dir, leftovers, part_dirs
from problems.books import write_parquet_book


def _cluster(workers: int):
    from distributed import LocalCluster

    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                        silence_logs=logging.ERROR, **runner.LOCAL_ONLY)


def _when_parts(day: Path, count: int, action, timeout_s: float = 300.0) -> threading.Thread:
    """Run ``action()`` in a thread as soon as ``count`` parts exist under ``day``."""
    def watch():
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if len(part_dirs(day)) >= count:
                action()
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_relative_out_is_made_absolute_and_a_worker_added_mid_run_gets_work(tmp_path, monkeypatch):
    book = write_parquet_book(small_book(16), tmp_path / "book")
    monkeypatch.chdir(tmp_path)
    cluster = _cluster(1)
    try:
        watcher = _when_parts(tmp_path / "out" / f"date={DATE}", 1, lambda: cluster.scale(2))
        summary = execute(book, DATE, Path("out"), scheduler=cluster.scheduler_address, progress=False,
                          chunk_size=1, fault=Slow(0.6))
        watcher.join(timeout=1)
    finally:
        cluster.close()
    assert (summary.done, summary.failed) == (16, 0)
    day = day_dir(tmp_path / "out", DATE)
    manifest = json.loads((day / "manifest.json").read_text())
    assert manifest["out"] == str((tmp_path / "out").resolve())
    assert manifest["workers_seen"] == 2
    diag = pd.read_parquet(day / "diagnostics.parquet")
    assert diag["worker_pid"].nunique() == 2  # the worker that joined mid-run solved accounts too


def test_losing_the_scheduler_ends_the_run_with_a_manifest_of_what_finished(tmp_path, monkeypatch, batch_client):
    book = write_parquet_book(small_book(), tmp_path / "book")
    out = tmp_path / "out"
    monkeypatch.setattr(runner, "SCHEDULER_PATIENCE_S", 2.0)
    cluster = _cluster(1)
    try:
        watcher = _when_parts(day_dir(out, DATE), 2, cluster.close)
        with pytest.raises(BatchRunError, match="scheduler"):
            execute(book, DATE, out, scheduler=cluster.scheduler_address, progress=False, chunk_size=1,
                    fault=Slow(0.6))
        watcher.join(timeout=60)
    finally:
        cluster.close()
    day = day_dir(out, DATE)
    manifest = json.loads((day / "manifest.json").read_text())
    assert manifest["aborted"] and "scheduler" in manifest["aborted"]
    finished = manifest["counts"]["ok"]
    assert 2 <= finished < 12 and finished == len(pd.read_parquet(day / "diagnostics.parquet"))
    assert leftovers(out) == []
    summary = execute(book, DATE, out, client=batch_client, progress=False, resume=True)
    assert (summary.skipped, summary.done, summary.failed) == (finished, 12 - finished, 0)
