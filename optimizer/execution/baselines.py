"""Baseline schedules: TWAP (equal slices in time) and VWAP (slices in proportion to volume)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.execution import _checks


def _series(shares: float, trades: np.ndarray, horizon: float) -> pd.Series:
    holdings = shares - np.concatenate([[0.0], np.cumsum(trades)])
    holdings[0], holdings[-1] = shares, 0.0
    times = _checks.boundary_times(horizon, trades.size)
    return pd.Series(holdings, index=pd.Index(times, name="time"), name="holdings_shares")


def twap(shares: float, periods: int, horizon: float | None = None) -> pd.Series:
    """Time-weighted schedule: the same number of shares in each of ``periods`` periods.

    Parameters
    ----------
    shares : float
        The position to liquidate, shares (negative: a short bought back / a buy program).
    periods : int
        N >= 1 equal periods.
    horizon : float, optional
        T in the time unit of the index (default N: one unit per period, e.g. days).

    Returns
    -------
    pandas.Series
        Holdings at t_0..t_N, shares, from ``shares`` to 0 on a straight line.
    """
    shares = _checks.nonzero_shares("shares", shares)
    periods = _checks.period_count("periods", periods)
    horizon = float(periods) if horizon is None else _checks.positive("horizon", horizon)
    return _series(shares, np.full(periods, shares / periods), horizon)


def vwap(shares: float, volume_profile: object, horizon: float | None = None) -> pd.Series:
    """Volume-weighted schedule: period k trades shares x volume_k / sum(volume).

    Parameters
    ----------
    shares : float
        The position to liquidate, shares (negative: a buy program).
    volume_profile : array-like of shape (N,)
        Forecast market volume per period (shares, or any unit: only proportions matter);
        >= 0 with a positive total.
    horizon : float, optional
        T (default N: one time unit per period).

    Returns
    -------
    pandas.Series
        Holdings at t_0..t_N, shares, from ``shares`` to 0.
    """
    shares = _checks.nonzero_shares("shares", shares)
    raw = volume_profile.to_numpy() if hasattr(volume_profile, "to_numpy") else volume_profile
    try:
        size = np.asarray(raw, dtype=float).reshape(-1).size
    except (TypeError, ValueError) as error:
        raise InputError("volume_profile", f"must hold numbers: {error}") from error
    if size < 1:
        raise InputError("volume_profile", "needs at least one period")
    volume = _checks.per_period("volume_profile", volume_profile, size, strictly_positive=False)
    total = float(volume.sum())
    if total <= 0.0:
        raise InputError("volume_profile", "total volume must be > 0")
    horizon = float(size) if horizon is None else _checks.positive("horizon", horizon)
    return _series(shares, shares * volume / total, horizon)
