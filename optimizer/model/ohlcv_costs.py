"""Per-asset trading costs estimated from daily bars (high, low, close, volume).

* **Half spread**: the Corwin & Schultz (2012) high-low estimator ("A Simple Way to
  Estimate Bid-Ask Spreads from Daily High and Low Prices", *Journal of Finance* 67(2),
  719-760). For two consecutive days ``t, t+1`` (after the paper's overnight adjustment:
  if day ``t+1``'s low is above day ``t``'s close, both of day ``t+1``'s high and low are
  lowered by the gap; if its high is below the close, both are raised by the gap)::

      beta  = ln(H_t / L_t) ** 2 + ln(H_{t+1} / L_{t+1}) ** 2
      gamma = ln(max(H_t, H_{t+1}) / min(L_t, L_{t+1})) ** 2
      k     = 3 - 2 * sqrt(2)
      alpha = (sqrt(2 * beta) - sqrt(beta)) / k - sqrt(gamma / k)
      S     = 2 * (exp(alpha) - 1) / (1 + exp(alpha))     (full spread, fraction of price)

  Negative two-day estimates are set to 0 (the paper's main variant), the estimate of an
  asset is the mean over its pairs, and the half spread is ``max(S / 2, floor)``.
* **ADV**: the mean of ``volume x close`` (USD per day) over the last ``adv_window`` dates.

Only the bars passed in are used: pass bars that end before a test window to keep the
costs free of look-ahead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.model.costs import CostModel

#: ``3 - 2 sqrt(2)``, the constant of the Corwin-Schultz alpha.
_K = 3.0 - 2.0 * np.sqrt(2.0)


def _wide(bars: pd.DataFrame, column: str) -> pd.DataFrame:
    return bars.pivot(index="date", columns="symbol", values=column).sort_index()


def corwin_schultz_spread(high: pd.DataFrame, low: pd.DataFrame, close: pd.DataFrame) -> pd.DataFrame:
    """Two-day Corwin-Schultz full-spread estimates (fraction of price), dates x assets.

    Row ``t`` holds the estimate from days ``t-1`` and ``t`` (the first row is NaN), after the
    overnight adjustment and with negative estimates set to 0; a pair with a missing or
    non-positive high or low is NaN.
    """
    if not (high.shape == low.shape == close.shape):
        raise InputError("bars", "high, low and close must have the same dates and assets")
    h, lo, c = (frame.astype(float) for frame in (high, low, close))
    prev_close = c.shift(1)
    up_gap = (lo - prev_close).clip(lower=0.0)          # today's low above yesterday's close
    down_gap = (prev_close - h).clip(lower=0.0)         # today's high below yesterday's close
    shift = (down_gap - up_gap).fillna(0.0)
    h_adj, lo_adj = h + shift, lo + shift
    h_prev, lo_prev = h.shift(1), lo.shift(1)
    valid = (h_prev > 0) & (lo_prev > 0) & (h_adj > 0) & (lo_adj > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = np.log(h_prev / lo_prev) ** 2 + np.log(h_adj / lo_adj) ** 2
        gamma = np.log(np.maximum(h_prev, h_adj) / np.minimum(lo_prev, lo_adj)) ** 2
        alpha = (np.sqrt(2.0 * beta) - np.sqrt(beta)) / _K - np.sqrt(gamma / _K)
        spread = 2.0 * (np.exp(alpha) - 1.0) / (1.0 + np.exp(alpha))
    return spread.clip(lower=0.0).where(valid)


def costs_from_ohlcv(bars: pd.DataFrame, *, end: str | pd.Timestamp | None = None, floor: float = 1e-4,
                     adv_window: int = 63, commission: float = 0.0001, impact_eta: float = 1.0) -> CostModel:
    """A :class:`CostModel` with per-asset half spread and ADV from daily bars before ``end``.

    Parameters
    ----------
    bars:
        Long format with columns ``date symbol high low close volume`` (as
        :func:`optimizer.datasets.load_sp500_100_ohlcv`): prices in USD, volume in shares.
    end:
        Only bars dated strictly before ``end`` are used (``None``: all).
    floor:
        Smallest half spread, fraction of traded value (1e-4 = 1 bp).
    adv_window:
        Dates of the trailing mean dollar volume (the last ones before ``end``).
    commission, impact_eta:
        Passed to the :class:`CostModel` (commission a fraction of traded value).

    Returns
    -------
    CostModel
        ``half_spread`` and ``adv_usd`` are Series over the bars' symbols.
    """
    missing = {"date", "symbol", "high", "low", "close", "volume"} - set(bars.columns)
    if missing:
        raise InputError("bars", f"missing columns {sorted(missing)}")
    if floor < 0 or adv_window < 1:
        raise InputError("floor", "floor must be >= 0 and adv_window >= 1")
    if end is not None:
        bars = bars[bars["date"] < pd.Timestamp(end)]
    if bars.empty:
        raise InputError("bars", f"no bars before {end}")
    high, low, close = _wide(bars, "high"), _wide(bars, "low"), _wide(bars, "close")
    spread = corwin_schultz_spread(high, low, close).mean()
    half_spread = (spread / 2.0).fillna(floor).clip(lower=floor).rename("half_spread")
    dollar_volume = (_wide(bars, "volume") * close).tail(adv_window).mean()
    if not (dollar_volume > 0).all():
        bad = dollar_volume.index[~(dollar_volume > 0)][0]
        raise InputError("bars", "no positive dollar volume in the ADV window", asset=str(bad))
    return CostModel(half_spread=half_spread, commission=commission, adv_usd=dollar_volume.rename("adv_usd"),
                     impact_eta=impact_eta)
