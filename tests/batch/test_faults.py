"""The batch survives a worker process dying mid-run and accounts that take too long."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from batch_books import DATE, small_book
from optimizer.batch import execute
from optimizer.batch.faults import CrashAlways, CrashOnce, Stall
from optimizer.batch.output import day_dir
from problems.books import write_parquet_book


def _diag(out):
    return pd.read_parquet(day_dir(out, DATE) / "diagnostics.parquet").set_index("account_id").sort_index()


def test_a_worker_killed_mid_run_loses_nothing(tmp_path, batch_client):
    book = write_parquet_book(small_book(), tmp_path / "book")
    marker = tmp_path / "crashed"
    out = tmp_path / "out"
    summary = execute(book, DATE, out, client=batch_client, progress=False, chunk_size=4,
                      fault=CrashOnce("ACC000005", str(marker)))
    assert marker.exists()  # the worker really died once (os._exit inside the task)
    if summary.failed:  # Dask gave up on the chunk: a resume must finish the job
        summary = execute(book, DATE, out, client=batch_client, progress=False, resume=True)
    diag = _diag(out)
    assert len(diag) == 12 and (diag["status"] == "ok").all()
    reference = tmp_path / "reference"
    execute(book, DATE, reference, client=batch_client, progress=False, chunk_size=6)
    np.testing.assert_allclose(diag["objective_bps"], _diag(reference)["objective_bps"], atol=1e-6)
    trades = pd.read_parquet(day_dir(out, DATE) / "trades.parquet")
    assert not trades.duplicated(["account_id", "asset"]).any()
    batch_client.wait_for_workers(2, timeout=120)  # a restart takes seconds; the fast path may finish first
    assert len(batch_client.nthreads()) == 2  # the nanny brought the worker back


def test_an_account_over_its_time_limit_is_recorded_as_timeout(tmp_path, batch_client):
    book = write_parquet_book(small_book(), tmp_path / "book")
    out = tmp_path / "out"
    # 3 s: an 8-asset account takes ~0.06 s alone, so the limit holds even on a machine loaded 20x
    summary = execute(book, DATE, out, client=batch_client, progress=False, chunk_size=6, timeout_s=3.0,
                      grace_s=60.0, fault=Stall("ACC000007", 3.5))
    diag = _diag(out)
    assert diag.loc["ACC000007", "error_type"] == "Timeout"
    assert "over the 3 s limit" in diag.loc["ACC000007", "reason"]
    assert (diag.drop(index="ACC000007")["status"] == "ok").all()
    assert (summary.done, summary.failed) == (11, 1)
    trades = pd.read_parquet(day_dir(out, DATE) / "trades.parquet")
    assert "ACC000007" not in set(trades["account_id"])


def test_a_hung_account_is_cut_off_and_its_chunk_mates_still_solved(tmp_path, batch_client):
    book = write_parquet_book(small_book(), tmp_path / "book")
    out = tmp_path / "out"
    # The limit counts neither the program build nor a worker's restart (the chunk's clock starts when
    # the worker reports it started); 2 s is ~30x an 8-asset account's own time, so load does not trip it.
    summary = execute(book, DATE, out, client=batch_client, progress=False, chunk_size=3, timeout_s=2.0,
                      grace_s=2.0, fault=Stall("ACC000004", 600.0))
    diag = _diag(out)
    assert diag.loc["ACC000004", "error_type"] == "Timeout"
    assert "hard" in diag.loc["ACC000004", "reason"]
    assert (diag.drop(index="ACC000004")["status"] == "ok").all()
    assert (summary.done, summary.failed) == (11, 1)
    assert summary.seconds < 120
    manifest = json.loads((day_dir(out, DATE) / "manifest.json").read_text())
    assert manifest["worker_restarts"] >= 1  # the stuck process was really stopped
    assert len(batch_client.nthreads()) >= 1


def test_a_poison_account_that_always_kills_its_worker_is_isolated(tmp_path):
    import dask

    book = write_parquet_book(small_book(6), tmp_path / "book")
    out = tmp_path / "out"
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):  # give up on the first death
        summary = execute(book, DATE, out, workers=2, progress=False, chunk_size=3,
                          fault=CrashAlways("ACC000001"))
    diag = _diag(out)
    assert diag.loc["ACC000001", "error_type"] == "WorkerDied"
    assert "KilledWorker" in diag.loc["ACC000001", "reason"]
    assert (diag.drop(index="ACC000001")["status"] == "ok").all()  # its chunk mates were retried alone
    assert (summary.done, summary.failed) == (5, 1)
