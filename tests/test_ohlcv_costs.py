"""Corwin-Schultz half spreads and ADV from daily bars (optimizer.model.ohlcv_costs)."""

import math

import numpy as np
import pandas as pd
import pytest

from optimizer.errors import InputError
from optimizer.model.ohlcv_costs import corwin_schultz_spread, costs_from_ohlcv

K = 3.0 - 2.0 * math.sqrt(2.0)


def _bars(rows):
    """rows: (day, symbol, high, low, close, volume)."""
    frame = pd.DataFrame(rows, columns=["date", "symbol", "high", "low", "close", "volume"])
    frame["date"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(frame["date"], unit="D")
    return frame


# Three days, each close inside the next day's range (no overnight adjustment).
TOY = _bars([(0, "X", 101.0, 99.0, 100.0, 1000), (1, "X", 101.2, 99.3, 100.5, 2000),
             (2, "X", 101.5, 100.0, 101.0, 3000)])


def test_three_day_toy_matches_hand_computed_corwin_schultz():
    # Pair 1: beta = ln(101/99)^2 + ln(101.2/99.3)^2 = 0.00075925, gamma = ln(101.2/99)^2 = 0.00048307,
    #   alpha = (sqrt(2 beta) - sqrt(beta)) / (3 - 2 sqrt 2) - sqrt(gamma / (3 - 2 sqrt 2)) = 0.0134606,
    #   S = 2 (e^alpha - 1) / (1 + e^alpha) = 0.0134604.
    # Pair 2: beta = ln(101.2/99.3)^2 + ln(101.5/100)^2 = 0.00058089, gamma = ln(101.5/99.3)^2 = 0.00048019,
    #   alpha = 0.0052835, S = 0.0052835.
    costs = costs_from_ohlcv(TOY, floor=1e-4, adv_window=2, commission=0.0, impact_eta=0.5)
    assert costs.half_spread["X"] == pytest.approx((0.0134604 + 0.0052835) / 4, rel=1e-4)
    assert costs.adv_usd["X"] == pytest.approx((2000 * 100.5 + 3000 * 101.0) / 2)   # last two days
    assert costs.impact_eta == 0.5 and costs.commission == 0.0


def test_overnight_gap_is_removed_and_negative_estimates_clip_to_zero_then_floor():
    # Day 1's low (101) is 1 above day 0's close (100): day 1 becomes H 102, L 100 and
    # beta = ln(101/99)^2 + ln(102/100)^2, gamma = ln(102/99)^2 give S = -0.00412 -> 0.
    bars = _bars([(0, "Y", 101.0, 99.0, 100.0, 10), (1, "Y", 103.0, 101.0, 102.0, 10)])
    wide = {c: bars.pivot(index="date", columns="symbol", values=c) for c in ("high", "low", "close")}
    spread = corwin_schultz_spread(wide["high"], wide["low"], wide["close"])
    assert np.isnan(spread.iloc[0, 0]) and spread.iloc[1, 0] == 0.0
    beta = math.log(101 / 99) ** 2 + math.log(102 / 100) ** 2
    alpha = (math.sqrt(2 * beta) - math.sqrt(beta)) / K - math.sqrt(math.log(102 / 99) ** 2 / K)
    assert alpha < 0                                    # the unadjusted pair would differ: checked below
    unadjusted = bars.assign(close=[102.0, 102.0])      # close inside day 1's range: no adjustment
    wide_u = {c: unadjusted.pivot(index="date", columns="symbol", values=c) for c in ("high", "low", "close")}
    beta_u = math.log(101 / 99) ** 2 + math.log(103 / 101) ** 2
    alpha_u = (math.sqrt(2 * beta_u) - math.sqrt(beta_u)) / K - math.sqrt(math.log(103 / 99) ** 2 / K)
    expected_u = max(0.0, 2 * (math.exp(alpha_u) - 1) / (1 + math.exp(alpha_u)))
    assert corwin_schultz_spread(**{k: wide_u[k] for k in ("high", "low", "close")}).iloc[1, 0] == pytest.approx(
        expected_u, abs=1e-12)
    assert costs_from_ohlcv(bars, floor=2e-4).half_spread["Y"] == 2e-4


def test_end_excludes_later_bars_and_errors_are_typed():
    later = pd.concat([TOY, _bars([(3, "X", 150.0, 50.0, 100.0, 1e9)])], ignore_index=True)
    cut = costs_from_ohlcv(later, end=pd.Timestamp("2020-01-04"), adv_window=2)
    full = costs_from_ohlcv(TOY, adv_window=2)
    assert cut.half_spread["X"] == full.half_spread["X"] and cut.adv_usd["X"] == full.adv_usd["X"]
    with pytest.raises(InputError):
        costs_from_ohlcv(TOY.drop(columns="volume"))
    with pytest.raises(InputError):
        costs_from_ohlcv(TOY, end="2019-01-01")
