"""A future read just as Dask cancels it for a lost scheduler ends the run like any other loss of
the scheduler: a ``BatchRunError`` and a manifest naming it (the race seen under load in
``test_existing_cluster``, forced here)."""

from __future__ import annotations

import json

import pytest
from distributed.client import FutureCancelledError

from batch_books import DATE, small_book
from optimizer.batch import execute, runner
from optimizer.batch.errors import BatchRunError
from optimizer.batch.output import day_dir
from problems.books import write_parquet_book


def test_a_future_cancelled_for_the_lost_scheduler_aborts_with_a_manifest(tmp_path, monkeypatch, batch_client):
    def cancelled(*args, **kwargs):
        raise FutureCancelledError("batch-x-1", reason="scheduler-connection-lost")

    monkeypatch.setattr(runner, "_schedule", cancelled)
    book = write_parquet_book(small_book(), tmp_path / "book")
    with pytest.raises(BatchRunError, match="scheduler"):
        execute(book, DATE, tmp_path / "out", client=batch_client, progress=False)
    manifest = json.loads((day_dir(tmp_path / "out", DATE) / "manifest.json").read_text())
    assert "scheduler" in manifest["aborted"]


def test_any_other_cancellation_is_not_taken_for_a_lost_scheduler(tmp_path, monkeypatch, batch_client):
    def cancelled(*args, **kwargs):
        raise FutureCancelledError("batch-x-1", reason="cancelled by the user")

    monkeypatch.setattr(runner, "_schedule", cancelled)
    book = write_parquet_book(small_book(), tmp_path / "book")
    with pytest.raises(FutureCancelledError):
        execute(book, DATE, tmp_path / "out", client=batch_client, progress=False)
