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
``untradeable`` (optional; one row per account and untradeable holding)
    ``account_id``, ``asset``, ``value_usd`` (>= 0, counts in NAV and exposures, never
    traded), optional ``asset_class`` (its exposure key; default: the market's class of
    the asset, else the asset itself).
``overlay_instruments`` (optional; one row per instrument and exposure key)
    ``name``, ``multiplier``, ``price``, ``key``, ``beta`` (exposure per unit notional),
    optional ``date`` (rows of the run date are used), ``initial_margin``,
    ``cost_per_contract_usd``, ``max_notional_usd``, ``holding_cost`` (see
    :class:`optimizer.OverlayInstrument`).
``overlay_positions`` (optional; one row per account and instrument it may use)
    ``account_id``, ``instrument`` (a ``name`` above), ``contracts`` (held now; 0 = none
    yet but allowed).
``recent_buys`` (optional; purchases of the last weeks, held or already sold)
    ``account_id``, ``asset``, ``lot_id`` (may be empty), ``acquired`` (date): a loss sale
    of the asset (or a substantially identical one) within the wash-sale window is blocked.
``recent_loss_sales`` (optional; one row per account and asset)
    ``account_id``, ``asset``, ``sold`` (date of the latest sale at a loss): buying the
    asset back within the wash-sale window is blocked.

``accounts`` may also carry ``realized_gain_usd`` (net gain realized so far this tax
year), ``overdraft_usd`` and ``currency`` (code written on the account's orders,
default ``USD``).

Households: ``accounts`` may carry ``household_id`` (accounts sharing it are rebalanced as
one program toward their common model, :func:`optimizer.household.rebalance_household`;
empty = the account is alone) and ``account_kind`` (``taxable``, the default;
``deferred``: traditional IRA / 401k, no tax on trades, withdrawals taxed at the household's
``short_term_rate``; ``exempt``: Roth). Members of one household share ``model_id``, the
settings columns and ``currency``; its taxable members share their tax rates (those are the
household's; with no taxable member, the first member's rates stand for the withdrawal
rate). A lone ``deferred`` or ``exempt`` account is solved with tax rates 0. Cash never
moves between members, each member has its own rows in every output table, and the
wash-sale rule spans them (a loss sold in a taxable member blocks the IRA's buy). Asset
location: ``market`` may carry ``tax_drag`` (per asset, fraction of value a year lost to tax
on its income in a taxable account; empty = 0) and ``accounts`` ``cash_tax_drag`` (the same
for cash; shared by a household's members), see :class:`optimizer.household.Household`.

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

TABLES = ("accounts", "lots", "models", "restrictions", "market", "risk", "factor_cov", "untradeable",
          "overlay_instruments", "overlay_positions", "recent_buys", "recent_loss_sales")
OPTIONAL_TABLES = ("restrictions", "untradeable", "overlay_instruments", "overlay_positions", "recent_buys",
                   "recent_loss_sales")
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": ("account_id", "model_id", "cash_usd", "cash_flow_usd", "short_term_rate", "long_term_rate"),
    "lots": ("account_id", "lot_id", "asset", "quantity", "cost_basis", "acquired"),
    "models": ("model_id", "key", "weight", "band_lower", "band_upper", "cash_weight"),
    "restrictions": ("account_id", "asset"),
    "market": ("date", "asset", "price", "asset_class", "volatility", "adv_usd", "half_spread", "commission"),
    "risk": ("date", "key", "specific_var"),
    "factor_cov": ("date", "factor"),
    "untradeable": ("account_id", "asset", "value_usd"),
    "overlay_instruments": ("name", "multiplier", "price", "key", "beta"),
    "overlay_positions": ("account_id", "instrument", "contracts"),
    "recent_buys": ("account_id", "asset", "lot_id", "acquired"),
    "recent_loss_sales": ("account_id", "asset", "sold"),
}
#: Optional columns of tables (besides the factor columns of ``risk`` and ``factor_cov``).
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": ("risk_aversion", "min_cash_weight", "solvers", "realized_gain_usd", "overdraft_usd", "currency",
                 "household_id", "account_kind", "cash_tax_drag"),
    "market": ("tax_drag",),
    "restrictions": ("no_buy", "no_sell", "no_trade", "allow_short", "max_trade_usd", "max_short_usd"),
    "untradeable": ("asset_class",),
    "overlay_instruments": ("date", "initial_margin", "cost_per_contract_usd", "max_notional_usd", "holding_cost"),
}
#: Empty stand-ins for optional tables a book does not have.
EMPTY_OPTIONAL = {"restrictions": ("account_id", "asset"), "untradeable": ("account_id", "asset", "value_usd"),
                  "overlay_positions": ("account_id", "instrument", "contracts"),
                  "recent_buys": ("account_id", "asset", "lot_id", "acquired"),
                  "recent_loss_sales": ("account_id", "asset", "sold")}


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
            tables[name] = _read_parquet(file)
            checksums[file.name] = sha256(file)
    else:
        import duckdb

        checksums[path.name] = sha256(path)
        try:
            with duckdb.connect(str(path), read_only=True) as con:
                present = {row[0] for row in
                           con.execute("select table_name from information_schema.tables").fetchall()}
                for name in TABLES:
                    if name not in present:
                        if name in OPTIONAL_TABLES:
                            continue
                        raise InputError(f"book.{name}", f"table is missing from {str(path)!r}")
                    tables[name] = con.execute(f'select * from "{name}"').df()
        except duckdb.Error as exc:
            raise InputError("book", f"{str(path)!r} is not a readable DuckDB file: "
                             f"{type(exc).__name__}: {str(exc)[:300]}") from None
    for name, columns in EMPTY_OPTIONAL.items():
        if name not in tables:
            tables[name] = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    for name, columns in REQUIRED_COLUMNS.items():
        if name not in tables:
            continue
        missing = [c for c in columns if c not in tables[name].columns]
        if missing:
            raise InputError(f"book.{name}", f"is missing column(s) {missing}")
    tables = {name: _normalise(name, frame) for name, frame in tables.items()}
    ids = tables["accounts"]["account_id"]
    if ids.duplicated().any():
        raise InputError("book.accounts.account_id", "appears more than once", asset=str(ids[ids.duplicated()].iloc[0]))
    return Book(path=path, kind=kind, tables=tables, checksums=checksums)


def _read_parquet(file: Path) -> pd.DataFrame:
    """One table; a file that is not Parquet (truncated, corrupt, another format) names itself."""
    import pyarrow

    try:
        return pd.read_parquet(file)
    except (pyarrow.ArrowException, OSError, ValueError) as exc:
        raise InputError(f"book.{file.stem}", f"{str(file)!r} is not a readable Parquet file: "
                         f"{type(exc).__name__}: {str(exc)[:300]}") from None


def _normalise(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for column in ("account_id", "model_id", "asset", "key", "factor", "asset_class", "instrument", "name"):
        if column in frame.columns:
            frame[column] = frame[column].astype(str)
    if "lot_id" in frame.columns:
        frame["lot_id"] = frame["lot_id"].where(frame["lot_id"].notna(), "").astype(str)
    if "date" in frame.columns:
        try:
            frame["date"] = pd.to_datetime(frame["date"]).dt.normalize()
        except (TypeError, ValueError) as exc:
            raise InputError(f"book.{name}.date", f"holds a value that is not a date: {exc}") from None
    return frame


def write_parquet(tables: dict[str, pd.DataFrame], folder: Path) -> Path:
    """Write ``tables`` as ``folder/<name>.parquet`` (each atomically); return the folder."""
    from optimizer.files import write_with

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        write_with(folder / f"{name}.parquet", lambda tmp, frame=frame: frame.to_parquet(tmp, index=False))
    return folder


def write_duckdb(tables: dict[str, pd.DataFrame], file: Path) -> Path:
    """Write ``tables`` into a new DuckDB file (replacing it atomically); return its path."""
    import duckdb

    from optimizer.files import write_with

    def write(tmp: Path) -> None:
        with duckdb.connect(str(tmp)) as con:
            for name, frame in tables.items():
                con.register("frame_view", frame)
                con.execute(f'create table "{name}" as select * from frame_view')
                con.unregister("frame_view")

    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    return write_with(file, write)
