"""Strict column schema of a batch *book* (see :mod:`optimizer.batch.store` for the tables).

:func:`check_book_tables` refuses, for the whole book and before any account is solved:
an unknown column (named with the closest known one: a typo ``risk_aversoin`` would
otherwise be dropped silently), a numeric column holding text or booleans, a date column
holding numbers (``20240628`` is not a date), a flag column holding anything but
true/false, and an empty name. :func:`preflight` adds reading the book (a corrupt file is
named) and the run date (present in the book), so ``rebalance batch`` can stop with exit
code 2 before it starts a cluster.

Households (optional ``accounts`` columns ``household_id`` and ``account_kind``) are checked
here too, by :func:`check_households`: every ``account_kind`` is one of :data:`ACCOUNT_KINDS`
(a typo is named with the closest kind), and the accounts of one household share what one
program needs (``model_id``, the taxable members' tax rates, the settings columns and the
currency). The run date is one per batch, so members always share it.

Per-row *values* (a NaN price, a negative quantity) stay per-account problems: the batch
fails only the accounts exposed to them.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.household import ACCOUNT_KINDS as _ACCOUNT_KINDS
from optimizer.model._checks import is_missing, is_number
from optimizer.model.restrictions import FLAG_COLUMNS, SIZE_COLUMNS

NUMBER, NAME, DATE, FLAG, TEXT = "number", "name", "date", "flag", "text"

#: Column kinds per table; ``None`` marks a table whose other columns are factors (numbers).
COLUMNS: dict[str, dict[str, str]] = {
    "accounts": {"account_id": NAME, "model_id": NAME, "cash_usd": NUMBER, "cash_flow_usd": NUMBER,
                 "short_term_rate": NUMBER, "long_term_rate": NUMBER, "risk_aversion": NUMBER,
                 "min_cash_weight": NUMBER, "solvers": TEXT, "realized_gain_usd": NUMBER, "overdraft_usd": NUMBER,
                 "currency": TEXT, "household_id": NAME, "account_kind": NAME, "cash_tax_drag": NUMBER},
    "lots": {"account_id": NAME, "lot_id": NAME, "asset": NAME, "quantity": NUMBER, "cost_basis": NUMBER,
             "acquired": DATE},
    "models": {"model_id": NAME, "key": NAME, "weight": NUMBER, "band_lower": NUMBER, "band_upper": NUMBER,
               "cash_weight": NUMBER},
    "restrictions": {"account_id": NAME, "asset": NAME, **{c: FLAG for c in FLAG_COLUMNS},
                     **{c: NUMBER for c in SIZE_COLUMNS}},
    "market": {"date": DATE, "asset": NAME, "price": NUMBER, "asset_class": NAME, "volatility": NUMBER,
               "adv_usd": NUMBER, "half_spread": NUMBER, "commission": NUMBER, "tax_drag": NUMBER},
    "risk": {"date": DATE, "key": NAME, "specific_var": NUMBER},
    "factor_cov": {"date": DATE, "factor": NAME},
    "untradeable": {"account_id": NAME, "asset": NAME, "value_usd": NUMBER, "asset_class": NAME},
    "overlay_instruments": {"name": NAME, "multiplier": NUMBER, "price": NUMBER, "key": NAME, "beta": NUMBER,
                            "date": DATE, "initial_margin": NUMBER, "cost_per_contract_usd": NUMBER,
                            "max_notional_usd": NUMBER, "holding_cost": NUMBER},
    "overlay_positions": {"account_id": NAME, "instrument": NAME, "contracts": NUMBER},
    "recent_buys": {"account_id": NAME, "asset": NAME, "lot_id": NAME, "acquired": DATE},
    "recent_loss_sales": {"account_id": NAME, "asset": NAME, "sold": DATE},
}
#: Tables whose columns beyond ``COLUMNS`` are factor columns (numbers), not unknown columns.
FACTOR_TABLES = ("risk", "factor_cov")
#: Columns that may be empty (null) in a row.
NULLABLE = {("accounts", "risk_aversion"), ("accounts", "min_cash_weight"), ("accounts", "solvers"),
            ("accounts", "realized_gain_usd"), ("accounts", "overdraft_usd"), ("accounts", "currency"),
            ("accounts", "household_id"), ("accounts", "account_kind"), ("accounts", "cash_tax_drag"),
            ("market", "tax_drag"),
            ("untradeable", "asset_class"), ("recent_buys", "lot_id"),
            *{("overlay_instruments", c) for c in ("date", "initial_margin", "cost_per_contract_usd",
                                                    "max_notional_usd", "holding_cost")},
            *{("restrictions", c) for c in FLAG_COLUMNS + SIZE_COLUMNS}}


def _known_columns(table: str) -> dict[str, str]:
    """``COLUMNS[table]`` plus columns the batch store declares (kind ``None``: not type-checked here)."""
    known = dict(COLUMNS.get(table, {}))
    try:
        from optimizer.batch import store
    except ImportError:  # pragma: no cover
        return known
    for source in ("REQUIRED_COLUMNS", "OPTIONAL_COLUMNS"):
        for column in getattr(store, source, {}).get(table, ()):
            known.setdefault(column, None)
    return known


def _row_label(frame: pd.DataFrame, i: int) -> tuple[str | None, str | None]:
    """``(asset, lot)`` naming row ``i`` of a table, from its id columns."""
    row = frame.iloc[i]
    asset = next((str(row[c]) for c in ("asset", "account_id", "model_id", "key", "factor") if c in frame.columns),
                 None)
    lot = str(row["lot_id"]) if "lot_id" in frame.columns else None
    return asset, lot


def _check_column(table: str, name: str, kind: str, frame: pd.DataFrame) -> None:
    values = frame[name]
    field = f"book.{table}.{name}"
    nullable = (table, name) in NULLABLE
    dtype = values.dtype

    def fail(i: int, message: str):
        asset, lot = _row_label(frame, i)
        raise InputError(field, message, asset=asset, lot=lot)

    def scan(ok) -> None:
        for i, value in enumerate(values):
            if is_missing(value):
                if not nullable and kind in (NAME, DATE):
                    fail(i, "is empty")
                continue
            if not ok(value):
                fail(i, f"is {value!r} ({type(value).__name__}); expected {'a ' if kind != FLAG else ''}"
                        f"{'true or false' if kind == FLAG else kind}")

    if kind == NUMBER:
        if pd.api.types.is_bool_dtype(dtype):
            if len(values):
                fail(0, "is a column of booleans; expected numbers")
        elif not pd.api.types.is_numeric_dtype(dtype):
            scan(is_number)
    elif kind == FLAG:
        if not pd.api.types.is_bool_dtype(dtype):
            scan(lambda v: isinstance(v, (bool, np.bool_)))
    elif kind == DATE:
        if not pd.api.types.is_datetime64_any_dtype(dtype):
            def is_date(v) -> bool:
                if isinstance(v, (pd.Timestamp, np.datetime64)) or hasattr(v, "isoformat"):
                    return True
                if isinstance(v, str):
                    try:
                        pd.Timestamp(v)
                        return len(v.strip()) >= 8
                    except (ValueError, TypeError):
                        return False
                return False
            scan(is_date)
    elif kind == NAME:
        def is_name(v) -> bool:
            if isinstance(v, str):
                return v.strip() != "" or nullable
            return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))

        if pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            return
        if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
            missing = values.isna().to_numpy()
            bad = np.zeros(len(values), dtype=bool) if nullable else (
                missing | (values.fillna("x").str.strip() == "").to_numpy())
            if bad.any():
                fail(int(bad.argmax()), "is empty")
            return
        if not nullable:
            for i, value in enumerate(values):
                if is_missing(value):
                    fail(i, "is empty")
        scan(is_name)
    elif kind == TEXT:
        scan(lambda v: isinstance(v, str))


def check_book_tables(tables: dict[str, pd.DataFrame]) -> None:
    """Check every known table's columns: no unknown column, each of its kind (see the module doc).

    Raises
    ------
    InputError
        ``field`` is ``book.<table>.<column>``; ``asset``/``lot`` name the first bad row.
    """
    for table, frame in tables.items():
        known = _known_columns(table)
        if not known:
            continue
        for column in frame.columns:
            name = str(column)
            if name in known:
                continue
            if table in FACTOR_TABLES:  # every other column of risk / factor_cov is a factor
                _check_column(table, name, NUMBER, frame)
                continue
            close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InputError(f"book.{table}.{name}", f"unknown column; {hint}known columns: {sorted(known)}")
        for column, kind in known.items():
            if kind is not None and column in frame.columns:
                _check_column(table, column, kind, frame)
    if "accounts" in tables:
        check_households(tables["accounts"])


#: Kinds of account a book may name (``accounts.account_kind``; empty = ``taxable``): those of
#: :class:`optimizer.household.Account`.
ACCOUNT_KINDS = _ACCOUNT_KINDS
#: What a refused kind most likely meant (a hint only: the book must say ``deferred`` or ``exempt``).
_KIND_HINTS = {"ira": "deferred", "traditional": "deferred", "traditional_ira": "deferred", "401k": "deferred",
               "403b": "deferred", "tax_deferred": "deferred", "roth": "exempt", "roth_ira": "exempt",
               "tax_exempt": "exempt", "brokerage": "taxable", "individual": "taxable", "joint": "taxable"}
#: Columns every member of a household must share (one program: one model, one set of settings).
HOUSEHOLD_SHARED = ("model_id", "risk_aversion", "min_cash_weight", "solvers", "currency", "cash_tax_drag")
#: Columns the *taxable* members of a household must share (one tax return: one set of rates).
HOUSEHOLD_TAX_SHARED = ("short_term_rate", "long_term_rate")


def household_key(value) -> str | None:
    """The household an ``accounts.household_id`` cell names; ``None`` when empty (the account is alone)."""
    if is_missing(value):
        return None
    text = str(value).strip()
    return text or None


def account_kind(value) -> str:
    """The ``accounts.account_kind`` of a cell (empty = ``taxable``), unchecked."""
    if is_missing(value):
        return "taxable"
    return str(value).strip() or "taxable"


def _same(values: list) -> bool:
    """All equal, counting every empty cell as one value."""
    seen = {None if is_missing(v) else (str(v).strip() if isinstance(v, str) else v) for v in values}
    return len(seen) <= 1


def check_households(accounts: pd.DataFrame) -> None:
    """Refuse an unknown ``account_kind`` and a household whose members cannot be one program.

    Raises
    ------
    InputError
        ``book.accounts.account_kind`` for a kind not in :data:`ACCOUNT_KINDS` (the closest
        kind is named; ``asset`` is the account), or ``book.accounts.<column>`` for a
        household whose members differ in a column of :data:`HOUSEHOLD_SHARED` (or, among
        its taxable members, :data:`HOUSEHOLD_TAX_SHARED`); the message names the household.
    """
    if "account_kind" in accounts.columns:
        for account_id, value in zip(accounts["account_id"], accounts["account_kind"]):
            kind = account_kind(value)
            if kind not in ACCOUNT_KINDS:
                close = [_KIND_HINTS[kind.lower()]] if kind.lower() in _KIND_HINTS else \
                    difflib.get_close_matches(kind.lower(), ACCOUNT_KINDS, n=1, cutoff=0.0)
                raise InputError("book.accounts.account_kind",
                                 f"is {value!r}; did you mean {close[0]!r}? use one of {list(ACCOUNT_KINDS)} "
                                 "(empty = taxable)", asset=str(account_id))
    if "household_id" not in accounts.columns:
        return
    keys = [household_key(v) for v in accounts["household_id"]]
    members = accounts.assign(_household=keys)
    members = members[members["_household"].notna()]
    kinds = (members["account_kind"].map(account_kind) if "account_kind" in members.columns
             else pd.Series("taxable", index=members.index))
    for household, rows in members.groupby("_household", sort=True):
        ids = sorted(str(a) for a in rows["account_id"])
        for column in HOUSEHOLD_SHARED:
            if column in rows.columns and not _same(list(rows[column])):
                values = {str(a): v for a, v in zip(rows["account_id"], rows[column])}
                raise InputError(f"book.accounts.{column}",
                                 f"differs within household {household!r} (accounts {ids}: {values}); the "
                                 "accounts of a household are solved as one program and must share it",
                                 asset=str(household))
        taxable = rows[kinds.loc[rows.index] == "taxable"]
        for column in HOUSEHOLD_TAX_SHARED:
            if column in taxable.columns and not _same(list(taxable[column])):
                values = {str(a): v for a, v in zip(taxable["account_id"], taxable[column])}
                raise InputError(f"book.accounts.{column}",
                                 f"differs between the taxable accounts of household {household!r} ({values}); "
                                 "one household pays tax at one set of rates", asset=str(household))


def _check_files_readable(path: Path) -> None:
    """Name the first Parquet file of a book folder that is not readable Parquet."""
    if not path.is_dir():
        return
    import pyarrow.parquet as pq

    from optimizer.batch.store import TABLES

    for table in TABLES:
        file = path / f"{table}.parquet"
        if not file.exists():
            continue
        try:
            pq.read_schema(file)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise InputError(f"book.{table}", f"{str(file)!r} is not a readable Parquet file: {exc}") from None


def raw_tables(path: Path) -> dict[str, pd.DataFrame]:
    """The book's tables exactly as stored (before the store's normalisation turns 20240628 into a date)."""
    from optimizer.batch.store import TABLES, store_kind

    kind = store_kind(path)
    tables = {}
    if kind == "parquet":
        for table in TABLES:
            file = path / f"{table}.parquet"
            if file.exists():
                tables[table] = pd.read_parquet(file)
        return tables
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        present = {row[0] for row in con.execute("select table_name from information_schema.tables").fetchall()}
        for table in TABLES:
            if table in present:
                tables[table] = con.execute(f'select * from "{table}"').df()
    return tables


def preflight(book: Path, date: str):
    """Load ``book``, check its schema and that it has market and risk rows on ``date``; return the book.

    Raises
    ------
    InputError
        Missing or corrupt book (the file is named), unknown column, wrong column kind,
        or no data on ``date``.
    """
    from optimizer.batch.accounts import make_context
    from optimizer.batch.store import load_book

    book = Path(book)
    if not book.exists():
        raise InputError("book", f"{str(book)!r} does not exist; give a folder of Parquet tables or a .duckdb file")
    _check_files_readable(book)
    try:
        raw = raw_tables(book)
    except InputError:
        raise
    except Exception as exc:  # a damaged DuckDB file, an unreadable table
        raise InputError("book", f"cannot read {str(book)!r}: {type(exc).__name__}: {exc}") from None
    check_book_tables(raw)
    loaded = load_book(book)
    make_context(loaded, date)
    return loaded
