"""The worker task alone (no cluster): one program per shape, every account gets a row, parts are whole."""

from __future__ import annotations

import pandas as pd

from batch_books import DATE
from optimizer.batch import worker
from optimizer.batch.accounts import make_context
from optimizer.batch.faults import Stall
from optimizer.batch.output import PARTS, part_dirs
from optimizer.batch.runner import _chunks
from optimizer.batch.store import load_book
from problems.books import synthetic_book, write_parquet_book


def _chunk(tmp_path, tables):
    book = load_book(write_parquet_book(tables, tmp_path / "book"))
    token, blob = make_context(book, DATE).blob()
    chunk = _chunks(book["accounts"], book, len(book["accounts"]))[0]
    return token, blob, chunk


def test_a_chunk_builds_one_program_and_handles_an_all_cash_account(tmp_path):
    tables = synthetic_book(6, 5, 2, n_models=2, seed=4)
    accounts = tables["accounts"]
    cash_only = accounts.loc[accounts["cash_flow_usd"] >= 0, "account_id"].iloc[0]
    tables["lots"] = tables["lots"][tables["lots"]["account_id"] != cash_only]  # all cash, no withdrawal
    token, blob, chunk = _chunk(tmp_path, tables)
    before = worker.program_builds()
    diag = worker.solve_chunk(token, blob, chunk, str(tmp_path / PARTS), "run1", 60.0)
    # one program per shape: the taxable accounts' and the tax-exempt accounts' pooled one (one lot slot)
    assert worker.program_builds() - before <= 2
    again = worker.program_builds()
    worker.solve_chunk(token, blob, chunk, str(tmp_path / "again"), "run1", 60.0)
    assert worker.program_builds() == again      # a second chunk of the same shapes builds nothing
    assert list(diag["account_id"]) == [f"ACC{k:06d}" for k in range(6)]
    assert (diag["status"] == "ok").all()
    assert diag.set_index("account_id").loc[cash_only, "n_lot_sales"] == 0
    parts = part_dirs(tmp_path)
    assert [p.name for p in parts] == ["run1-000000"]
    assert sorted(f.name for f in parts[0].iterdir()) == ["diagnostics.parquet", "lot_sales.parquet", "orders.parquet",
                                                          "orders_csv.parquet", "overlay.parquet", "trades.parquet"]
    assert not [p for p in (tmp_path / PARTS).iterdir() if p.name.startswith(".")]
    trades = pd.read_parquet(parts[0] / "trades.parquet")
    cash_account = trades[trades["account_id"] == cash_only]
    assert (cash_account["trade_usd"] >= -1e-6).all() and cash_account["trade_usd"].sum() > 0  # it only buys


def test_rewriting_a_part_replaces_it_whole(tmp_path):
    token, blob, chunk = _chunk(tmp_path, synthetic_book(3, 4, 1, n_models=1, seed=1))
    worker.solve_chunk(token, blob, chunk, str(tmp_path / PARTS), "run1", 60.0)
    diag = worker.solve_chunk(token, blob, chunk, str(tmp_path / PARTS), "run1", 1.0,
                              fault=Stall("ACC000001", 1.2))
    assert diag.set_index("account_id").loc["ACC000001", "error_type"] == "Timeout"
    (part,) = part_dirs(tmp_path)
    written = pd.read_parquet(part / "diagnostics.parquet").set_index("account_id")
    assert written.loc["ACC000001", "status"] == "failed"
    assert "ACC000001" not in set(pd.read_parquet(part / "trades.parquet")["account_id"])
