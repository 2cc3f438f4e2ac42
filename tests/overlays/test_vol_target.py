"""Volatility targeting with index futures vs physical trades, on a path with a known volatility.

Asset A alternates +s / -s every day (s = 0.4% for 100 days, then 3%), B is flat and the
cash rate is 0, so the sample volatility over an even window is ``s * sqrt(n / (n - 1))``
exactly and the futures' fair value is A's price: the target scale has a closed form.
"""

import math

import numpy as np
import pandas as pd
import pytest

from optimizer.backtest import BacktestConfig, CostModel, Simulator
from optimizer.backtest.derivatives import OverlayConfig, OverlayMarket
from optimizer.errors import InputError
from optimizer.overlays import Future
from optimizer.overlays.policies import VolatilityTarget

CALM, STRESS, DAYS, LOOKBACK = 0.004, 0.03, 200, 20
TARGET = {"A": 0.6, "B": 0.3}
VOL_TARGET = 0.10
FA = Future("FA", "A", multiplier=10.0, initial_margin=0.05, maintenance_margin=0.04, cost_per_contract_usd=0.25)
COSTS = CostModel(half_spread=5e-4, commission=0.0, adv_usd=5e7, impact_eta=0.5, vol_window=20)


def path() -> pd.DataFrame:
    dates = pd.bdate_range("2019-01-01", periods=DAYS)
    s = np.where(np.arange(DAYS) <= 100, CALM, STRESS)
    returns = s * np.where(np.arange(DAYS) % 2 == 0, 1.0, -1.0)
    returns[0] = 0.0
    return pd.DataFrame({"A": 100.0 * np.cumprod(1.0 + returns), "B": np.full(DAYS, 50.0)}, index=dates)


def closed_form_scale(s: float) -> float:
    vol = TARGET["A"] * s * math.sqrt(LOOKBACK / (LOOKBACK - 1)) * math.sqrt(252)
    return min(1.5, VOL_TARGET / vol)


def run(instrument: str, **options):
    prices = path()
    config = BacktestConfig(initial_usd=1e6, tax_schedule="never", costs=COSTS,
                            overlay=OverlayConfig(futures=(FA,), gross_limit=1.0))
    market = OverlayMarket(underlying=prices[["A"]], rate=pd.Series(0.0, index=prices.index))
    options = {"scaled": ("A",), **options}
    policy = VolatilityTarget(TARGET, VOL_TARGET, lookback=LOOKBACK, instrument=instrument, **options)
    return Simulator(prices, config, overlay_market=market).run(policy), policy


@pytest.fixture(scope="module")
def runs():
    return {instrument: run(instrument) for instrument in ("futures", "physical")}


def test_scale_matches_the_closed_form_in_each_regime(runs):
    _, policy = runs["futures"]
    scales = pd.Series(dict(policy.scales))
    dates = path().index
    assert scales[dates[60]] == pytest.approx(closed_form_scale(CALM)) == 1.5   # capped: calm A would allow 2.6x
    assert scales[dates[-1]] == pytest.approx(closed_form_scale(STRESS), rel=1e-9)
    assert 0.3 < scales[dates[-1]] < 0.4


def test_futures_reach_the_target_exposure_without_trading_the_physical_book(runs):
    result, _ = runs["futures"]
    exposure = result.exposure["A"]
    calm, stress = exposure.iloc[40:100], exposure.iloc[140:]
    assert np.all(np.abs(calm - 1.5 * 0.6) <= 0.02 + 1e-3)          # levered: physical 0.6 + futures 0.3
    assert np.all(np.abs(stress - closed_form_scale(STRESS) * 0.6) <= 0.02 + 1e-3)
    assert result.traded_usd.sum() == 0.0 and result.spread_usd.sum() == 0.0
    held = result.holdings_usd[:, 0] / path()["A"].to_numpy()
    np.testing.assert_allclose(held, held[0])                      # A's shares never change
    costs = result.overlay.costs["futures_trade"].sum()
    assert costs == pytest.approx(0.25 * result.overlay.contracts_traded.sum())
    returns = result.nav_usd[141:] / result.nav_usd[140:-1] - 1.0
    realized = returns.std(ddof=1) * math.sqrt(252)
    assert 0.07 < realized < 0.13                                  # buy-and-hold: 0.6 * 3% * sqrt(252) = 29%


def test_physical_trades_reach_the_same_cut_but_cannot_lever(runs):
    result, _ = runs["physical"]
    weights = result.weights["A"]
    assert (result.cash_usd >= -1e-6).all()                            # no borrowing: the 10% cash is all it adds
    assert weights.iloc[40:100].max() < 0.71 < 0.9                     # (0.9 wanted; drift moves it by < 0.01)
    assert np.all(np.abs(result.exposure["A"].iloc[140:] - closed_form_scale(STRESS) * 0.6) <= 0.02 + 1e-3)
    assert result.overlay.contracts_traded.sum() == 0
    assert result.spread_usd.sum() > 0 and result.impact_usd.sum() > 0
    spread = result.spread_usd.sum() / result.traded_usd.sum()
    assert spread == pytest.approx(5e-4)                               # the fills' own price, once


def test_one_proxy_future_carries_the_summed_gap():
    """Scaling A and B with FA alone: A's future takes B's gap too (B is flat, so the book's
    volatility and the scale are unchanged)."""
    result, _ = run("futures", scaled=("A", "B"), future="FA")
    total = result.exposure["A"] + result.exposure["B"]
    assert np.all(np.abs(total.iloc[140:] - closed_form_scale(STRESS) * 0.9) <= 0.02 + 1e-3)
    assert result.traded_usd.sum() == 0.0


def test_bad_inputs_are_refused():
    with pytest.raises(InputError):
        VolatilityTarget(TARGET, 0.0)
    with pytest.raises(InputError):
        VolatilityTarget(TARGET, 0.1, instrument="swaps")
