"""Slicing a schedule into per-period child orders."""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.errors import InputError

#: Columns of :func:`child_orders`.
CHILD_ORDER_COLUMNS = ("period", "start_time", "end_time", "side", "shares", "trade_shares", "remaining_shares")


def child_orders(schedule: object, *, whole_shares: bool = True) -> pd.DataFrame:
    """One child order per period of a schedule.

    Parameters
    ----------
    schedule : pandas.Series or ExecutionSchedule
        Holdings still to trade at each period boundary (shares, time-indexed), as returned
        by ``almgren_chriss``, ``twap``, ``vwap``, or an ``ExecutionSchedule`` (its
        ``holdings``). Positive holdings are sold down, negative ones bought back.
    whole_shares : bool, default True
        Round to whole shares. The cumulative path is rounded (not each slice), so the
        orders add up exactly to the parent order and a monotone schedule gives one-signed
        orders. Needs a whole number of shares at the start.

    Returns
    -------
    pandas.DataFrame
        One row per period: ``period`` (1..N), ``start_time``/``end_time`` (the index's
        unit), ``side`` ("sell", "buy" or "none"), ``shares`` (size, >= 0),
        ``trade_shares`` (signed, + buy / - sell, as trades elsewhere in the package) and
        ``remaining_shares`` (holdings still to trade after the order).

    Raises
    ------
    optimizer.errors.InputError
        ("schedule") if it is not a time-indexed Series of finite holdings, or, with
        ``whole_shares``, if it starts at a fractional number of shares.
    """
    holdings_series = getattr(schedule, "holdings", schedule)
    if not isinstance(holdings_series, pd.Series) or holdings_series.size < 2:
        raise InputError("schedule", "must be a time-indexed pandas Series of holdings with at least two points")
    path = holdings_series.to_numpy(dtype=float)
    if not np.isfinite(path).all():
        raise InputError("schedule", "holds a value that is not finite")
    if whole_shares:
        if abs(path[0] - round(path[0])) > 1e-9 * max(1.0, abs(path[0])):
            raise InputError("schedule", f"starts at {path[0]} shares, not a whole number; "
                                         "pass whole_shares=False for fractional orders")
        path = np.round(path)
    trade = np.diff(path)          # + buy (holdings to liquidate rise toward 0 from below), - sell
    side = np.where(trade < 0, "sell", np.where(trade > 0, "buy", "none"))
    times = np.asarray(holdings_series.index)
    return pd.DataFrame({
        "period": np.arange(1, trade.size + 1),
        "start_time": times[:-1],
        "end_time": times[1:],
        "side": side,
        "shares": np.abs(trade),
        "trade_shares": trade,
        "remaining_shares": path[1:],
    }, columns=list(CHILD_ORDER_COLUMNS))
