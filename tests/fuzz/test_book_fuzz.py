"""Fuzz corpus, batch books: schema mutations of a small valid book and per-account bad values.

Schema problems (unknown column, text in a numeric column, a number as a date, a flag that
is not true/false, an empty id, a missing or corrupt table, a date not in the book) are
whole-book input errors: :func:`optimizer.book_schema.preflight` refuses them before any
cluster starts, naming ``book.<table>.<column>`` and the first bad row. Bad *values* of
one account (a lot dated after the run date, a negative quantity) are that account's
``InputError`` from :func:`optimizer.batch.accounts.account_case`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fuzz_support import Bad, check_error
from optimizer.book_schema import check_book_tables, preflight
from optimizer.errors import InputError
from problems.books import synthetic_book

DATE = "2024-06-28"


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    """4 accounts x 6 assets x 2 lots, 2 models, as stored."""
    return synthetic_book(4, 6, 2, n_models=2, seed=1)


def column(table: str, name: str, values):
    """Mutation: replace (or add) ``table.name`` with ``values`` (a callable of the frame, or a list)."""
    def apply(t):
        frame = t[table].copy()
        frame[name] = values(frame) if callable(values) else values
        return {**t, table: frame}
    return apply


def with_first(table: str, name: str, value):
    """Mutation: set row 0 of ``table.name`` to ``value`` (the column turns to object dtype)."""
    def apply(t):
        frame = t[table].copy()
        values = frame[name].astype(object) if name in frame else pd.Series([None] * len(frame), dtype=object)
        values.iloc[0] = value
        frame[name] = values
        return {**t, table: frame}
    return apply


def rename_column(table: str, old: str, new: str):
    def apply(t):
        return {**t, table: t[table].rename(columns={old: new})}
    return apply


def flags(value):
    return lambda frame: [value] * len(frame)


SCHEMA = [
    # unknown columns: a typo would otherwise be dropped in silence
    Bad("accounts-typo", column("accounts", "risk_aversoin", 5.0), "book.accounts.risk_aversoin"),
    Bad("lots-typo", rename_column("lots", "quantity", "qty"), "book.lots.qty"),
    Bad("models-typo", column("models", "band_upr", 0.5), "book.models.band_upr"),
    Bad("market-typo", column("market", "prcie", 1.0), "book.market.prcie"),
    Bad("restrictions-typo", column("restrictions", "nosell", True), "book.restrictions.nosell"),
    # numbers that are text or booleans
    Bad("accounts-cash-text", with_first("accounts", "cash_usd", "1000"), "book.accounts.cash_usd"),
    Bad("accounts-cash-bool", column("accounts", "cash_usd", flags(True)), "book.accounts.cash_usd"),
    Bad("accounts-rate-text", with_first("accounts", "short_term_rate", "37%"), "book.accounts.short_term_rate"),
    Bad("accounts-aversion-text", column("accounts", "risk_aversion", flags("high")), "book.accounts.risk_aversion"),
    Bad("lots-quantity-text", with_first("lots", "quantity", "100"), "book.lots.quantity"),
    Bad("lots-basis-bool", column("lots", "cost_basis", flags(False)), "book.lots.cost_basis"),
    Bad("models-weight-text", with_first("models", "weight", "0.5"), "book.models.weight"),
    Bad("market-price-text", with_first("market", "price", "abc"), "book.market.price"),
    Bad("market-adv-bool", column("market", "adv_usd", flags(True)), "book.market.adv_usd"),
    Bad("risk-specific-text", with_first("risk", "specific_var", "small"), "book.risk.specific_var"),
    Bad("risk-factor-text", with_first("risk", "F0", "one"), "book.risk.F0"),
    Bad("cov-factor-text", with_first("factor_cov", "F0", "0.1"), "book.factor_cov.F0"),
    Bad("restrictions-max-text", column("restrictions", "max_trade_usd", flags("1e6")),
        "book.restrictions.max_trade_usd"),
    # dates that are numbers or not dates
    Bad("lots-acquired-int", column("lots", "acquired", flags(20230103)), "book.lots.acquired"),
    Bad("lots-acquired-text", with_first("lots", "acquired", "soon"), "book.lots.acquired"),
    Bad("lots-acquired-empty", with_first("lots", "acquired", None), "book.lots.acquired"),
    Bad("market-date-int", column("market", "date", flags(20240628)), "book.market.date"),
    Bad("risk-date-float", column("risk", "date", flags(2024.5)), "book.risk.date"),
    # flags only true/false
    *[Bad(f"restrictions-no-sell-{name}", column("restrictions", "no_sell", flags(value)),
          "book.restrictions.no_sell")
      for name, value in [("text-false", "false"), ("text-no", "no"), ("int-0", 0), ("int-1", 1)]],
    # ids
    Bad("accounts-id-empty", with_first("accounts", "account_id", ""), "book.accounts.account_id"),
    Bad("accounts-model-none", with_first("accounts", "model_id", None), "book.accounts.model_id"),
    Bad("lots-id-float", column("lots", "lot_id", flags(1.5)), "book.lots.lot_id"),
    Bad("market-asset-none", with_first("market", "asset", None), "book.market.asset"),
    Bad("market-class-bool", with_first("market", "asset_class", True), "book.market.asset_class"),
    Bad("accounts-solvers-number", column("accounts", "solvers", flags(3)), "book.accounts.solvers"),
]


def test_the_base_book_is_valid(tables):
    check_book_tables(tables)


@pytest.mark.parametrize("bad", SCHEMA, ids=[b.id for b in SCHEMA])
def test_bad_book_column_is_refused_with_table_and_column_named(bad, tables):
    with pytest.raises(Exception) as caught:
        check_book_tables(bad.mutate(tables))
    check_error(caught.value, bad)


def test_a_bad_row_is_named_by_its_ids(tables):
    with pytest.raises(InputError) as caught:
        check_book_tables(with_first("lots", "quantity", "100")(tables))
    first = tables["lots"].iloc[0]
    assert caught.value.asset == first["asset"] and caught.value.lot == first["lot_id"]


def test_accepted_by_design(tables):
    """Empty optional cells (risk_aversion, a restriction's max_trade_usd) mean the default; integer ids are ids;
    ISO text dates are dates."""
    t = column("accounts", "risk_aversion", lambda f: [np.nan] + [5.0] * (len(f) - 1))(tables)
    t = column("restrictions", "max_trade_usd", lambda f: [None] * len(f))(t)
    t = column("market", "date", lambda f: [DATE] * len(f))(t)
    t = column("accounts", "solvers", lambda f: [None] * len(f))(t)
    check_book_tables(t)


# -- whole books on disk: preflight


def _write(tables: dict[str, pd.DataFrame], folder) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


FILES = [
    ("missing-accounts", lambda folder: (folder / "accounts.parquet").unlink(), "book.accounts"),
    ("corrupt-market", lambda folder: (folder / "market.parquet").write_bytes(b"PAR1 not parquet"), "book.market"),
    ("empty-lots-file", lambda folder: (folder / "lots.parquet").write_bytes(b""), "book.lots"),
    ("missing-column", lambda folder: pd.read_parquet(folder / "market.parquet").drop(columns="price").to_parquet(
        folder / "market.parquet"), "book.market"),
]


@pytest.mark.parametrize("name, damage, field", FILES, ids=[f[0] for f in FILES])
def test_damaged_book_files_are_named(name, damage, field, tables, tmp_path):
    folder = _write(tables, tmp_path / "book")
    damage(folder)
    with pytest.raises(InputError) as caught:
        preflight(folder, DATE)
    assert caught.value.field == field, caught.value


@pytest.mark.parametrize("book, date, field", [
    ("missing", DATE, "book"), ("file", DATE, "book"), ("good", "2024-06-27", "book.market.date"),
    ("good", "1999-01-01", "book.market.date")], ids=["no-such-book", "book-is-a-file", "date-not-in-book",
                                                      "old-date"])
def test_book_path_and_date(book, date, field, tables, tmp_path):
    path = {"missing": tmp_path / "nope", "file": tmp_path / "book.txt", "good": tmp_path / "good"}[book]
    if book == "file":
        path.write_text("not a book")
    if book == "good":
        _write(tables, path)
    with pytest.raises(InputError) as caught:
        preflight(path, date)
    assert caught.value.field == field, caught.value


# -- one account's bad values: that account's InputError


def _account(tables, mutate, tmp_path):
    from optimizer.batch.accounts import account_case
    from optimizer.batch.store import load_book

    t = mutate({k: v.copy() for k, v in tables.items()})
    folder = _write(t, tmp_path / "book")
    account = str(t["lots"]["account_id"].iloc[0])
    return account_case(load_book(folder), DATE, account)


def _lot0(column_name, value):
    def apply(t):
        t["lots"].loc[0, column_name] = value
        return t
    return apply


ACCOUNT = [
    Bad("lot-after-run-date", _lot0("acquired", pd.Timestamp("2024-07-01")), "lots.acquired"),
    Bad("lot-quantity-negative", _lot0("quantity", -5.0), "lots.quantity"),
    Bad("lot-basis-nan", _lot0("cost_basis", np.nan), "lots.cost_basis"),
]


@pytest.mark.parametrize("bad", ACCOUNT, ids=[b.id for b in ACCOUNT])
def test_a_bad_value_fails_its_account_with_a_typed_error(bad, tables, tmp_path):
    with pytest.raises(Exception) as caught:
        _account(tables, bad.mutate, tmp_path)
    check_error(caught.value, bad)
    first = tables["lots"].iloc[0]
    assert caught.value.lot == first["lot_id"]


def with_parity_tables(tables):
    """The optional tables that carry untradeable holdings, overlays, recent buys and loss sales."""
    day = pd.Timestamp(DATE)
    account, asset = str(tables["accounts"]["account_id"].iloc[0]), str(tables["market"]["asset"].iloc[0])
    return {**tables,
            "recent_loss_sales": pd.DataFrame({"account_id": [account], "asset": [asset], "sold": [day]}),
            "recent_buys": pd.DataFrame({"account_id": [account], "asset": [asset], "lot_id": [""],
                                         "acquired": [day]}),
            "untradeable": pd.DataFrame({"account_id": [account], "asset": ["PE"], "value_usd": [1e5],
                                         "asset_class": [None]}),
            "overlay_instruments": pd.DataFrame({"name": ["FUT"], "multiplier": [50.0], "price": [4000.0],
                                                 "key": ["K"], "beta": [1.0]}),
            "overlay_positions": pd.DataFrame({"account_id": [account], "instrument": ["FUT"], "contracts": [2.0]})}


PARITY = [
    Bad("loss-sale-date-int", column("recent_loss_sales", "sold", flags(20240601)), "book.recent_loss_sales.sold"),
    Bad("recent-buy-date-text", column("recent_buys", "acquired", flags("last week")),
        "book.recent_buys.acquired"),
    Bad("untradeable-value-text", column("untradeable", "value_usd", flags("1e5")), "book.untradeable.value_usd"),
    Bad("overlay-beta-bool", column("overlay_instruments", "beta", flags(True)), "book.overlay_instruments.beta"),
    Bad("overlay-contracts-typo", rename_column("overlay_positions", "contracts", "contracs"),
        "book.overlay_positions.contracs"),
    Bad("overlay-instrument-empty", column("overlay_positions", "instrument", flags("")),
        "book.overlay_positions.instrument"),
]


def test_the_parity_tables_are_valid(tables):
    """An empty recent-buy lot id and an empty untradeable class are allowed (documented defaults)."""
    check_book_tables(with_parity_tables(tables))


@pytest.mark.parametrize("bad", PARITY, ids=[b.id for b in PARITY])
def test_bad_parity_table_column_is_refused(bad, tables):
    with pytest.raises(Exception) as caught:
        check_book_tables(bad.mutate(with_parity_tables(tables)))
    check_error(caught.value, bad)


def test_duckdb_books_get_the_same_checks(tables, tmp_path):
    from optimizer.batch.store import write_duckdb

    good = write_duckdb(tables, tmp_path / "good.duckdb")
    preflight(good, DATE)
    bad = write_duckdb(column("accounts", "risk_aversoin", 5.0)(tables), tmp_path / "bad.duckdb")
    with pytest.raises(InputError) as caught:
        preflight(bad, DATE)
    assert caught.value.field == "book.accounts.risk_aversoin"
    corrupt = tmp_path / "corrupt.duckdb"
    corrupt.write_bytes(b"not a database" * 100)
    with pytest.raises(InputError) as caught:
        preflight(corrupt, DATE)
    assert caught.value.field == "book" and "corrupt.duckdb" in str(caught.value)
