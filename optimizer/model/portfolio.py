"""An account's holdings: tax lots, cash, untradeable positions and overlay contracts."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.model._checks import as_series, finite, finite_number, is_missing, is_number, nonnegative, str_labels, timestamp

LOT_COLUMNS = ("lot_id", "asset", "quantity", "cost_basis", "acquired")
RECENT_BUY_COLUMNS = ("asset", "lot_id", "acquired")


def _empty_series() -> pd.Series:
    return pd.Series(dtype=float)


@dataclass(frozen=True)
class Portfolio:
    """Holdings of one account.

    Parameters
    ----------
    lots:
        One row per tax lot with columns ``lot_id`` (unique), ``asset``, ``quantity``
        (shares, > 0), ``cost_basis`` (account currency **per share**, >= 0) and
        ``acquired`` (date the lot was bought).
    cash_usd:
        Cash in the account currency. Negative only within ``overdraft_usd``.
    untradeable_usd:
        Value of holdings that count in NAV and exposures but cannot trade
        (private funds, real estate), keyed by asset, in account currency.
    overlay_contracts:
        Futures / swap contracts held, keyed by instrument name (signed, whole or not).
    recent_loss_sales:
        Date of the latest sale at a loss, keyed by asset; buying such an asset (or one
        substantially identical to it, ``TaxRules.identical_groups``) within the
        wash-sale window is blocked.
    recent_buys:
        Purchases of the last weeks, **held or already sold**, one row per buy with
        columns ``asset``, ``lot_id`` (the lot it opened; may be empty) and ``acquired``
        (date). A loss sale of an asset (or of a substantially identical one) within the
        wash-sale window after such a buy is blocked, except of the bought lot itself.
        Lots still held are read from ``lots`` too, so this only needs the buys whose
        lots were sold since.
    overdraft_usd:
        How far below zero ``cash_usd`` may be on input (>= 0).
    realized_gain_usd:
        Net capital gain realized so far in the tax year less losses carried in, account
        currency (negative: losses available to absorb gains). ``None`` (default): unknown,
        and every loss sold is assumed to offset other gains at full value.
    """

    lots: pd.DataFrame
    cash_usd: float = 0.0
    untradeable_usd: pd.Series = field(default_factory=_empty_series)
    overlay_contracts: pd.Series = field(default_factory=_empty_series)
    recent_loss_sales: pd.Series = field(default_factory=lambda: pd.Series(dtype="datetime64[ns]"))
    overdraft_usd: float = 0.0
    realized_gain_usd: float | None = None
    recent_buys: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(RECENT_BUY_COLUMNS)))

    def __post_init__(self) -> None:
        if self.realized_gain_usd is not None:
            object.__setattr__(self, "realized_gain_usd", finite_number(self.realized_gain_usd, "realized_gain_usd"))
        object.__setattr__(self, "lots", _validated_lots(self.lots))
        overdraft = finite_number(self.overdraft_usd, "overdraft_usd", minimum=0.0)
        cash = finite_number(self.cash_usd, "cash_usd")
        if cash < -overdraft:
            raise InputError("cash_usd", f"is {cash:,.2f}, below the allowed overdraft of {overdraft:,.2f}")
        object.__setattr__(self, "cash_usd", cash)
        object.__setattr__(self, "overdraft_usd", overdraft)
        untradeable = as_series(self.untradeable_usd, "untradeable_usd")
        nonnegative(untradeable, "untradeable_usd")
        both = set(untradeable.index) & set(self.lots["asset"])
        if both:
            raise InputError("untradeable_usd", "is also held in tax lots; an asset is either tradeable or not",
                             asset=sorted(both)[0])
        object.__setattr__(self, "untradeable_usd", untradeable)
        contracts = as_series(self.overlay_contracts, "overlay_contracts")
        finite(contracts, "overlay_contracts")
        object.__setattr__(self, "overlay_contracts", contracts)
        object.__setattr__(self, "recent_loss_sales", _dates_by_asset(self.recent_loss_sales, "recent_loss_sales"))
        object.__setattr__(self, "recent_buys", _validated_recent_buys(self.recent_buys))

    @classmethod
    def trusted(cls, lots: pd.DataFrame, *, cash_usd: float, recent_loss_sales: pd.Series,
                recent_buys: pd.DataFrame, realized_gain_usd: float | None = None) -> "Portfolio":
        """A portfolio from data already in the form the constructor's checks leave it in;
        nothing is checked or copied.

        For a backtest ledger's own records, valid by construction, where checking every
        decision's lots would cost several times the solve of a small book. The caller
        promises what the constructor would otherwise check and normalise:

        * ``lots``: exactly the columns :data:`LOT_COLUMNS`, in that order, on a RangeIndex;
          ``lot_id`` (unique) and ``asset`` text, ``quantity`` (> 0) and ``cost_basis``
          (>= 0) finite floats, ``acquired`` a datetime column without a time zone;
        * ``cash_usd``: a finite number >= 0 (no overdraft);
        * ``recent_loss_sales``: a datetime Series indexed by text asset names;
        * ``recent_buys``: the columns ``asset``, ``lot_id`` (text, ``""`` for none) and
          ``acquired`` (datetime, no gaps), on a RangeIndex;
        * ``realized_gain_usd``: a finite number or None;
        * no untradeable holdings and no overlay contracts.

        Data that breaks a promise gives wrong answers instead of an :class:`InputError`: use
        the constructor for anything from outside the engine.
        """
        portfolio = object.__new__(cls)
        fields = {"lots": lots, "cash_usd": float(cash_usd), "untradeable_usd": _EMPTY_NAMED.copy(),
                  "overlay_contracts": _EMPTY_NAMED.copy(), "recent_loss_sales": recent_loss_sales,
                  "overdraft_usd": 0.0,
                  "realized_gain_usd": None if realized_gain_usd is None else float(realized_gain_usd),
                  "recent_buys": recent_buys}
        for name, value in fields.items():
            object.__setattr__(portfolio, name, value)
        return portfolio

    @property
    def quantity(self) -> pd.Series:
        """Shares held per asset (sum over lots)."""
        return self.lots.groupby("asset", sort=False)["quantity"].sum()

    def holdings_usd(self, prices: pd.Series) -> pd.Series:
        """Market value per asset, tradeable lots plus untradeable positions, account currency."""
        value = self.quantity * prices.reindex(self.quantity.index)
        return pd.concat([value, self.untradeable_usd])

    def nav_usd(self, prices: pd.Series, overlay_value_usd: float = 0.0) -> float:
        """Net asset value: holdings + cash (+ overlay mark-to-market not yet settled)."""
        return float(self.holdings_usd(prices).sum() + self.cash_usd + overlay_value_usd)


#: An empty amount-per-name Series as the constructor leaves ``untradeable_usd`` and
#: ``overlay_contracts`` by default (copied by :meth:`Portfolio.trusted`).
_EMPTY_NAMED = as_series(_empty_series(), "untradeable_usd")


def _validated_lots(lots: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(lots, pd.DataFrame):
        raise InputError("lots", f"expected a pandas DataFrame, got {type(lots).__name__}")
    missing = [c for c in LOT_COLUMNS if c not in lots.columns]
    if missing:
        raise InputError("lots", f"is missing column(s) {missing}; expected {list(LOT_COLUMNS)}")
    out = lots.loc[:, list(LOT_COLUMNS)].copy().reset_index(drop=True)
    for column in ("lot_id", "asset"):
        values = out[column]
        if pd.api.types.is_string_dtype(values.dtype) and not pd.api.types.is_object_dtype(values.dtype) \
                and not values.isna().any():
            continue  # a text column without gaps (the usual case): nothing to check one by one
        for i, value in enumerate(values):
            if is_missing(value) or isinstance(value, (bool, np.bool_)) or not isinstance(value, (str, int, np.integer)):
                raise InputError(f"lots.{column}", f"is {value!r}; expected a name",
                                 asset=_name(out["asset"].iloc[i]), lot=_name(out["lot_id"].iloc[i]))
    out["lot_id"] = out["lot_id"].astype(str)
    out["asset"] = out["asset"].astype(str)
    dup = out["lot_id"].duplicated()
    if dup.any():
        row = out[dup].iloc[0]
        raise InputError("lots.lot_id", "appears more than once", asset=row["asset"], lot=row["lot_id"])
    for column in ("quantity", "cost_basis"):
        if pd.api.types.is_bool_dtype(out[column].dtype) or not pd.api.types.is_numeric_dtype(out[column].dtype):
            for i, value in enumerate(out[column]):
                if not is_number(value):
                    raise InputError(f"lots.{column}", f"is {value!r} ({type(value).__name__}); expected a number",
                                     asset=out["asset"].iloc[i], lot=out["lot_id"].iloc[i])
        try:
            values = pd.to_numeric(out[column]).astype(float)
        except (TypeError, ValueError):
            raise InputError(f"lots.{column}", "must be numbers") from None
        bad = ~np.isfinite(values.to_numpy())
        if column == "quantity":
            bad |= values.to_numpy() <= 0
        else:
            bad |= values.to_numpy() < 0
        if bad.any():
            row = out[bad].iloc[0]
            rule = "a positive, finite number of shares" if column == "quantity" else "a finite basis >= 0 per share"
            raise InputError(f"lots.{column}", f"is {values[bad].iloc[0]!r}; it must be {rule}",
                             asset=row["asset"], lot=row["lot_id"])
        out[column] = values
    if pd.api.types.is_datetime64_any_dtype(out["acquired"].dtype):
        acquired = out["acquired"]
        if acquired.isna().any():
            row = out[acquired.isna()].iloc[0]
            raise InputError("lots.acquired", "is missing; expected a date", asset=row["asset"], lot=row["lot_id"])
    else:  # one by one: a number (20240628) is not a date, nor is free text
        acquired = pd.Series([timestamp(v, "lots.acquired", asset=a, lot=lot)
                              for v, a, lot in zip(out["acquired"], out["asset"], out["lot_id"])],
                             index=out.index, dtype="datetime64[ns]")
    if getattr(acquired.dt, "tz", None) is not None:
        acquired = acquired.dt.tz_convert(None)
    out["acquired"] = acquired
    return out


def _name(value) -> str | None:
    return None if is_missing(value) else str(value)


def _dates_by_asset(values, field: str) -> pd.Series:
    """A dict or Series asset -> date as a datetime Series (numbers and bad text refused)."""
    if isinstance(values, dict):
        values = pd.Series(values, dtype=object)
    if not isinstance(values, pd.Series):
        raise InputError(field, f"expected a pandas Series or a dict keyed by asset, got {type(values).__name__}")
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        out = values.copy()
    else:
        out = pd.Series([timestamp(v, field, asset=str(a)) for a, v in values.items()], index=values.index,
                        dtype="datetime64[ns]")
    out.index = str_labels(out.index)
    return out


def _validated_recent_buys(buys: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(buys, pd.DataFrame):
        raise InputError("recent_buys", f"expected a pandas DataFrame, got {type(buys).__name__}")
    missing = [c for c in ("asset", "acquired") if c not in buys.columns]
    if missing:
        raise InputError("recent_buys", f"is missing column(s) {missing}; expected {list(RECENT_BUY_COLUMNS)}")
    out = pd.DataFrame({"asset": buys["asset"].astype(str).to_numpy(),
                        "lot_id": (buys["lot_id"].fillna("").astype(str).to_numpy() if "lot_id" in buys.columns
                                   else [""] * len(buys))})
    if pd.api.types.is_datetime64_any_dtype(buys["acquired"].dtype):
        acquired = buys["acquired"].reset_index(drop=True)
    else:  # one by one: a number (20240628) is not a date
        acquired = pd.Series([timestamp(v, "recent_buys.acquired", asset=str(a))
                              for v, a in zip(buys["acquired"], out["asset"])], dtype="datetime64[ns]")
    if acquired.isna().any():
        bad = acquired.isna().to_numpy()
        raise InputError("recent_buys.acquired", f"{buys['acquired'].to_numpy()[bad][0]!r} is not a date",
                         asset=out["asset"][bad].iloc[0])
    out["acquired"] = acquired
    return out


def check_lots_match_positions(lots: pd.DataFrame, positions: pd.Series, *, tolerance: float = 1e-6) -> None:
    """Raise :class:`InputError` where the lots of an asset do not add up to its stated position (shares)."""
    summed = lots.groupby("asset")["quantity"].sum()
    for asset, quantity in positions.items():
        have = float(summed.get(asset, 0.0))
        if abs(have - float(quantity)) > tolerance * max(1.0, abs(float(quantity))):
            raise InputError("lots.quantity", f"lots sum to {have:g} shares but the position is {float(quantity):g}",
                             asset=str(asset))
    extra = set(summed.index) - set(positions.index)
    if extra:
        raise InputError("lots.asset", "has lots but no stated position", asset=sorted(extra)[0])


def check_lots_dated_by(lots: pd.DataFrame, date: pd.Timestamp) -> None:
    """Raise :class:`InputError` for the first lot acquired after the decision ``date``."""
    late = lots["acquired"] > date
    if late.any():
        row = lots[late].iloc[0]
        raise InputError("lots.acquired", f"is {row['acquired'].date()}, after the decision date {date.date()}",
                         asset=str(row["asset"]), lot=str(row["lot_id"]))
