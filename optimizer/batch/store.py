"""A *book*: every account of a nightly batch, with its model, market and risk, as tables.

A book is stored either as a **folder of Parquet files** (``<book>/<table>.parquet``) or as
a **DuckDB file** (a path ending in ``.duckdb`` holding tables of the same names). The
path decides: a ``.duckdb`` file is read with DuckDB, a directory as Parquet.

Tables and columns (amounts in account currency "usd", weights as NAV fractions):

``accounts`` (one row per account, required)
    ``account_id`` (str, unique), ``model_id`` (str, a model in ``models``),
    ``cash_usd`` (cash held), ``cash_flow_usd`` (inflow + / withdrawal - settled with this
    rebalance), ``short_term_rate``, ``long_term_rate`` (capital-gains tax rates, 0..1).
    Optional: ``risk_aversion`` (default :class:`optimizer.Settings` value),
    ``min_cash_weight`` (cash buffer after trading, NAV fraction, default 0),
    ``solvers`` (comma-separated solver chain, e.g. ``"CLARABEL,OSQP"``; empty = default).
``lots`` (one row per tax lot, required)
    ``account_id``, ``lot_id`` (unique within the account), ``asset``, ``quantity``
    (shares, > 0), ``cost_basis`` (per share, >= 0), ``acquired`` (date).
``models`` (one row per model and exposure key, required)
    ``model_id``, ``key`` (exposure key: an asset class, or an asset for per-asset
    targets), ``weight`` (target, NAV fraction), ``band_lower``, ``band_upper``
    (absolute band edges, NAV fraction), ``cash_weight`` (the model's cash target; the
    same on every row of a model; ``sum(weight) + cash_weight == 1``).
``restrictions`` (optional; one row per account and asset)
    ``account_id``, ``asset``, and any of ``no_buy``, ``no_sell``, ``no_trade``,
    ``allow_short`` (bool) and ``max_trade_usd``, ``max_short_usd`` (null = unlimited).
``market`` (one row per date and asset, required)
    ``date``, ``asset``, ``price`` (per share), ``asset_class`` (its exposure key),
    ``volatility`` (daily, fraction), ``adv_usd`` (average daily traded value),
    ``half_spread``, ``commission`` (fractions of traded value).
``risk`` (one row per date and exposure key, required)
    ``date``, ``key``, ``specific_var`` (annual, fraction^2), and one column per factor
    holding the key's loading on that factor (every other column is a factor).
``factor_cov`` (one row per date and factor, required)
    ``date``, ``factor``, and one column per factor: the annual factor covariance.

How an account becomes one rebalance question (see :mod:`optimizer.batch.accounts`): its
*universe* is every market asset whose ``asset_class`` is a key of its model, in sorted
order, plus any asset it holds outside that set (appended, targeted at 0 with a [0, 0]
band). Accounts of one model that hold nothing outside it therefore share one problem
shape, and one built program serves them all. Data are only checked per account, for
the assets in its universe: a NaN price of an asset one account alone holds fails that
account, not the batch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from optimizer.errors import InputError

TABLES = ("accounts", "lots", "models", "restrictions", "market", "risk", "factor_cov")
OPTIONAL_TABLES = ("restrictions",)
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": ("account_id", "model_id", "cash_usd", "cash_flow_usd", "short_term_rate", "long_term_rate"),
    "lots": ("account_id", "lot_id", "asset", "quantity", "cost_basis", "acquired"),
    "models": ("model_id", "key", "weight", "band_lower", "band_upper", "cash_weight"),
    "restrictions": ("account_id", "asset"),
    "market": ("date", "asset", "price", "asset_class", "volatility", "adv_usd", "half_spread", "commission"),
    "risk": ("date", "key", "specific_var"),
    "factor_cov": ("date", "factor"),
}


@dataclass(frozen=True)
class Book:
    """All tables of a book, as loaded (no per-account checks yet).

    ``checksums`` maps each input file to its SHA-256, for the run manifest.
    """

    path: Path
    kind: str  # "parquet" or "duckdb"
    tables: dict[str, pd.DataFrame]
    checksums: dict[str, str]

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    def dates(self) -> list[str]:
        """Dates that have a market snapshot, ISO formatted."""
        return sorted({str(pd.Timestamp(d).date()) for d in self.tables["market"]["date"].unique()})


def store_kind(path: Path) -> str:
    """``"duckdb"`` for a ``.duckdb`` file, ``"parquet"`` for a directory; raise otherwise."""
    path = Path(path)
    if path.suffix == ".duckdb":
        if not path.is_file():
            raise InputError("book", f"DuckDB file {str(path)!r} does not exist")
        return "duckdb"
    if path.is_dir():
        return "parquet"
    raise InputError("book", f"{str(path)!r} is neither a folder of Parquet tables nor a .duckdb file")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_book(path: Path) -> Book:
    """Read every table of the book at ``path`` and check that the required columns exist.

    Raises
    ------
    InputError
        The path is not a book, a required table or column is missing, or account ids repeat.
    """
    path = Path(path)
    kind = store_kind(path)
    tables: dict[str, pd.DataFrame] = {}
    checksums: dict[str, str] = {}
    if kind == "parquet":
        for name in TABLES:
            file = path / f"{name}.parquet"
            if not file.exists():
                if name in OPTIONAL_TABLES:
                    continue
                raise InputError(f"book.{name}", f"table file {str(file)!r} is missing")
            tables[name] = pd.read_parquet(file)
            checksums[file.name] = sha256(file)
    else:
        import duckdb

        checksums[path.name] = sha256(path)
        with duckdb.connect(str(path), read_only=True) as con:
            present = {row[0] for row in con.execute("select table_name from information_schema.tables").fetchall()}
            for name in TABLES:
                if name not in present:
                    if name in OPTIONAL_TABLES:
                        continue
                    raise InputError(f"book.{name}", f"table is missing from {str(path)!r}")
                tables[name] = con.execute(f'select * from "{name}"').df()
    if "restrictions" not in tables:
        tables["restrictions"] = pd.DataFrame({"account_id": pd.Series(dtype=str), "asset": pd.Series(dtype=str)})
    for name, columns in REQUIRED_COLUMNS.items():
        missing = [c for c in columns if c not in tables[name].columns]
        if missing:
            raise InputError(f"book.{name}", f"is missing column(s) {missing}")
    tables = {name: _normalise(name, frame) for name, frame in tables.items()}
    ids = tables["accounts"]["account_id"]
    if ids.duplicated().any():
        raise InputError("book.accounts.account_id", "appears more than once", asset=str(ids[ids.duplicated()].iloc[0]))
    return Book(path=path, kind=kind, tables=tables, checksums=checksums)


def _normalise(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for column in ("account_id", "model_id", "asset", "key", "lot_id", "factor", "asset_class"):
        if column in frame.columns:
            frame[column] = frame[column].astype(str)
    if "date" in frame.columns:
        frame["date"] = pd.to_datetime(frame["date"]).dt.normalize()
    return frame


def write_parquet(tables: dict[str, pd.DataFrame], folder: Path) -> Path:
    """Write ``tables`` as ``folder/<name>.parquet`` (each atomically); return the folder."""
    import os

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        tmp = folder / f".{name}.parquet.tmp"
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, folder / f"{name}.parquet")
    return folder


def write_duckdb(tables: dict[str, pd.DataFrame], file: Path) -> Path:
    """Write ``tables`` into a new DuckDB file (replacing it atomically); return its path."""
    import os

    import duckdb

    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.name}.tmp")
    if tmp.exists():
        tmp.unlink()
    with duckdb.connect(str(tmp)) as con:
        for name, frame in tables.items():
            con.register("frame_view", frame)
            con.execute(f'create table "{name}" as select * from frame_view')
            con.unregister("frame_view")
    os.replace(tmp, file)
    return file
