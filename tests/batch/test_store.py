"""Book store: Parquet folder and DuckDB file read the same; whole-book problems raise InputError."""

from __future__ import annotations

import pandas as pd
import pytest

from batch_books import DATE, small_book
from optimizer.batch.accounts import CaseBuilder, make_context
from optimizer.batch.store import load_book, store_kind
from optimizer.errors import InputError
from problems.books import EXAMPLE_BOOK, example_book, synthetic_book, write_duckdb_book, write_parquet_book


def test_parquet_and_duckdb_books_load_the_same_tables(tmp_path):
    tables = small_book()
    folder = write_parquet_book(tables, tmp_path / "book")
    file = write_duckdb_book(tables, tmp_path / "book.duckdb")
    assert store_kind(folder) == "parquet" and store_kind(file) == "duckdb"
    a, b = load_book(folder), load_book(file)
    assert a.kind == "parquet" and b.kind == "duckdb"
    for name in ("accounts", "lots", "models", "restrictions", "market", "risk", "factor_cov"):
        left = a[name].reset_index(drop=True)
        right = b[name].reset_index(drop=True)[list(left.columns)]
        pd.testing.assert_frame_equal(left, right, check_dtype=False)
    assert set(a.checksums) == {f"{n}.parquet" for n in ("accounts", "lots", "models", "restrictions", "market",
                                                         "risk", "factor_cov")}
    assert list(b.checksums) == ["book.duckdb"]


def test_not_a_book_missing_table_or_column_raise(tmp_path):
    with pytest.raises(InputError, match="neither"):
        load_book(tmp_path / "nothing.parquet")
    tables = small_book()
    folder = write_parquet_book({k: v for k, v in tables.items() if k != "lots"}, tmp_path / "no_lots")
    with pytest.raises(InputError, match="book.lots"):
        load_book(folder)
    broken = dict(tables, market=tables["market"].drop(columns=["adv_usd"]))
    with pytest.raises(InputError, match="adv_usd"):
        load_book(write_parquet_book(broken, tmp_path / "no_adv"))


def test_no_market_on_the_run_date_is_a_whole_batch_error(tmp_path):
    book = load_book(write_parquet_book(small_book(), tmp_path / "book"))
    with pytest.raises(InputError, match="market.date"):
        make_context(book, "2020-01-02")


def test_synthetic_book_is_seeded_and_consistent():
    a, b = synthetic_book(30, 6, 3, n_models=4, seed=9), synthetic_book(30, 6, 3, n_models=4, seed=9)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])
    assert len(a["lots"]) == 30 * 6 * 3
    assert not a["lots"].duplicated(["account_id", "lot_id"]).any()
    sums = a["models"].groupby("model_id")["weight"].sum() + 0.02
    assert ((sums - 1).abs() < 1e-9).all()
    flows = a["accounts"]["cash_flow_usd"]
    assert (flows > 0).any() and (flows < 0).any() and (flows == 0).any()


def test_accounts_of_a_model_share_one_universe(tmp_path):
    book = load_book(write_parquet_book(small_book(), tmp_path / "book"))
    builder = CaseBuilder(make_context(book, DATE))
    accounts = book["accounts"]
    universes = set()
    for row in accounts.to_dict("records"):
        lots = book["lots"][book["lots"]["account_id"] == row["account_id"]]
        rest = book["restrictions"][book["restrictions"]["account_id"] == row["account_id"]]
        _, universe = builder.case(row, lots, rest)
        universes.add(universe)
    assert len(universes) == 1  # every model targets every asset in synthetic books
    assert len(builder._markets) == 1


def test_committed_example_book_matches_its_generator():
    book = load_book(EXAMPLE_BOOK)
    fresh = example_book()
    pd.testing.assert_frame_equal(book["accounts"], fresh["accounts"], check_dtype=False)
    assert len(book["lots"]) == len(fresh["lots"]) == 50 * 20 * 2
