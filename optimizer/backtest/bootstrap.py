"""Block-bootstrap confidence intervals for the paired difference of two daily series.

Two policies backtested on the same dates give two daily series (returns, costs per NAV,
active returns); their difference is autocorrelated (a band policy's drift persists for
weeks), so an iid bootstrap understates the uncertainty. Here days are resampled in
blocks, and the *same* blocks are drawn for both series, which keeps the pairing.

Method
------
* **Circular moving-block bootstrap** (Künsch 1989, "The jackknife and the bootstrap for
  general stationary observations", Ann. Statist. 17(3); circular wrapping: Politis &
  Romano 1992, "A circular block-resampling procedure for stationary data"). Each
  resample joins ``ceil(n / b)`` blocks of ``b`` consecutive days, starting at uniformly
  drawn days and wrapping past the end, truncated to ``n`` days. Wrapping makes every
  day equally likely, so the bootstrap distribution of a mean is centred on the sample
  mean (the plain moving-block bootstrap under-weights the first and last ``b - 1``
  days).
* **Block length** (:func:`politis_white_block_length`): the automatic rule of Politis &
  White 2004 ("Automatic block-length selection for the dependent bootstrap",
  Econometric Reviews 23(1)) with the correction of Patton, Politis & White 2009
  (Econometric Reviews 28(4)): ``b = (2 G^2 / D)^(1/3) n^(1/3)``, ``G = sum_k
  lambda(k/M) |k| R(k)``, ``D = 4/3 g(0)^2``, ``g(0) = sum_k lambda(k/M) R(k)`` with
  the flat-top window ``lambda`` and ``M = 2 m``, ``m`` the first lag after which
  ``K_n = max(5, sqrt(log10 n))`` sample autocorrelations are all below
  ``2 sqrt(log10(n) / n)``. It is applied to the statistic's influence series (the
  difference itself for a mean; centred squares for a standard deviation), rounded up,
  and kept within ``[1, min(3 sqrt(n), n / 3)]``. An explicit ``block_length`` overrides it.
* **Interval**: the percentile interval of the resampled statistic at ``level``
  (two-sided). A difference series that is constant (up to the rounding of the inputs,
  16 ulps of their largest value) has no sampling variation: its interval is the
  estimate, with zero width (resampled floating-point sums would otherwise differ in
  the last bits).

Seeded (``numpy.random.default_rng(seed)``): the same inputs and seed give the same
interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.errors import InputError

STATISTICS = ("mean", "std")
#: Resamples drawn per chunk (bounds memory at chunk x n indices).
CHUNK = 250


@dataclass(frozen=True)
class BootstrapInterval:
    """A statistic of the difference ``a - b`` and its block-bootstrap interval.

    Attributes
    ----------
    estimate:
        The statistic's difference on the full sample, ``stat(a) - stat(b)`` (for the
        mean: ``mean(a - b)``), times ``scale`` (e.g. 252 for an annual rate).
    low, high:
        Percentile interval at ``level``, same units as ``estimate``.
    level:
        Two-sided coverage, e.g. 0.95.
    block_length:
        Days per block used.
    n_resamples, n_obs, seed:
        Resamples drawn, days in the series, generator seed.
    """

    estimate: float
    low: float
    high: float
    level: float
    block_length: int
    n_resamples: int
    n_obs: int
    seed: int

    @property
    def significant(self) -> bool:
        """True if the interval excludes zero (both ends strictly on one side)."""
        return bool(self.low > 0 or self.high < 0)

    @property
    def width(self) -> float:
        return self.high - self.low


def politis_white_block_length(x: np.ndarray | pd.Series) -> float:
    """Automatic block length (days, unrounded, >= 1) for the circular block bootstrap.

    See the module docstring (Politis & White 2004, Patton, Politis & White 2009).
    A series without variance, or without significant autocorrelation at lag 1, gives
    1 (no dependence to keep).
    """
    values = _finite_array(x, "x")
    n = len(values)
    centred = values - values.mean()
    variance = float(centred @ centred) / n
    if n < 8 or variance <= 0:
        return 1.0
    max_lag = min(n - 1, math.ceil(math.sqrt(n)) + max(5, math.ceil(math.sqrt(math.log10(n)))))
    acov = np.array([float(centred[: n - k] @ centred[k:]) / n for k in range(max_lag + 1)])
    rho = acov / acov[0]
    k_n = max(5, math.ceil(math.sqrt(math.log10(n))))
    threshold = 2.0 * math.sqrt(math.log10(n) / n)
    m_hat = None
    for m in range(1, max_lag - k_n + 2):
        if np.all(np.abs(rho[m:m + k_n]) < threshold):
            m_hat = m - 1                  # last lag with a correlation that still counts
            break
    if m_hat is None:                       # correlations stay large at every lag checked
        m_hat = max_lag - k_n
    big_m = min(2 * max(m_hat, 1), max_lag)
    lags = np.arange(-big_m, big_m + 1)
    weights = _flat_top(lags / big_m)
    r = acov[np.abs(lags)]
    g = float(np.sum(weights * np.abs(lags) * r))
    g0 = float(np.sum(weights * r))
    if g0 <= 0 or g == 0:
        return 1.0
    d_cb = 4.0 / 3.0 * g0 ** 2
    block = (2.0 * g ** 2 / d_cb) ** (1.0 / 3.0) * n ** (1.0 / 3.0)
    return float(min(max(block, 1.0), 3.0 * math.sqrt(n), n / 3.0))


def _flat_top(t: np.ndarray) -> np.ndarray:
    """The trapezoidal flat-top lag window of Politis & Romano (1 to |t| = 1/2, 0 at |t| = 1)."""
    a = np.abs(t)
    return np.where(a <= 0.5, 1.0, np.where(a <= 1.0, 2.0 * (1.0 - a), 0.0))


def paired_difference_ci(a: np.ndarray | pd.Series, b: np.ndarray | pd.Series, *, statistic: str = "mean",
                         scale: float = 1.0, level: float = 0.95, n_resamples: int = 2000,
                         block_length: int | None = None, seed: int = 0) -> BootstrapInterval:
    """Block-bootstrap interval of ``stat(a) - stat(b)`` for two daily series on the same dates.

    Parameters
    ----------
    a, b:
        Paired daily observations, shape (n,) each (e.g. daily net returns, or daily cost
        as a NAV fraction, of two policies on the same calendar). Series are aligned on
        their index and must share it exactly.
    statistic:
        ``"mean"``: the mean daily difference (its interval is that of ``mean(a - b)``);
        ``"std"``: the difference of standard deviations (ddof=1), e.g. tracking error
        when ``a``, ``b`` are daily active returns.
    scale:
        Multiplies the estimate and interval: 252 annualises a daily mean, ``sqrt(252)``
        a daily standard deviation, ``252e4`` turns a daily NAV fraction into bp per year.
    level:
        Two-sided coverage, in (0, 1).
    n_resamples:
        Bootstrap resamples (>= 100).
    block_length:
        Days per block; ``None``: :func:`politis_white_block_length` of the statistic's
        influence series.
    seed:
        Seed of ``numpy.random.default_rng``.

    Raises
    ------
    InputError
        Unequal lengths or indexes, non-finite values, fewer than 3 days, an unknown
        statistic, or a level, resample count or block length out of range.
    """
    if statistic not in STATISTICS:
        raise InputError("statistic", f"is {statistic!r}; use one of {STATISTICS}")
    if not 0 < level < 1:
        raise InputError("level", f"is {level!r}; a coverage strictly between 0 and 1")
    if n_resamples < 100:
        raise InputError("n_resamples", f"is {n_resamples!r}; at least 100")
    if not (np.isfinite(scale) and scale > 0):
        raise InputError("scale", f"is {scale!r}; a positive multiplier")
    if isinstance(a, pd.Series) and isinstance(b, pd.Series) and not a.index.equals(b.index):
        raise InputError("b", "is not on the same dates as a (the pairing needs one calendar)")
    x, y = _finite_array(a, "a"), _finite_array(b, "b")
    if x.shape != y.shape:
        raise InputError("b", f"has {len(y)} observations; a has {len(x)}")
    n = len(x)
    if n < 3:
        raise InputError("a", f"has {n} observations; at least 3")
    if statistic == "mean":
        influence = x - y
        estimate = float(influence.mean())
        degenerate = _constant(influence, x, y)
    else:
        influence = (x - x.mean()) ** 2 - (y - y.mean()) ** 2
        estimate = float(x.std(ddof=1) - y.std(ddof=1))
        degenerate = _constant(x - y, x, y) or (np.ptp(x) == 0 and np.ptp(y) == 0)
    if block_length is None:
        block = math.ceil(politis_white_block_length(influence))
    else:
        if not (isinstance(block_length, (int, np.integer)) and 1 <= block_length <= n):
            raise InputError("block_length", f"is {block_length!r}; an integer from 1 to {n}")
        block = int(block_length)
    if degenerate:
        value = estimate * scale
        return BootstrapInterval(value, value, value, level, block, n_resamples, n, seed)
    rng = np.random.default_rng(seed)
    draws = np.empty(n_resamples)
    for start in range(0, n_resamples, CHUNK):
        count = min(CHUNK, n_resamples - start)
        index = circular_block_indices(n, block, count, rng)
        if statistic == "mean":
            draws[start:start + count] = (x - y)[index].mean(axis=1)
        else:
            draws[start:start + count] = x[index].std(axis=1, ddof=1) - y[index].std(axis=1, ddof=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(draws, [tail, 1.0 - tail])
    return BootstrapInterval(estimate * scale, float(low) * scale, float(high) * scale, level, block,
                             n_resamples, n, seed)


def circular_block_indices(n: int, block_length: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Day indices of ``n_resamples`` circular block resamples, shape (n_resamples, n).

    Each row joins blocks of ``block_length`` consecutive days (wrapping from day n-1 to
    day 0) that start at uniformly drawn days, truncated to ``n`` days.
    """
    blocks = -(-n // block_length)
    starts = rng.integers(0, n, size=(n_resamples, blocks))
    index = (starts[:, :, None] + np.arange(block_length)[None, None, :]) % n
    return index.reshape(n_resamples, blocks * block_length)[:, :n]


def _constant(difference: np.ndarray, x: np.ndarray, y: np.ndarray) -> bool:
    """True if ``difference`` is constant up to the rounding of its inputs (16 ulps of their largest value)."""
    magnitude = max(float(np.abs(x).max()), float(np.abs(y).max()))
    return bool(np.ptp(difference) <= 16 * np.finfo(float).eps * magnitude)


def _finite_array(x, field: str) -> np.ndarray:
    values = np.asarray(x, dtype=float)
    if values.ndim != 1:
        raise InputError(field, f"has shape {values.shape}; one value per day")
    if not np.all(np.isfinite(values)):
        raise InputError(field, "has NaN or infinite values (align and fill the calendars first)")
    return values
