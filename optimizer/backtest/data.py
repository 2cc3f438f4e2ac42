"""Validation of the price history a backtest steps through.

Prices are **total-return** price indices (dividends and coupons reinvested), so the
simulator books no explicit dividends: a holding's value is ``shares * price``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.backtest.errors import CalendarError, PriceDataError


def check_prices(prices: pd.DataFrame, *, fill: str = "none") -> pd.DataFrame:
    """Return a clean float copy of ``prices`` (dates x assets) or raise a typed error.

    Parameters
    ----------
    prices:
        Total-return price index per asset, account currency per share, > 0; index of
        strictly increasing dates.
    fill:
        ``"none"`` (default): a NaN anywhere raises :class:`PriceDataError`.
        ``"ffill"``: carry the last price over gaps (explicitly asked for); a leading NaN
        still raises.
    """
    if not isinstance(prices, pd.DataFrame):
        raise PriceDataError("prices", f"expected a pandas DataFrame, got {type(prices).__name__}")
    if prices.empty or prices.shape[1] == 0:
        raise PriceDataError("prices", "is empty")
    if fill not in ("none", "ffill"):
        raise PriceDataError("fill", f"is {fill!r}; use 'none' or 'ffill'")
    try:
        index = pd.DatetimeIndex(prices.index)
    except (TypeError, ValueError):
        raise CalendarError("prices.index", "is not a calendar of dates") from None
    if index.has_duplicates:
        raise CalendarError("prices.index", "repeats a date", date=index[index.duplicated()][0])
    if not index.is_monotonic_increasing:
        bad = int(np.argmax(np.diff(index.asi8) < 0)) + 1
        raise CalendarError("prices.index", "is not sorted in time", date=index[bad])
    columns = [str(c) for c in prices.columns]
    if len(set(columns)) != len(columns):
        raise PriceDataError("prices.columns", "names an asset twice")
    frame = pd.DataFrame(prices.to_numpy(dtype=float), index=index, columns=columns)
    if fill == "ffill":
        frame = frame.ffill()
    values = frame.to_numpy()
    missing = np.isnan(values)
    if missing.any():
        row, col = np.argwhere(missing)[0]
        raise PriceDataError("prices", "has a gap (NaN); pass fill='ffill' to carry prices over gaps",
                             asset=columns[col], date=index[row])
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise PriceDataError("prices", f"is {values[row, col]!r}; prices must be positive and finite",
                             asset=columns[col], date=index[row])
    return frame


def align_series(series: pd.Series | None, calendar: pd.DatetimeIndex, field: str, *,
                 fill_value: float | None = None) -> np.ndarray | None:
    """Put a dated series on ``calendar``.

    With ``fill_value`` None every calendar date must be present (a level series such as
    the cash index); otherwise dates missing from the series take ``fill_value`` (a flow
    schedule) but a series date that is not on the calendar raises :class:`CalendarError`.
    """
    if series is None:
        return None
    index = pd.DatetimeIndex(series.index)
    if index.has_duplicates:
        raise CalendarError(field, "repeats a date", date=index[index.duplicated()][0])
    values = pd.Series(series.to_numpy(dtype=float), index=index)
    off = index.difference(calendar)
    if len(off):
        raise CalendarError(field, "has a date that is not on the price calendar", date=off[0])
    if fill_value is None:
        missing = calendar.difference(index)
        if len(missing):
            raise CalendarError(field, "has no value for a price date", date=missing[0])
        out = values.reindex(calendar).to_numpy()
        bad = ~np.isfinite(out) | (out <= 0)
        if bad.any():
            raise PriceDataError(field, f"is {out[bad.argmax()]!r}; it must be positive and finite",
                                 date=calendar[bad.argmax()])
        return out
    out = values.reindex(calendar, fill_value=fill_value).to_numpy()
    if not np.all(np.isfinite(out)):
        raise PriceDataError(field, "has a NaN or infinite amount", date=calendar[(~np.isfinite(out)).argmax()])
    return out
