"""Tactical timing policies on hand-made price paths where the right behaviour is known.

A tiny zero-cost walker (``walk``) stands in for the simulator: it hands each policy the
state a frictionless book would have and applies its orders at that day's prices, so every
expected date and amount below is computed by hand from the path alone.
"""

import numpy as np
import pandas as pd
import pytest

from optimizer.backtest.simulator import BacktestConfig, Simulator
from optimizer.errors import InputError
from optimizer.model import RiskModel
from optimizer.model.costs import CostModel
from optimizer.policies import (Bands, MomentumFilteredBands, MomentumTilt, RiskTriggered, State, Threshold,
                                TrendSignal, VolatilityPacedBands, VolatilityPacing, VolatilitySignal)
from optimizer.policies.timing import TrimDelay, held_targets, tracking_error

ASSETS = ("A", "B")
TARGET = {"A": 0.5, "B": 0.5}
BANDS = Bands.absolute(0.05)


def path(a_returns, dates=None) -> pd.DataFrame:
    """A (moving by ``a_returns`` per day) and B (flat at 100)."""
    a = 100 * np.cumprod(np.r_[1.0, 1 + np.asarray(a_returns, dtype=float)])
    dates = pd.bdate_range("2021-01-04", periods=len(a)) if dates is None else dates
    return pd.DataFrame({"A": a, "B": np.full(len(a), 100.0)}, index=dates)


def state_at(prices: pd.DataFrame, k: int, shares: np.ndarray, cash: float = 0.0) -> State:
    p = prices.to_numpy()
    holdings = shares * p[k]
    return State(step=k, date=prices.index[k], assets=tuple(prices.columns), prices=p[k], holdings_usd=holdings,
                 cash_usd=cash, nav_usd=float(holdings.sum() + cash), flow_usd=0.0, volatility=np.zeros(p.shape[1]),
                 history=p[:k + 1], periods_per_year=252.0, ledger=None,
                 next_date=prices.index[k + 1] if k + 1 < len(prices) else None)


def walk(policy, prices: pd.DataFrame, nav: float = 1e6):
    """Frictionless run: ``[(k, trade_usd)]`` of every order and the weights after each date."""
    policy.start(tuple(prices.columns))
    p = prices.to_numpy()
    target = np.array([policy.target.get(a, 0.0) for a in prices.columns])
    shares = target * nav / p[0]
    cash = nav - (shares * p[0]).sum()
    trades, weights = [], []
    for k in range(len(prices)):
        orders = policy.decide(prices.index[k], state_at(prices, k, shares, cash))
        if orders is not None:
            trades.append((k, np.asarray(orders.trade_usd, dtype=float)))
            shares = shares + orders.trade_usd / p[k]
            cash -= float(np.sum(orders.trade_usd))
        h = shares * p[k]
        weights.append(h / (h.sum() + cash))
    return trades, np.array(weights)


def untraded_weight_a(prices: pd.DataFrame) -> np.ndarray:
    """A's weight in a 50/50 book never rebalanced (hand formula)."""
    g = prices["A"].to_numpy() / 100.0
    return g / (g + 1.0)


# --------------------------------------------------------------------------- momentum filter

# A rises 1% a day for 60 days (leaving its 55% band on day 21), then falls 1% a day.
RISE_FALL = path([0.01] * 60 + [-0.01] * 40)
TREND = TrendSignal("momentum", lookback=20, skip=5)


def hand_momentum(prices: pd.DataFrame, lookback: int, skip: int) -> np.ndarray:
    a = prices["A"].to_numpy()
    out = np.full(len(a), np.nan)
    out[lookback:] = a[lookback - skip:len(a) - skip] / a[:len(a) - lookback] - 1
    return out


def expected_trim_day(prices, strong: np.ndarray, cap_days: int) -> tuple[int, int]:
    """(first day above the band, day the trim happens) from the untraded path."""
    w = untraded_weight_a(prices)
    first = int(np.argmax(w > 0.55 + 1e-9))
    dates = prices.index
    for k in range(first, len(prices)):
        if not strong[k] or (dates[k] - dates[first]).days >= cap_days:
            return first, k
    raise AssertionError("the path never trims")


def test_plain_bands_trim_on_the_first_day_above_the_band():
    trades, _ = walk(Threshold(TARGET, BANDS), RISE_FALL)
    first, _ = expected_trim_day(RISE_FALL, np.zeros(len(RISE_FALL), dtype=bool), 10_000)
    assert trades[0][0] == first == 21


@pytest.mark.parametrize("cap_days", [365, 14, 0])
def test_trim_waits_while_the_trend_holds_and_never_beyond_the_cap(cap_days):
    mom = hand_momentum(RISE_FALL, 20, 5)
    first, trim = expected_trim_day(RISE_FALL, np.nan_to_num(mom) > 0, cap_days)
    policy = MomentumFilteredBands(TARGET, BANDS, trend=TREND, max_delay_days=cap_days)
    trades, weights = walk(policy, RISE_FALL)
    assert trades[0][0] == trim
    if cap_days == 365:
        assert trim > first + 30 and mom[trim] <= 0 < mom[trim - 1]     # resumed when the trend faded
    else:
        assert (RISE_FALL.index[trim] - RISE_FALL.index[first]).days >= cap_days
        assert (RISE_FALL.index[trim - 1] - RISE_FALL.index[first]).days < cap_days or trim == first
    w_before = untraded_weight_a(RISE_FALL)[trim]
    nav = 0.5e6 * (RISE_FALL["A"].iloc[trim] / 100 + 1)
    np.testing.assert_allclose(trades[0][1], [(0.5 - w_before) * nav, (w_before - 0.5) * nav], rtol=1e-9)
    assert weights[trim, 0] == pytest.approx(0.5)
    assert len([d for d, _ in policy.delays if d < RISE_FALL.index[trim]]) == trim - first


def test_moving_average_trend_by_hand():
    a = RISE_FALL["A"].to_numpy()
    ma = np.full(len(a), np.nan)
    ma[9:] = np.convolve(a, np.ones(10) / 10, mode="valid")
    strong = np.nan_to_num(a / ma - 1) > 0.02
    _, trim = expected_trim_day(RISE_FALL, strong, 365)
    policy = MomentumFilteredBands(TARGET, BANDS, trend=TrendSignal("moving_average", window=10, threshold=0.02),
                                   max_delay_days=365)
    trades, _ = walk(policy, RISE_FALL)
    assert trades[0][0] == trim


def test_a_waiting_asset_keeps_its_weight_while_the_rest_rebalances_around_it():
    w = np.array([0.62, 0.30, 0.08])
    target = np.array([0.5, 0.4, 0.1])
    held = np.array([True, False, False])
    t, lo, hi = held_targets(w, held, target, target - 0.05, target + 0.05)
    # the other two share the 38% left in proportion 4:1
    np.testing.assert_allclose(t, [0.62, 0.38 * 0.8, 0.38 * 0.2])
    np.testing.assert_allclose(lo, [0.62, 0.304 - 0.05, 0.076 - 0.05])
    np.testing.assert_allclose(hi, [0.62, 0.304 + 0.05, 0.076 + 0.05])


def test_trim_delay_episodes():
    delay = TrimDelay(10)
    d0 = pd.Timestamp("2021-01-04")
    yes, no = np.array([True]), np.array([False])
    assert delay.update(d0, yes, yes)[0]
    assert delay.update(d0 + pd.Timedelta(days=9), yes, yes)[0]
    assert not delay.update(d0 + pd.Timedelta(days=10), yes, yes)[0]      # the cap: released
    assert not delay.update(d0 + pd.Timedelta(days=11), yes, yes)[0]      # stays released this episode
    assert not delay.update(d0 + pd.Timedelta(days=12), yes, no)[0]       # trend fades: episode over
    assert delay.update(d0 + pd.Timedelta(days=13), yes, yes)[0]          # a new episode may wait again


# --------------------------------------------------------------------------- volatility pacing

# A falls 1% a day for 40 days (leaving its 45% band on day 21), then flat; the VIX rises
# by one point a day until day 25 and falls after.
FALL = path([-0.01] * 40 + [0.0] * 20)
VIX = pd.Series(np.where(np.arange(len(FALL)) <= 25, 20.0 + np.arange(len(FALL)), 45.0 - np.arange(len(FALL)) + 25),
                index=FALL.index)


def hand_paced_gaps(prices, rising, first, slow, nav=1e6):
    """A's buys per day from day ``first``: ``slow`` of the gap while ``rising[k]``, then all of
    the gap on the first day it is not rising (the episode ends there)."""
    a = prices["A"].to_numpy() / 100
    shares = np.array([0.5 * nav, 0.5 * nav / 100])          # A in units of its day-0 price, B at 100
    shares[0] = 0.5 * nav
    buys = {}
    for k in range(first, len(a)):
        h = shares * np.array([a[k], 100.0])
        gap = 0.5 * h.sum() - h[0]
        if gap <= 1e-6 * nav:
            break
        buy = gap * (slow if rising[k] else 1.0)
        buys[k] = buy
        shares = shares + np.array([buy / a[k], -buy / 100.0])
        if not rising[k]:
            break
    return buys


def test_buys_go_slowly_while_the_vix_rises_and_catch_up_when_it_falls():
    vix = VIX.to_numpy()
    rising = np.array([k >= 3 and vix[k] > vix[k - 3:k].mean() for k in range(len(vix))])
    first = int(np.argmax(untraded_weight_a(FALL) < 0.45 - 1e-9))
    expected = hand_paced_gaps(FALL, rising, first, 0.25)
    policy = VolatilityPacedBands(TARGET, BANDS, volatility=VolatilitySignal("level", level=VIX, lag=3), slow=0.25,
                                  min_drawdown=0.05, max_days=365)
    trades, weights = walk(policy, FALL)
    last = max(expected)
    got = {k: t[0] for k, t in trades if k <= last}
    assert sorted(got) == sorted(expected)
    for k in expected:
        assert got[k] == pytest.approx(expected[k], rel=1e-9)
    assert rising[first] and min(got) == first and got[first] < 0.3 * (0.5 - untraded_weight_a(FALL)[first]) * 1e6
    assert not rising[last] and weights[last, 0] == pytest.approx(0.5)
    for k, t in trades:                                   # sales fund the paced buys one for one
        assert t[1] == pytest.approx(-t[0])
    plain, _ = walk(Threshold(TARGET, BANDS), FALL)
    assert plain[0][0] == first and plain[0][1][0] > 3.9 * got[first]     # the plain bands buy it all at once


def test_pacing_never_lasts_beyond_max_days():
    always_rising = pd.Series(np.arange(len(FALL), dtype=float) + 10, index=FALL.index)
    policy = VolatilityPacedBands(TARGET, BANDS, volatility=VolatilitySignal("level", level=always_rising, lag=3),
                                  slow=0.25, max_days=7)
    trades, weights = walk(policy, FALL)
    first = trades[0][0]
    done = next(k for k, _ in trades if (FALL.index[k] - FALL.index[first]).days >= 7)
    assert all(k <= done for k, _ in trades[:trades.index(next(t for t in trades if t[0] == done)) + 1])
    assert weights[done, 0] == pytest.approx(0.5)
    assert all(pace == 0.25 for d, _, pace in policy.paced if (d - FALL.index[first]).days < 7)


def test_realized_volatility_signal_rises_with_the_size_of_moves():
    n = 40
    size = np.r_[np.linspace(0.002, 0.03, 25), np.linspace(0.03, 0.002, n - 25)]
    prices = path(size * (-1.0) ** np.arange(n))
    signal = VolatilitySignal("realized", window=5, lag=3)
    p = prices.to_numpy()
    r = p[1:, 0] / p[:-1, 0] - 1
    vol = np.array([np.std(r[k - 5:k], ddof=1) if k >= 5 else np.nan for k in range(1, n + 1)])  # vol on row k = vol[k-1]
    for k in (15, 20, 33, 38):
        hand = vol[k - 1] > np.mean(vol[k - 4:k - 1])
        assert signal.rising(prices.index[k], p[:k + 1], 252.0)[0] == hand
    assert signal.rising(prices.index[20], p[:21], 252.0)[0] and not signal.rising(prices.index[38], p[:39], 252.0)[0]


# --------------------------------------------------------------------------- risk trigger

COV = pd.DataFrame([[0.04, 0.002], [0.002, 0.0025]], index=list(ASSETS), columns=list(ASSETS))


def test_risk_trigger_fires_exactly_when_the_hand_computed_te_crosses():
    prices = path([0.004] * 60)
    threshold = 0.01
    w = untraded_weight_a(prices)
    te = np.abs(w - 0.5) * np.sqrt(0.04 - 2 * 0.002 + 0.0025)          # d = (delta, -delta)
    first = int(np.argmax(te > threshold))
    assert te[first - 1] <= threshold < te[first]
    policy = RiskTriggered(TARGET, threshold, risk=COV)
    trades, weights = walk(policy, prices)
    assert trades[0][0] == first and policy.triggers[0] == (prices.index[first], ("risk",))
    assert weights[first, 0] == pytest.approx(0.5)
    for date, value in policy.te_history[:first]:
        k = prices.index.get_loc(date)
        assert value == pytest.approx(te[k])


def test_risk_trigger_inner_trades_down_to_the_inner_te_and_accepts_a_risk_model():
    prices = path([0.004] * 60)
    risk = RiskModel.from_covariance(COV, 2)
    policy = RiskTriggered(TARGET, 0.01, trade_to="inner", inner_te=0.004, risk=risk)
    trades, weights = walk(policy, prices)
    k = trades[0][0]
    assert tracking_error(weights[k], np.array([0.5, 0.5]), COV.to_numpy()) == pytest.approx(0.004, rel=1e-6)


def test_band_and_calendar_triggers_beside_the_risk_trigger():
    prices = path([0.004] * 100)
    policy = RiskTriggered(TARGET, 0.5, bands=Bands.absolute(0.03), calendar="Q", risk=COV)
    trades, _ = walk(policy, prices)
    w = untraded_weight_a(prices)
    first_band = int(np.argmax(w > 0.53 + 1e-9))
    quarter_end = int(np.nonzero(prices.index.quarter[:-1] != prices.index.quarter[1:])[0][0])
    assert first_band < quarter_end and trades[0][0] == first_band
    assert quarter_end in [k for k, _ in trades]
    reasons = {r for _, fired in policy.triggers for r in fired}
    assert reasons == {"band", "calendar"}


def test_estimated_risk_model_is_ledoit_wolf_on_the_trailing_window():
    from optimizer.model.covariance import ledoit_wolf

    rng = np.random.default_rng(3)
    prices = pd.DataFrame(100 * np.cumprod(1 + rng.normal(0, [0.01, 0.003], (80, 2)), axis=0),
                          index=pd.bdate_range("2021-01-04", periods=80), columns=list(ASSETS))
    policy = RiskTriggered(TARGET, 0.9, lookback=40)          # never trades: the book drifts untouched
    walk(policy, prices)
    date, value = policy.te_history[-1]
    k = prices.index.get_loc(date)
    j = prices.index.get_loc(prices.index[prices.index.month == date.month][0])   # re-estimated on the month's first date
    window = prices.to_numpy()[:j + 1][-41:]
    cov = ledoit_wolf(window[1:] / window[:-1] - 1)[0] * 252
    holdings = 0.5e6 / prices.iloc[0].to_numpy() * prices.iloc[k].to_numpy()
    assert value == pytest.approx(tracking_error(holdings / holdings.sum(), np.array([0.5, 0.5]), cov), rel=1e-9)


def test_invalid_settings_are_typed_errors():
    with pytest.raises(InputError, match="te_threshold"):
        RiskTriggered(TARGET, 0.0)
    with pytest.raises(InputError, match="inner_te"):
        RiskTriggered(TARGET, 0.02, trade_to="inner")
    with pytest.raises(InputError, match="trend.kind"):
        TrendSignal("carry")
    with pytest.raises(InputError, match="volatility.level"):
        VolatilitySignal("level")
    with pytest.raises(InputError, match="fast"):
        VolatilityPacedBands(TARGET, BANDS, slow=0.5, fast=0.25)


# --------------------------------------------------------------------------- no look-ahead


@pytest.mark.parametrize("make", [
    lambda: MomentumFilteredBands(TARGET, BANDS, trend=TREND, max_delay_days=30),
    lambda: VolatilityPacedBands(TARGET, BANDS, volatility=VolatilitySignal("realized", window=5, lag=3)),
    lambda: VolatilityPacedBands(TARGET, BANDS, volatility=VolatilitySignal("level", level=VIX, lag=3)),
    lambda: RiskTriggered(TARGET, 0.01, lookback=30),
])
def test_changing_future_prices_does_not_change_todays_decisions(make):
    rng = np.random.default_rng(7)
    prices = path(rng.normal(-0.002, 0.02, len(FALL) - 1), dates=FALL.index)
    cut = 45
    changed = prices.copy()
    changed.iloc[cut + 1:, 0] *= 1.5
    config = BacktestConfig(costs=CostModel(stress=VIX * np.where(np.arange(len(VIX)) > cut, 3.0, 1.0)))
    base = Simulator(prices, BacktestConfig(costs=CostModel(stress=VIX))).run(make())
    other = Simulator(changed, config).run(make())
    assert base.events[:cut + 1].any()
    np.testing.assert_array_equal(base.traded_usd[:cut + 1], other.traded_usd[:cut + 1])
    np.testing.assert_array_equal(base.nav_usd[:cut + 1], other.nav_usd[:cut + 1])


# --------------------------------------------------------------------------- optimizer options


def test_momentum_tilt_raises_the_target_toward_the_weight_within_its_bound():
    prices = RISE_FALL.iloc[:50]
    k = 40
    w = np.array([untraded_weight_a(prices)[k], 1 - untraded_weight_a(prices)[k]])
    state = state_at(prices, k, np.array([0.5e6 / 100, 0.5e6 / 100]))
    np.testing.assert_allclose(state.weights, w)
    tilt = MomentumTilt(TREND, max_tilt=0.05, max_delay_days=30)
    tilt.start(ASSETS)
    view = tilt.adjust(prices.index[k], state, np.array([0.5, 0.5]))
    np.testing.assert_allclose(view.target, [0.55, 0.45])
    wide = MomentumTilt(TREND, max_tilt=0.5, max_delay_days=30)
    wide.start(ASSETS)
    np.testing.assert_allclose(wide.adjust(prices.index[k], state, np.array([0.5, 0.5])).target, w)
    later = state_at(RISE_FALL, k + 25, np.array([0.5e6 / 100, 0.5e6 / 100]))
    np.testing.assert_allclose(tilt.adjust(RISE_FALL.index[k + 25], later, np.array([0.5, 0.5])).target,
                               [0.5, 0.5])                # 35 calendar days later: past the cap


def test_volatility_pacing_caps_buys_at_slow_times_the_gap():
    k = 24
    state = state_at(FALL, k, np.array([0.5e6 / 100, 0.5e6 / 100]))
    pacing = VolatilityPacing(VolatilitySignal("level", level=VIX, lag=3), slow=0.2, max_days=60)
    pacing.start(ASSETS)
    view = pacing.adjust(FALL.index[k], state, np.array([0.5, 0.5]))
    w = state.weights
    assert view.buy_limit[0] == pytest.approx(0.2 * (0.5 - w[0])) and np.isinf(view.buy_limit[1])
    calm = state_at(FALL, 30, np.array([0.5e6 / 100, 0.5e6 / 100]))     # the VIX falls after day 25
    assert pacing.adjust(FALL.index[30], calm, np.array([0.5, 0.5])).buy_limit is None


def with_noise(prices: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """``prices`` times a small random walk (0.4% a day), so a risk model can be estimated."""
    rng = np.random.default_rng(seed)
    walk_ = np.cumprod(1 + rng.normal(0, 0.004, prices.shape), axis=0)
    walk_[0] = 1.0
    return prices * walk_


OPTIMIZER_COSTS = CostModel(half_spread=0.0, commission=0.0, impact_eta=0.0)
OPTIMIZER = dict(costs=OPTIMIZER_COSTS, every="D", lookback=20, risk_aversion=1e4, band_width=0.2,
                 min_trade_weight=0.0)


def test_optimizer_volatility_pacing_buys_within_slow_times_the_gap_while_the_vix_rises():
    from optimizer.policies import OptimizerPolicy

    config = BacktestConfig(costs=OPTIMIZER_COSTS)
    fall = with_noise(FALL).iloc[:29]
    pacing = VolatilityPacing(VolatilitySignal("level", level=VIX, lag=3), slow=0.25, max_days=365)
    paced = Simulator(fall, config).run(OptimizerPolicy(TARGET, tactics=(pacing,), **OPTIMIZER))
    plain = Simulator(fall, config).run(OptimizerPolicy(TARGET, **OPTIMIZER))
    vix = VIX.to_numpy()
    growth = fall.to_numpy()[1:] / fall.to_numpy()[:-1]
    checked = 0
    for k in range(20, 26):                         # A down 5% or more and the VIX rising: paced
        assert vix[k] > vix[k - 3:k].mean()
        before = paced.holdings_usd[k - 1] * growth[k - 1]
        gap = 0.5 * (before.sum() + paced.cash_usd[k - 1]) - before[0]
        bought = paced.holdings_usd[k, 0] - before[0]
        if gap > 0:
            assert 0 < bought <= 0.25 * gap * (1 + 1e-6) + 1.0
            checked += 1
    assert checked >= 4
    assert paced.holdings_usd[25, 0] / paced.nav_usd[25] < 0.49 < plain.holdings_usd[25, 0] / plain.nav_usd[25]
    assert paced.holdings_usd[27, 0] / paced.nav_usd[27] == pytest.approx(0.5, abs=0.005)   # VIX falling: caught up


def test_optimizer_momentum_tilt_keeps_a_trending_winner_at_the_tilted_target():
    from optimizer.policies import OptimizerPolicy

    config = BacktestConfig(costs=OPTIMIZER_COSTS)
    rise = with_noise(RISE_FALL).iloc[:46]
    tilt = MomentumTilt(TREND, max_tilt=0.05, max_delay_days=365)
    weekly = {**OPTIMIZER, "every": "W"}
    tilted = Simulator(rise, config).run(OptimizerPolicy(TARGET, tactics=(tilt,), **weekly))
    untilted = Simulator(rise, config).run(OptimizerPolicy(TARGET, **weekly))
    weeks = rise.index.isocalendar().week.to_numpy()
    k = max(i for i in range(45) if weeks[i] != weeks[i + 1])   # a decision date, A still trending up
    assert hand_momentum(rise, 20, 5)[k] > 0.05 and untraded_weight_a(rise)[k] > 0.6
    assert untilted.holdings_usd[k, 0] / untilted.nav_usd[k] == pytest.approx(0.5, abs=0.005)
    assert tilted.holdings_usd[k, 0] / tilted.nav_usd[k] == pytest.approx(0.55, abs=0.005)


def test_drawdown_signal_rises_while_the_fall_deepens():
    prices = path([-0.01] * 15 + [0.0] * 10)
    signal = VolatilitySignal("drawdown", window=30, lag=3)
    p = prices.to_numpy()
    assert signal.rising(prices.index[10], p[:11], 252.0)[0]          # new lows every day
    assert not signal.rising(prices.index[25], p[:26], 252.0)[0]      # flat for 10 days: depth unchanged
    assert not signal.rising(prices.index[10], p[:11], 252.0)[1]      # B never falls


@pytest.mark.parametrize("make, prices, crash_at", [
    (lambda: MomentumFilteredBands(TARGET, BANDS, trend=TREND, max_delay_days=30, name="m"), RISE_FALL, 40),
    (lambda: VolatilityPacedBands(TARGET, BANDS, volatility=VolatilitySignal("level", level=VIX, lag=3),
                                  max_days=365, name="v"), FALL, 23),
    (lambda: RiskTriggered(TARGET, 0.002, lookback=30, name="r"), with_noise(FALL, seed=5), 37),
])
def test_a_resumed_run_carries_on_mid_episode_exactly(tmp_path, make, prices, crash_at):
    """Delay, pacing and risk-model state survive a checkpoint (the crash falls inside an episode)."""
    from case_factories import Interrupt

    sim = Simulator(prices)
    full = sim.run(make())
    crashing = make()
    original = crashing.decide

    def decide(date, state):
        if state.step == crash_at:
            raise Interrupt
        return original(date, state)

    crashing.decide = decide
    path = tmp_path / "run.ckpt"
    with pytest.raises(Interrupt):
        sim.run(crashing, checkpoint_path=path, checkpoint_every=5)
    resumed = sim.run(make(), checkpoint_path=path, checkpoint_every=5)
    assert full.events.sum() >= 2
    for name in ("nav_usd", "holdings_usd", "traded_usd", "events"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(full, name), err_msg=name)
