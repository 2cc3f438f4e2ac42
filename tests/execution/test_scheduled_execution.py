"""ScheduledExecution: a decision executed over several days of a backtest, and its shortfall.

Oracles: the simulator's own charges on the date (one-day execution), hand-computed fees
from the cost formulas with an independently computed trailing volatility, the arithmetic
of child orders, and the volume profile.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optimizer.backtest import BacktestConfig, CostModel, Simulator
from optimizer.errors import InputError
from optimizer.execution import ScheduledExecution, schedule
from optimizer.policies import Orders, Policy

ASSETS = ("A", "B", "C")


class TradeOn(Policy):
    """Trades ``trade_usd`` (per asset, + buy) on each step in ``steps``, else nothing."""

    name = "trade_on"

    def __init__(self, target, steps, trade_usd):
        super().__init__(target)
        self.steps = set(steps)
        self.trade_usd = np.asarray(trade_usd, dtype=float)

    def decide(self, date, state):
        return Orders(self.trade_usd.copy()) if state.step in self.steps else None


def walk(days=30, seed=7, flat=False) -> pd.DataFrame:
    dates = pd.bdate_range("2021-01-04", periods=days)
    if flat:
        return pd.DataFrame({a: 50.0 + 10 * k for k, a in enumerate(ASSETS)}, index=dates)
    rng = np.random.default_rng(seed)
    returns = rng.normal(0.0, 0.015, size=(days, len(ASSETS)))
    returns[0] = 0.0
    return pd.DataFrame(100.0 * np.cumprod(1 + returns, axis=0), index=dates, columns=list(ASSETS))


TARGET = {"A": 0.4, "B": 0.3, "C": 0.2}          # 10% cash, so buys are never scaled down


def run(prices, policy, costs, volume=None, **kw):
    wrapper = ScheduledExecution(policy, volume=volume, costs=costs, **kw)
    result = Simulator(prices, BacktestConfig(initial_usd=1e7, costs=costs)).run(wrapper)
    return wrapper, result


def test_one_day_execution_shortfall_is_the_simulators_charge_and_the_hand_formula():
    prices = walk()
    costs = CostModel(half_spread=0.0005, commission=0.0002, adv_usd=2e7, impact_eta=1.0, vol_window=5)
    trade = [-2e6, 1.5e6, 0.0]
    wrapper, result = run(prices, TradeOn(TARGET, [6], trade), costs, days=1, method="twap")
    frame = wrapper.shortfall(result).set_index("asset")
    assert list(frame.index) == ["A", "B"]
    assert (frame["drift_usd"].abs() < 1e-6).all() and (frame["opportunity_usd"].abs() < 1e-6).all()
    charged = result.spread_usd[6] + result.commission_usd[6] + result.impact_usd[6]
    assert frame["shortfall_usd"].sum() == pytest.approx(charged, rel=1e-10)
    returns = prices.pct_change().to_numpy()
    for asset, usd in zip(ASSETS, trade):
        if usd == 0.0:
            continue
        vol = np.std(returns[2:7, ASSETS.index(asset)], ddof=1)       # the 5 returns up to step 6
        by_hand = (0.0005 + 0.0002) * abs(usd) + 1.0 * vol / 2e7 * usd**2
        assert frame.loc[asset, "shortfall_usd"] == pytest.approx(by_hand, rel=1e-8)
        assert frame.loc[asset, "shortfall_bp"] == pytest.approx(by_hand / abs(usd) * 1e4, rel=1e-8)
    # days=1 is the inner policy alone
    alone = Simulator(prices, BacktestConfig(initial_usd=1e7, costs=costs)).run(TradeOn(TARGET, [6], trade))
    np.testing.assert_allclose(result.nav_usd, alone.nav_usd, rtol=1e-13)


@pytest.mark.parametrize("method", ["twap", "vwap", "schedule"])
def test_child_orders_add_up_to_the_parent(method):
    prices = walk()
    volume = pd.DataFrame(np.random.default_rng(1).uniform(1e5, 1e6, size=prices.shape), index=prices.index,
                          columns=list(ASSETS))
    costs = CostModel(adv_usd=5e7)
    trade = [-1e6, 6e5, 3e5]
    wrapper, result = run(prices, TradeOn(TARGET, [4], trade), costs, volume=volume, days=5, method=method,
                          risk_aversion=1e-6)
    parents = wrapper.parents().set_index("asset")
    children = wrapper.child_orders
    planned = children.groupby("asset")["planned_shares"].sum()
    np.testing.assert_allclose(planned[list(ASSETS)], parents.loc[list(ASSETS), "parent_shares"], rtol=1e-9)
    assert sorted(children["day"].unique()) == [1, 2, 3, 4, 5]
    frame = wrapper.shortfall(result).set_index("asset")
    np.testing.assert_allclose(frame["filled_shares"], frame["parent_shares"], rtol=1e-9)
    assert (frame["status"] == "complete").all() and (frame["days"] == 5).all()
    np.testing.assert_allclose(parents["parent_shares"], np.array(trade) / prices.iloc[4].to_numpy(), rtol=1e-12)
    # every dollar charged on the execution dates is in some parent's shortfall
    steps = range(4, 9)
    charged = sum(result.spread_usd[k] + result.commission_usd[k] + result.impact_usd[k] for k in steps)
    assert frame["cost_usd"].sum() == pytest.approx(charged, rel=1e-10)


def test_more_volume_means_more_traded_that_day():
    prices = walk()
    volume = pd.DataFrame(1e6, index=prices.index, columns=list(ASSETS))
    volume.iloc[6] = 3e6                                            # the third execution day is three times as liquid
    wrapper, result = run(prices, TradeOn(TARGET, [4], [-1e6, 5e5, 0.0]), CostModel(), volume=volume, days=5,
                          method="vwap")
    shares = result.holdings_usd / result.prices
    for asset in ("A", "B"):
        i = ASSETS.index(asset)
        fills = np.diff(shares[3:9, i])                               # filled on steps 4..8
        np.testing.assert_allclose(fills[2], 3 * fills[0], rtol=1e-9)
        np.testing.assert_allclose(fills[[1, 3, 4]], fills[0], rtol=1e-9)
        assert abs(fills.sum()) == pytest.approx(abs(wrapper.parents().set_index("asset").loc[asset,
                                                                                            "parent_shares"]))


def test_optimal_schedule_respects_participation_and_leans_to_liquid_days():
    prices = walk()
    volume = pd.DataFrame(1e5, index=prices.index, columns=list(ASSETS))
    volume.iloc[5] = 4e5
    costs = CostModel(adv_usd=1e7)
    wrapper, result = run(prices, TradeOn(TARGET, [4], [-1.5e6, 0.0, 0.0]), costs, volume=volume, days=5,
                          method="schedule", max_participation=0.02, risk_aversion=1e-6)
    planned = wrapper.child_orders.query("asset == 'A'")["planned_shares"].to_numpy()
    caps = 0.02 * volume["A"].iloc[4:9].to_numpy()
    assert (np.abs(planned) <= caps * (1 + 1e-6)).all()
    np.testing.assert_allclose(np.abs(planned[:2]), caps[:2], rtol=1e-6)   # risk aversion front-loads into the caps
    assert abs(planned[1]) > abs(planned[0])                         # the liquid second day takes more
    # the program the wrapper solved, rebuilt here from the cost formulas
    p0 = prices["A"].iloc[4]
    vol = float(pd.Series(prices["A"].pct_change().to_numpy()[1:5]).std())
    profile = volume["A"].iloc[4:9].to_numpy()
    eta = 1.0 * vol * p0**2 / 1e7 * profile.mean() / profile
    direct = schedule(1.5e6 / p0, 5, sigma=vol * p0, eta=eta, spread=0.0003 * p0, volume=profile,
                      max_participation=0.02, risk_aversion=1e-6)
    np.testing.assert_allclose(-planned, direct.trades.to_numpy(), rtol=1e-6, atol=1e-6 * 1.5e6 / p0)


def test_zero_drift_and_linear_costs_give_the_cost_formula():
    prices = walk(flat=True)
    costs = CostModel(half_spread=0.001, commission=0.0005, impact_eta=0.0)
    wrapper, result = run(prices, TradeOn(TARGET, [3], [1e6, -1e6, 0.0]), costs, days=5, method="twap")
    frame = wrapper.shortfall(result)
    np.testing.assert_allclose(frame["shortfall_usd"], 0.0015 * 1e6, rtol=1e-10)
    np.testing.assert_allclose(frame["shortfall_bp"], 15.0, rtol=1e-10)
    np.testing.assert_allclose(frame["drift_usd"], 0.0, atol=1e-6)


def test_shortfall_on_a_moving_price_by_hand():
    prices = walk(seed=3)
    costs = CostModel(half_spread=0.001, commission=0.0, impact_eta=0.0)
    wrapper, result = run(prices, TradeOn(TARGET, [10], [0.0, 0.0, 8e5]), costs, days=4, method="twap")
    row = wrapper.shortfall(result).iloc[0]
    p = prices["C"].iloc[10:14].to_numpy()
    X = 8e5 / p[0]
    by_hand = sum(X / 4 * (pk - p[0]) + 0.001 * X / 4 * pk for pk in p)
    assert row["shortfall_usd"] == pytest.approx(by_hand, rel=1e-9)
    assert row["avg_fill_price"] == pytest.approx(p.mean(), rel=1e-12)


def test_a_new_decision_is_ignored_or_replaces_the_running_parent():
    prices = walk()
    policy = TradeOn(TARGET, [4, 6], [-1e6, 1e6, 0.0])
    wrapper, _ = run(prices, policy, CostModel(), days=5, method="twap")
    assert wrapper.ignored_decisions == 1 and len(wrapper.parents()["parent"].unique()) == 1
    wrapper, result = run(prices, TradeOn(TARGET, [4, 6], [-1e6, 1e6, 0.0]), CostModel(), days=5, method="twap",
                          while_busy="replace")
    frame = wrapper.shortfall(result)
    assert list(frame.drop_duplicates("parent")["status"]) == ["cancelled", "complete"]
    assert list(frame.drop_duplicates("parent")["days"]) == [2, 5]
    first = frame[frame["parent"] == 0].set_index("asset")
    np.testing.assert_allclose(first["filled_shares"], 0.4 * first["parent_shares"], rtol=1e-9)


def test_bad_inputs_are_named():
    with pytest.raises(InputError) as caught:
        ScheduledExecution(TradeOn(TARGET, [1], [0, 0, 0]), method="vwap")
    assert caught.value.field == "volume"
    with pytest.raises(InputError):
        ScheduledExecution(TradeOn(TARGET, [1], [0, 0, 0]), days=0, method="twap")
    prices = walk()
    volume = pd.DataFrame(1.0, index=prices.index, columns=["A", "B"])
    with pytest.raises(InputError) as caught:
        run(prices, TradeOn(TARGET, [4], [1e5, 0, 0]), CostModel(), volume=volume, method="vwap")
    assert caught.value.asset == "C"
    gappy = pd.DataFrame(1.0, index=prices.index.delete(6), columns=list(ASSETS))      # a date missing
    with pytest.raises(InputError, match="price calendar"):
        run(prices, TradeOn(TARGET, [4], [1e5, 0, 0]), CostModel(), volume=gappy, method="vwap")
    # a cost model other than the simulator's is caught when measuring
    wrapper = ScheduledExecution(TradeOn(TARGET, [4], [-1e6, 0, 0]), days=2, method="twap",
                                 costs=CostModel(half_spread=0.01))
    result = Simulator(prices, BacktestConfig(initial_usd=1e7)).run(wrapper)
    with pytest.raises(InputError) as caught:
        wrapper.shortfall(result)
    assert caught.value.field == "costs"


def test_real_stocks_with_their_volume_every_charged_dollar_is_in_a_parent():
    from optimizer.datasets import load_sp500_100_ohlcv, sp500_100_daily
    from optimizer.policies import Calendar

    universe = sp500_100_daily(start="2016-01-01", end="2016-06-30")
    symbols = list(universe.prices.columns[:6])
    prices = universe.prices[symbols]
    bars = load_sp500_100_ohlcv()
    volume = bars.pivot(index="date", columns="symbol", values="volume")[symbols].reindex(prices.index)
    costs = CostModel(adv_usd=universe.adv_usd[symbols])
    wrapper = ScheduledExecution(Calendar(pd.Series(1 / 6, index=symbols), "M"), days=5, method="vwap",
                                 volume=volume, costs=costs)
    result = Simulator(prices, BacktestConfig(initial_usd=1e9, costs=costs)).run(wrapper)
    frame = wrapper.shortfall(result)
    assert frame["parent"].nunique() == 5 and (frame["status"] == "complete").all()
    charged = result.spread_usd.sum() + result.commission_usd.sum() + result.impact_usd.sum()
    assert frame["cost_usd"].sum() == pytest.approx(charged, rel=1e-10)
    sells, buys = frame[frame["side"] == "sell"], frame[frame["side"] == "buy"]
    np.testing.assert_allclose(sells["filled_shares"], sells["parent_shares"], rtol=1e-6)
    # a fully invested book pays for its buys with sales filled at later prices: a buy may end a little short
    # when the cash is not there on the last day (the rest is counted as opportunity cost)
    assert ((buys["filled_shares"] / buys["parent_shares"]).between(0.99, 1 + 1e-9)).all()
    unfilled = buys["parent_shares"] - buys["filled_shares"]
    prices_last = [prices.loc[d, a] for d, a in zip(buys["last_date"], buys["asset"])]
    np.testing.assert_allclose(buys["opportunity_usd"], unfilled * (prices_last - buys["arrival_price"]),
                               rtol=1e-9, atol=1e-6)
    # each child is the parent's share of that date's volume
    first = wrapper.child_orders.query("parent == 0")
    for asset, rows in first.groupby("asset"):
        profile = volume[asset].reindex(rows["date"]).to_numpy()
        np.testing.assert_allclose(rows["planned_shares"], rows["planned_shares"].sum() * profile / profile.sum(),
                                   rtol=1e-12)


def test_stressed_costs_are_priced_as_the_simulator_charges_them():
    prices = walk()
    stress = pd.Series(np.linspace(15.0, 60.0, len(prices)), index=prices.index)     # VIX-like, rising
    costs = CostModel(adv_usd=1e7, stress=stress)
    wrapper, result = run(prices, TradeOn(TARGET, [20], [-2e6, 2e6, 0.0]), costs, days=3, method="twap")
    frame = wrapper.shortfall(result)
    charged = sum(result.spread_usd[k] + result.commission_usd[k] + result.impact_usd[k] for k in (20, 21, 22))
    assert frame["cost_usd"].sum() == pytest.approx(charged, rel=1e-10)
    calm = CostModel(adv_usd=1e7)
    wrapper_calm, result_calm = run(prices, TradeOn(TARGET, [20], [-2e6, 2e6, 0.0]), calm, days=3, method="twap")
    assert frame["spread_usd"].sum() > 2 * wrapper_calm.shortfall(result_calm)["spread_usd"].sum()
