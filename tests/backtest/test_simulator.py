"""Simulator mechanics on small hand-made price paths: taxes on schedule, flows, cash, resume, errors."""

import numpy as np
import pandas as pd
import pytest

from case_factories import Interrupt, crash_once
from optimizer.backtest import (BacktestConfig, CalendarError, CashShortfallError, CheckpointError, CostModel,
                                PriceDataError, Simulator)
from optimizer.model import TaxRules
from optimizer.policies import Bands, BuyAndHold, CashFlowRouting, Orders, Policy, Threshold
from problems import real_data

NO_COSTS = CostModel(half_spread=0.0, commission=0.0, impact_eta=0.0)
TAX = TaxRules(short_term_rate=0.40, long_term_rate=0.20)


def linear_prices(days: int = 600) -> pd.DataFrame:
    dates = pd.bdate_range("2019-01-01", periods=days)
    return pd.DataFrame({"A": np.linspace(100.0, 200.0, days), "B": np.full(days, 50.0)}, index=dates)


class SellOnce(Policy):
    """Sells ``usd`` of asset A on the first date on or after ``when``."""

    name = "sell_once"

    def __init__(self, target, when: str, usd: float):
        super().__init__(target)
        self.when = pd.Timestamp(when)
        self.done = False

    def decide(self, date, state):
        if self.done or date < self.when:
            return None
        self.done = True
        return Orders(np.array([-self.usd, 0.0]))

    def state_dict(self):
        return {"done": self.done}

    def load_state_dict(self, state):
        self.done = state["done"]


def test_tax_is_paid_annually_from_cash_on_the_first_date_of_the_next_year():
    prices = linear_prices()
    sim = Simulator(prices, BacktestConfig(initial_usd=100_000.0, tax=TAX, costs=NO_COSTS))
    policy = SellOnce({"A": 0.5, "B": 0.5}, "2019-07-01", 20_000.0)
    policy.usd = 20_000.0
    result = sim.run(policy)
    k = prices.index.get_loc(pd.Timestamp("2019-07-01"))
    price = prices["A"].iloc[k]
    gain = 20_000.0 * (1 - 100.0 / price)           # one lot, basis 100, short-term
    paid = pd.Series(result.tax_paid_usd, index=prices.index)
    assert paid[paid > 0].index.tolist() == [pd.Timestamp("2020-01-01")]
    assert paid.sum() == pytest.approx(0.40 * gain)
    assert result.realized_short_usd == pytest.approx(gain)
    assert result.cash_usd[k] == pytest.approx(20_000.0)
    j = prices.index.get_loc(pd.Timestamp("2020-01-01"))
    assert result.cash_usd[j] == pytest.approx(20_000.0 - 0.40 * gain)
    assert not result.forced.any()


def test_contributions_accumulate_in_cash_and_earn_the_cash_index():
    prices = linear_prices(300)
    cash_index = pd.Series(100.0 * 1.0001 ** np.arange(len(prices)), index=prices.index)
    flows = pd.Series(1000.0, index=prices.index[::50])
    sim = Simulator(prices, BacktestConfig(initial_usd=100_000.0, costs=NO_COSTS), cash_index=cash_index, flows=flows)
    result = sim.run(BuyAndHold({"A": 0.5, "B": 0.5}))
    growth = cash_index.iloc[-1] / cash_index
    expected = float((flows * growth.reindex(flows.index)).sum())
    assert result.cash_usd[-1] == pytest.approx(expected, rel=1e-10)
    assert result.nav_usd[-1] == pytest.approx(result.holdings_usd[-1].sum() + expected)


def test_cash_flow_routing_sends_inflows_to_the_underweight_asset():
    prices = linear_prices(300)
    flows = pd.Series({prices.index[200]: 5_000.0})
    sim = Simulator(prices, BacktestConfig(initial_usd=100_000.0, costs=NO_COSTS), flows=flows)
    result = sim.run(CashFlowRouting({"A": 0.5, "B": 0.5}, Bands.absolute(0.5)))
    traded = result.traded_usd[200]
    assert traded[1] == pytest.approx(5_000.0) and traded[0] == 0.0   # B is underweight after A's rise
    assert result.events.sum() == 1


def test_withdrawals_never_leave_cash_silently_negative():
    prices = linear_prices(300)
    flows = pd.Series(-3_000.0, index=prices.index[20::20])
    config = BacktestConfig(initial_usd=100_000.0)
    result = Simulator(prices, config, flows=flows).run(BuyAndHold({"A": 0.5, "B": 0.5}))
    assert (result.cash_usd >= 0).all()
    forced = set(prices.index[result.forced])
    taxed = set(prices.index[result.tax_paid_usd > 0])      # the forced sales realized gains, taxed next year
    assert taxed == {pd.Timestamp("2020-01-01")}
    assert forced == set(flows.index) | taxed
    assert result.spread_usd[result.forced].min() > 0            # forced sales pay costs too
    with pytest.raises(CashShortfallError, match="2019-01-29"):
        Simulator(prices, BacktestConfig(initial_usd=100_000.0, on_shortfall="raise"),
                  flows=flows).run(BuyAndHold({"A": 0.5, "B": 0.5}))


def test_trade_to_target_scales_buys_to_the_cash_it_has():
    prices = real_data.multi_asset_daily(end="2015-12-31")
    target = pd.Series(0.1, index=prices.columns)
    result = Simulator(prices).run(Threshold(target, Bands.absolute(0.01)))
    assert result.events.sum() > 0
    assert (result.cash_usd >= 0).all()
    assert result.spread_usd.sum() > 0 and result.impact_usd.sum() > 0


Crashing = crash_once(Threshold)


def test_resume_gives_the_same_numbers_as_an_uninterrupted_run(tmp_path):
    prices = real_data.multi_asset_daily(end="2016-12-31")
    flows = pd.Series(5_000.0, index=prices.index[::40])
    target = {"SP500": 0.4, "MTUM": 0.2, "UST10Y": 0.3, "CASH": 0.1}
    sim = Simulator(prices, BacktestConfig(tax_schedule="quarterly"), cash_index=prices["CASH"], flows=flows)
    full = sim.run(Threshold(target, Bands.relative_to_target(0.1), trade_to="edge", name="t"))

    policy = Crashing(target, Bands.relative_to_target(0.1), trade_to="edge", name="t")
    policy.crash_at = 333
    path = tmp_path / "run.ckpt"
    with pytest.raises(Interrupt):
        sim.run(policy, checkpoint_path=path, checkpoint_every=50)
    assert path.exists()
    resumed = sim.run(Crashing(target, Bands.relative_to_target(0.1), trade_to="edge", name="t"),
                      checkpoint_path=path, checkpoint_every=50)
    for name in ("nav_usd", "cash_usd", "holdings_usd", "traded_usd", "tax_paid_usd", "events", "forced"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(full, name), err_msg=name)
    assert resumed.events.sum() > 5
    assert resumed.liquidation_tax_usd == full.liquidation_tax_usd
    pd.testing.assert_frame_equal(resumed.buys, full.buys)
    pd.testing.assert_frame_equal(resumed.lot_reliefs, full.lot_reliefs)
    assert len(full.lot_reliefs) > 0 and full.buys["date"].iloc[0] == prices.index[0]
    other = Simulator(prices.iloc[:-1], BacktestConfig(tax_schedule="quarterly"))
    with pytest.raises(CheckpointError):
        other.run(Threshold(target, Bands.relative_to_target(0.1), trade_to="edge", name="t"), checkpoint_path=path)


def test_price_gaps_and_bad_calendars_raise_typed_errors():
    prices = linear_prices(30)
    gap = prices.copy()
    gap.iloc[7, 1] = np.nan
    with pytest.raises(PriceDataError) as info:
        Simulator(gap)
    assert info.value.asset == "B" and info.value.date == prices.index[7]
    filled = Simulator(gap, BacktestConfig(fill="ffill"))
    assert filled.prices[7, 1] == 50.0
    bad = prices.copy()
    bad.iloc[3, 0] = 0.0
    with pytest.raises(PriceDataError, match="positive"):
        Simulator(bad)
    with pytest.raises(CalendarError, match="sorted"):
        Simulator(prices.iloc[::-1])
    with pytest.raises(CalendarError, match="not on the price calendar"):
        Simulator(prices, flows=pd.Series({pd.Timestamp("2019-01-05"): 1.0}))   # a Saturday
    with pytest.raises(CalendarError, match="no value"):
        Simulator(prices, cash_index=pd.Series(1.0, index=prices.index[1:]))
