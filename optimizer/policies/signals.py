"""Market signals for tactical policies: trend, volatility, drawdown, an external level.

Pure functions on pandas. Every signal is causal: its value on date ``t`` uses prices (or
levels) up to and including ``t`` only, so ``f(prices.loc[:t]).iloc[-1] == f(prices).loc[t]``
(``tests/policies/test_signals.py`` checks it on random paths). Rows without enough
history are NaN; a policy treats NaN as "no signal".

``prices`` are price (or total-return) levels, dates x assets (a DataFrame) or one
series; returns are simple returns between consecutive rows. Windows and lags are in rows
(trading days for daily data).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.errors import InputError

#: Trading days in the 12-1 momentum look-back (twelve months) and its skipped month.
MOMENTUM_LOOKBACK = 252
MOMENTUM_SKIP = 21


def _rows(value: int, field: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(field, f"is {value!r}; a whole number of rows, at least {minimum}")
    return int(value)


def momentum(prices: pd.DataFrame | pd.Series, lookback: int = MOMENTUM_LOOKBACK,
             skip: int = MOMENTUM_SKIP) -> pd.DataFrame | pd.Series:
    """The "12-1" trend: return from ``lookback`` rows ago to ``skip`` rows ago (fraction).

    ``p[t - skip] / p[t - lookback] - 1``; the default skips the last month, whose
    short-term reversal would otherwise mask the trend (Jegadeesh and Titman 1993).
    """
    lookback = _rows(lookback, "lookback")
    skip = _rows(skip, "skip", minimum=0)
    if skip >= lookback:
        raise InputError("skip", f"is {skip}; it must be shorter than lookback ({lookback})")
    return prices.shift(skip) / prices.shift(lookback) - 1.0


def moving_average_gap(prices: pd.DataFrame | pd.Series, window: int = 200) -> pd.DataFrame | pd.Series:
    """Price relative to its trailing ``window``-row simple moving average, minus one (fraction).

    Positive: the price is above its average (an up-trend by the moving-average rule).
    """
    window = _rows(window, "window", minimum=2)
    return prices / prices.rolling(window, min_periods=window).mean() - 1.0


def realized_volatility(prices: pd.DataFrame | pd.Series, window: int = 21,
                        periods_per_year: float = 252.0) -> pd.DataFrame | pd.Series:
    """Annualised standard deviation of the last ``window`` returns (fraction; 0.2 = 20%)."""
    window = _rows(window, "window", minimum=2)
    if not (np.isfinite(periods_per_year) and periods_per_year > 0):
        raise InputError("periods_per_year", f"is {periods_per_year!r}; it must be positive")
    returns = prices / prices.shift(1) - 1.0
    return returns.rolling(window, min_periods=window).std() * np.sqrt(periods_per_year)


def drawdown(prices: pd.DataFrame | pd.Series, window: int | None = None) -> pd.DataFrame | pd.Series:
    """Price relative to its running peak, minus one (fraction, <= 0).

    ``window`` limits the peak to the last ``window`` rows; ``None``: since the first row.
    """
    if window is None:
        peak = prices.cummax()
    else:
        peak = prices.rolling(_rows(window, "window"), min_periods=1).max()
    return prices / peak - 1.0


def rising(level: pd.DataFrame | pd.Series, lag: int = 5) -> pd.DataFrame | pd.Series:
    """True where ``level`` is above the mean of its previous ``lag`` values (a rising signal).

    NaN comparisons (too little history) are False: "not rising".
    """
    lag = _rows(lag, "lag")
    previous = level.shift(1).rolling(lag, min_periods=lag).mean()
    return level > previous


def level_asof(level: pd.Series, date: pd.Timestamp, rows: int = 1) -> np.ndarray:
    """The last ``rows`` values of a date-indexed ``level`` on or before ``date`` (oldest first).

    Fewer values come back when the series starts later; none when it starts after ``date``.
    This is how a policy reads an external series (e.g. the VIX) without look-ahead.
    """
    end = level.index.searchsorted(pd.Timestamp(date), side="right")
    return level.to_numpy(dtype=float)[max(0, end - rows):end]


def level_rising(level: pd.Series, date: pd.Timestamp, lag: int = 5) -> bool:
    """:func:`rising` of an external ``level`` on ``date``, from its values up to ``date``."""
    values = level_asof(level, date, lag + 1)
    if len(values) < lag + 1:
        return False
    return bool(values[-1] > values[:-1].mean())
