"""Signals for tactical policies: hand-computed values and no look-ahead."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.errors import InputError
from optimizer.policies import signals

DATES = pd.bdate_range("2020-01-01", periods=40)


def test_momentum_is_the_return_between_lookback_and_skip_rows_ago():
    prices = pd.Series(np.arange(1.0, 41.0), index=DATES)       # p[t] = t + 1
    mom = signals.momentum(prices, lookback=10, skip=3)
    # hand: p[t-3] / p[t-10] - 1 = (t - 2) / (t - 9) - 1
    for t in (10, 20, 39):
        assert mom.iloc[t] == pytest.approx((t - 2) / (t - 9) - 1)
    assert mom.iloc[:10].isna().all()


def test_moving_average_gap_by_hand():
    prices = pd.Series([10.0, 11.0, 12.0, 9.0, 13.0], index=DATES[:5])
    gap = signals.moving_average_gap(prices, window=3)
    assert gap.iloc[:2].isna().all()
    assert gap.iloc[2] == pytest.approx(12 / 11 - 1)
    assert gap.iloc[3] == pytest.approx(9 / ((11 + 12 + 9) / 3) - 1)
    assert gap.iloc[4] == pytest.approx(13 / ((12 + 9 + 13) / 3) - 1)


def test_realized_volatility_is_annualised_sample_std_of_returns():
    rng = np.random.default_rng(1)
    prices = pd.Series(100 * np.cumprod(1 + rng.normal(0, 0.01, 40)), index=DATES)
    vol = signals.realized_volatility(prices, window=10, periods_per_year=252)
    r = prices.to_numpy()[1:] / prices.to_numpy()[:-1] - 1
    assert vol.iloc[10] == pytest.approx(np.std(r[0:10], ddof=1) * np.sqrt(252))
    assert vol.iloc[39] == pytest.approx(np.std(r[29:39], ddof=1) * np.sqrt(252))
    assert vol.iloc[:10].isna().all()


def test_drawdown_and_rising_by_hand():
    prices = pd.Series([100.0, 110.0, 99.0, 88.0, 121.0], index=DATES[:5])
    assert list(signals.drawdown(prices)) == pytest.approx([0, 0, -0.1, -0.2, 0])
    assert list(signals.drawdown(prices, window=2)) == pytest.approx([0, 0, -0.1, 88 / 99 - 1, 0])
    level = pd.Series([10.0, 12.0, 11.0, 13.0, 11.9], index=DATES[:5])
    # rising: above the mean of the previous two values
    assert list(signals.rising(level, lag=2)) == [False, False, False, True, False]


def test_external_level_is_read_as_of_the_date_only():
    level = pd.Series([20.0, 25.0, 30.0, 22.0], index=DATES[[0, 1, 3, 4]])
    assert list(signals.level_asof(level, DATES[2], rows=5)) == [20.0, 25.0]   # the gap date sees no later value
    assert signals.level_rising(level, DATES[3], lag=2)          # 30 > (20 + 25) / 2
    assert not signals.level_rising(level, DATES[4], lag=2)      # 22 < (25 + 30) / 2
    assert not signals.level_rising(level, DATES[1], lag=2)      # too little history: not rising
    assert len(signals.level_asof(level, DATES[0] - pd.Timedelta(days=1))) == 0


def test_bad_windows_are_refused():
    prices = pd.Series([1.0, 2.0])
    with pytest.raises(InputError, match="skip"):
        signals.momentum(prices, lookback=5, skip=5)
    with pytest.raises(InputError, match="window"):
        signals.moving_average_gap(prices, window=1)
    with pytest.raises(InputError, match="lag"):
        signals.rising(prices, lag=0)


SIGNALS = [
    lambda p: signals.momentum(p, 12, 3),
    lambda p: signals.moving_average_gap(p, 5),
    lambda p: signals.realized_volatility(p, 4),
    lambda p: signals.drawdown(p),
    lambda p: signals.drawdown(p, 6),
    lambda p: signals.rising(signals.realized_volatility(p, 4), 3),
]


@settings(max_examples=25, deadline=None)
@given(returns=st.lists(st.floats(-0.2, 0.2), min_size=25, max_size=40), cut=st.integers(0, 24),
       shock=st.floats(-0.5, 0.5))
def test_no_signal_looks_ahead(returns, cut, shock):
    """A signal on date t is the same whatever the prices after t are."""
    values = 100 * np.cumprod(1 + np.array(returns))
    prices = pd.DataFrame({"A": values, "B": values[::-1]}, index=pd.bdate_range("2021-01-01", periods=len(values)))
    changed = prices.copy()
    changed.iloc[cut + 1:] *= 1 + shock                      # a different future
    for signal in SIGNALS:
        full = signal(prices).iloc[:cut + 1]
        pd.testing.assert_frame_equal(signal(changed).iloc[:cut + 1], full)
        pd.testing.assert_frame_equal(signal(prices.iloc[:cut + 1]), full)
