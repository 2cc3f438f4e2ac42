"""Chaos: SIGKILL the batch process at 10 random moments, resume each time; the end equals a clean run.

The batch runs in a child process (forked from a server that has already imported the
engine, so a child starts in milliseconds) on a one-thread in-process Dask cluster, so
one SIGKILL ends everything it was doing: solving, writing a part, consolidating, writing
the manifest. Kill moments are drawn (seeded) over the measured length of a clean run.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import numpy as np
import pandas as pd

from batch_books import DATE
from optimizer.batch.faults import run_in_child
from optimizer.batch.output import day_dir, done_accounts, leftovers
from problems.books import synthetic_book, write_parquet_book

KILLS = 10


def _context():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["optimizer.batch.runner", "distributed", "cvxpy"])
    return context


def _run(context, book, out, kill_after: float | None = None) -> str:
    """Run the batch in a child; SIGKILL it after ``kill_after`` seconds. Returns how it ended."""
    child = context.Process(target=run_in_child, args=(str(book), DATE, str(out), 4))
    child.start()
    child.join(kill_after if kill_after is not None else 600)
    if child.is_alive():
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        return "killed"
    return "finished" if child.exitcode == 0 else f"exit {child.exitcode}"


def _tables(out):
    day = day_dir(out, DATE)
    diag = pd.read_parquet(day / "diagnostics.parquet").sort_values("account_id").reset_index(drop=True)
    orders = pd.read_parquet(day / "orders.parquet").sort_values(["account_id", "asset"]).reset_index(drop=True)
    trades = pd.read_parquet(day / "trades.parquet").sort_values(["account_id", "asset"]).reset_index(drop=True)
    return diag, orders, trades


def test_killed_ten_times_at_random_and_resumed_equals_a_clean_run(tmp_path):
    book = write_parquet_book(synthetic_book(40, 6, 2, n_models=3, seed=11), tmp_path / "book")
    context = _context()
    warm = context.Process(target=time.sleep, args=(0,))  # start the fork server (imports) before timing
    warm.start()
    warm.join()
    clean = tmp_path / "clean"
    started = time.monotonic()
    assert _run(context, book, clean) == "finished"
    length = time.monotonic() - started

    started = time.monotonic()
    assert _run(context, book, clean) == "finished"  # a resume with nothing left: start-up and wrap-up only
    overhead = time.monotonic() - started

    out = tmp_path / "out"
    rng = np.random.default_rng(2024)
    endings = []
    while endings.count("killed") < KILLS and len(endings) < 3 * KILLS:
        # a moment within what is left of the run: start-up, solving, writing parts, consolidating
        left = len(set(pd.read_parquet(book / "accounts.parquet")["account_id"]) - done_accounts(day_dir(out, DATE)))
        expected = overhead + max(length - overhead, 0.0) * left / 40
        endings.append(_run(context, book, out, kill_after=float(rng.uniform(0.1, 0.9) * expected)))
    print("chaos endings:", endings)
    assert endings.count("killed") == KILLS, endings  # ten kills really landed mid-run
    assert _run(context, book, out) == "finished"

    diag, orders, trades = _tables(out)
    ref_diag, ref_orders, ref_trades = _tables(clean)
    assert list(diag["account_id"]) == list(ref_diag["account_id"]) and len(diag) == 40
    assert (diag["status"] == "ok").all()
    pd.testing.assert_frame_equal(orders.drop(columns=["notional", "price"]),
                                  ref_orders.drop(columns=["notional", "price"]))
    np.testing.assert_allclose(orders[["price", "notional"]], ref_orders[["price", "notional"]], rtol=1e-9)
    pd.testing.assert_frame_equal(trades[["account_id", "asset"]], ref_trades[["account_id", "asset"]])
    np.testing.assert_allclose(trades[["shares", "trade_usd"]], ref_trades[["shares", "trade_usd"]],
                               rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(diag["objective_bps"], ref_diag["objective_bps"], rtol=1e-9, atol=1e-9)
    assert leftovers(out) == []
