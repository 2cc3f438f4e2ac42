"""Derivatives in the one ledger: futures P&L, rolls, margin calls and taxes in a lot-tracked account.

Hand-made price paths with a zero cash rate and no dividends, so a future's fair value is
its underlying (``F = S``) and every flow has a closed form.
"""

import numpy as np
import pandas as pd
import pytest

from case_factories import Interrupt, crash_once
from optimizer.backtest import BacktestConfig, CostModel, Simulator
from optimizer.backtest.derivatives import OverlayConfig, OverlayMarket
from optimizer.errors import InputError
from optimizer.model import TaxRules
from optimizer.overlays import Future
from optimizer.policies import Orders, Policy

NO_COSTS = CostModel(half_spread=0.0, commission=0.0, impact_eta=0.0)
TAX = TaxRules(short_term_rate=0.40, long_term_rate=0.20)
FA = Future("FA", "A", multiplier=10.0, initial_margin=0.10, maintenance_margin=0.08, cost_per_contract_usd=5.0,
            roll_days_before_expiry=5)
TARGET = {"A": 0.5, "B": 0.3}


def prices_for(days: int, end_a: float = 120.0) -> pd.DataFrame:
    dates = pd.bdate_range("2019-01-01", periods=days)
    return pd.DataFrame({"A": np.linspace(100.0, end_a, days), "B": np.full(days, 50.0)}, index=dates)


def market_for(prices: pd.DataFrame) -> OverlayMarket:
    return OverlayMarket(underlying=prices[["A"]], rate=pd.Series(0.0, index=prices.index))


class HoldFutures(Policy):
    """Trade ``contracts`` of FA on the first date; optionally sell ``sell_usd`` of A on ``sell_on``."""

    name = "hold-futures"

    def __init__(self, target, contracts: int, sell_on: str | None = None, sell_usd: float = 0.0):
        super().__init__(target)
        self.contracts, self.sell_on, self.sell_usd = contracts, sell_on, sell_usd
        self.bought = self.sold = False

    def decide(self, date, state):
        futures = None if self.bought or not self.contracts else {"FA": self.contracts}
        self.bought = True
        trade = np.zeros(len(state.assets))
        if self.sell_on is not None and not self.sold and date >= pd.Timestamp(self.sell_on):
            trade[0], self.sold = -self.sell_usd, True
        return Orders(trade, futures_contracts=futures)

    def state_dict(self):
        return {"bought": self.bought, "sold": self.sold}

    def load_state_dict(self, state):
        self.bought, self.sold = state["bought"], state["sold"]


def run(prices, policy, overlay=OverlayConfig(futures=(FA,)), **config):
    config = BacktestConfig(**{"initial_usd": 1e6, "costs": NO_COSTS, **config}, overlay=overlay)
    return Simulator(prices, config, overlay_market=market_for(prices) if overlay else None).run(policy)


def test_futures_pnl_is_contracts_times_multiplier_times_price_change_less_commission():
    prices = prices_for(40)   # Jan 1 - Feb 25 2019: no roll (the March roll is on Mar 8)
    held = run(prices, HoldFutures(TARGET, 100))
    idle = run(prices, HoldFutures(TARGET, 0))
    move = prices["A"].iloc[-1] - prices["A"].iloc[0]
    assert held.nav_usd[-1] - idle.nav_usd[-1] == pytest.approx(100 * 10.0 * move - 100 * 5.0, abs=1e-6)
    assert held.overlay.costs["futures_trade"].sum() == pytest.approx(500.0)
    exposure = held.exposure["A"] * held.nav_usd   # physical A + 100 contracts at today's price
    np.testing.assert_allclose(exposure - held.holdings_usd[:, 0], 100 * 10.0 * prices["A"].to_numpy())


def test_a_taxable_lot_tracked_account_holds_futures_through_rolls():
    """600 weekdays from 2019-01-01 cross nine quarterly rolls (Mar/Jun/Sep/Dec 2019 and
    2020, Mar 2021) and one tax year: lots, the sale's gain and its tax are those of the
    same account without the overlay; the overlay adds exactly its variation margin less
    commissions and roll costs (2 x $5 per contract per roll) to the NAV."""
    prices = prices_for(600, end_a=200.0)
    with_overlay = run(prices, HoldFutures(TARGET, 50, "2019-07-01", 20_000.0), tax=TAX)
    without = run(prices, HoldFutures(TARGET, 0, "2019-07-01", 20_000.0), tax=TAX)
    price = prices.loc["2019-07-01", "A"]
    gain = 20_000.0 * (1 - 100.0 / price)
    assert with_overlay.tax_paid_usd.sum() == pytest.approx(0.40 * gain)
    np.testing.assert_allclose(with_overlay.tax_paid_usd, without.tax_paid_usd)
    pd.testing.assert_frame_equal(with_overlay.lot_reliefs, without.lot_reliefs)
    rolls = 9
    assert with_overlay.overlay.costs["futures_roll"].sum() == pytest.approx(rolls * 50 * 2 * 5.0)
    move = prices["A"].iloc[-1] - prices["A"].iloc[0]
    expected = 50 * 10.0 * move - 50 * 5.0 - rolls * 50 * 10.0
    assert with_overlay.nav_usd[-1] - without.nav_usd[-1] == pytest.approx(expected, abs=1e-6)
    metrics = with_overlay.metrics()
    assert metrics["roll_bps"] > 0 and metrics["margin_calls"] == 0
    assert metrics["total_cost_bps"] == pytest.approx(metrics["trading_cost_bps"] + metrics["tax_bps"]
                                                      + metrics["overlay_cost_bps"])


@pytest.mark.parametrize("action", ["sell_physical", "reduce_overlay"])
def test_margin_call_is_met_the_same_day(action):
    """Short 300 FA ($300k notional) with $50k of cash while A rises 20%: the $60k variation
    margin drains cash below maintenance; each call is met before the close."""
    prices = prices_for(40)
    config = OverlayConfig(futures=(FA,), margin_call_action=action)
    result = run(prices, HoldFutures({"A": 0.5, "B": 0.45}, -300), overlay=config,
                 costs=CostModel(half_spread=1e-3, commission=0.0, impact_eta=0.0))
    ov = result.overlay
    assert ov.margin_call.sum() == len(ov.margin_calls) > 0
    for call in ov.margin_calls:
        assert call.cash_usd < call.maintenance_usd
    contracts = 300 - np.cumsum(ov.call_contracts_closed)
    requirement = 0.08 * contracts * 10.0 * prices["A"].to_numpy()
    assert np.all(result.cash_usd >= requirement - 1e-6)     # never left below maintenance at a close
    if action == "sell_physical":
        assert ov.call_contracts_closed.sum() == 0
        assert result.holdings_usd[-1, 1] < result.holdings_usd[0, 1]   # B (above target: A is hedged) sold
        assert result.holdings_usd[-1, 0] / prices["A"].iloc[-1] == pytest.approx(5_000.0)  # A's lot untouched
        assert ov.call_cost_usd.sum() == pytest.approx(1e-3 * ov.call_sold_usd.sum())
    else:
        assert ov.call_contracts_closed.sum() > 0 and ov.call_sold_usd.sum() == 0.0
    assert result.forced.sum() == (ov.call_sold_usd > 0).sum()


def test_derivative_orders_without_an_overlay_are_refused():
    prices = prices_for(10)
    with pytest.raises(InputError, match="no overlay"):
        run(prices, HoldFutures(TARGET, 10), overlay=None)


def test_an_instrument_on_an_unknown_asset_is_refused():
    prices = prices_for(10)
    with pytest.raises(InputError, match="not an asset"):
        run(prices, HoldFutures(TARGET, 10), overlay=OverlayConfig(futures=(Future("FX", "X", 10.0),)))


def test_resume_with_an_overlay_gives_the_same_numbers(tmp_path):
    prices = prices_for(300, end_a=90.0)
    config = BacktestConfig(initial_usd=1e6, costs=NO_COSTS, tax=TAX, overlay=OverlayConfig(futures=(FA,)))
    sim = Simulator(prices, config, overlay_market=market_for(prices))
    full = sim.run(HoldFutures(TARGET, 40, "2019-05-01", 10_000.0))
    crashing = crash_once(HoldFutures)(TARGET, 40, "2019-05-01", 10_000.0)
    crashing.crash_at = 150
    path = tmp_path / "overlay.ckpt"
    with pytest.raises(Interrupt):
        sim.run(crashing, checkpoint_path=path, checkpoint_every=50)
    resumed = sim.run(crash_once(HoldFutures)(TARGET, 40, "2019-05-01", 10_000.0), checkpoint_path=path)
    np.testing.assert_array_equal(resumed.nav_usd, full.nav_usd)
    np.testing.assert_array_equal(resumed.overlay.exposure_usd, full.overlay.exposure_usd)
    for kind in full.overlay.costs:
        np.testing.assert_array_equal(resumed.overlay.costs[kind], full.overlay.costs[kind])
    assert full.overlay.costs["futures_roll"].sum() > 0


def test_start_keeps_history_out_of_the_result():
    prices = prices_for(60)
    config = BacktestConfig(initial_usd=1e6, costs=NO_COSTS, overlay=OverlayConfig(futures=(FA,)))
    result = Simulator(prices, config, overlay_market=market_for(prices), start=prices.index[20]).run(
        HoldFutures(TARGET, 10))
    assert result.calendar[0] == prices.index[20] and len(result.nav_usd) == 40
    assert result.nav_usd[0] == pytest.approx(1e6 - 10 * 5.0)
