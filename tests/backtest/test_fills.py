"""Fills without leaks: the net trade decides, no sub-cent lot slivers, per-lot loss sales,
forced sales that avoid wash sales."""

import numpy as np
import pandas as pd
import pytest

from optimizer.backtest import BacktestConfig, CostModel, Ledger, Simulator
from optimizer.model import TaxRules
from optimizer.policies import Orders, Policy

NO_COSTS = CostModel(half_spread=0.0, commission=0.0, impact_eta=0.0)
TAX = TaxRules(short_term_rate=0.40, long_term_rate=0.20)


class Scripted(Policy):
    """Returns ``script[step]`` on that step, nothing otherwise."""

    name = "scripted"

    def __init__(self, target, script: dict[int, Orders]):
        super().__init__(target)
        self.script = script

    def decide(self, date, state):
        return self.script.get(state.step)


def flat_prices(days: int = 40, a: float = 100.0) -> pd.DataFrame:
    dates = pd.bdate_range("2021-01-04", periods=days)
    return pd.DataFrame({"A": np.full(days, a), "B": np.full(days, 50.0)}, index=dates)


def run(prices: pd.DataFrame, script: dict[int, Orders], **config):
    config = {"initial_usd": 100_000.0, "tax": TAX, "costs": NO_COSTS, **config}
    return Simulator(prices, BacktestConfig(**config)).run(Scripted({"A": 0.5, "B": 0.5}, script))


def test_named_lot_larger_than_the_net_sell_sells_only_the_net_and_buys_nothing():
    # initial lots: L0000000 = 500 sh of A (50k), L0000001 = 1000 sh of B
    script = {5: Orders(np.array([-1_000.0, 0.0]), {"A": {"L0000000": 500.0}})}
    result = run(flat_prices(), script)
    day5 = result.calendar[5]
    assert result.buys["date"].eq(day5).sum() == 0
    sold = result.lot_reliefs[result.lot_reliefs["date"] == day5]
    assert sold["lot_id"].tolist() == ["L0000000"]
    assert sold["shares"].iloc[0] * 100.0 == pytest.approx(1_000.0)
    np.testing.assert_allclose(result.traded_usd[5], [1_000.0, 0.0])
    assert result.final_lots.set_index("lot_id").loc["L0000000", "quantity"] == pytest.approx(490.0)
    assert result.cash_usd[5] == pytest.approx(1_000.0)


def test_named_lots_relieved_in_order_the_last_truncated_and_net_buys_relieve_nothing():
    script = {2: Orders(np.array([10_000.0, -10_000.0])),                         # opens L0000002 (100 sh)
              4: Orders(np.array([-15_000.0, 0.0]), {"A": {"L0000002": 100.0, "L0000000": 500.0}}),
              6: Orders(np.array([2_000.0, -1_000.0]), {"A": {"L0000000": 10.0}})}
    result = run(flat_prices(), script)
    reliefs = result.lot_reliefs
    day4 = reliefs[reliefs["date"] == result.calendar[4]]
    assert day4["lot_id"].tolist() == ["L0000002", "L0000000"]
    assert day4["shares"].tolist() == pytest.approx([100.0, 50.0])
    day6 = reliefs[reliefs["date"] == result.calendar[6]]
    assert day6["asset"].tolist() == ["B"]                     # A was a net buy: its named lot stays
    assert result.buys[result.buys["date"] == result.calendar[6]]["asset"].tolist() == ["A"]


def hifo_ledger() -> Ledger:
    ledger = Ledger(["A"], TAX, "hifo")
    ledger.buy(0, 10.0, 100.0, "2021-01-04")
    ledger.buy(0, 10.0, 120.0, "2021-01-05")
    return ledger


def test_hifo_sale_leaves_no_lot_worth_under_a_cent():
    ledger = hifo_ledger()
    ledger.sell(0, 10.0 - 5e-5, 130.0, "2021-02-01")        # would leave 5e-5 sh = 0.65 cent of the 120 lot
    lots = ledger.lots_frame()
    assert lots["cost_basis"].tolist() == [100.0]
    assert (lots["quantity"] * 130.0 >= 0.01).all()
    assert ledger.shares[0] == pytest.approx(10.0)
    assert ledger.relief_log[-1][3] == 10.0                  # the whole lot relieved, sliver included


def test_simulator_books_the_cash_of_a_closed_sliver():
    prices = flat_prices()
    sells = 50_000.0 - 0.005                                 # leaves half a cent of A's only lot
    result = run(prices, {3: Orders(np.array([-sells, 0.0]))})
    assert "A" not in set(result.final_lots["asset"])
    assert result.cash_usd[3] == pytest.approx(50_000.0, abs=1e-9)


def test_dust_taken_from_a_loss_lot_is_not_a_loss_sale():
    ledger = Ledger(["A"], TAX, "fifo")
    ledger.buy(0, 10.0, 100.0, "2021-01-04")                # gain lot at 110
    ledger.buy(0, 10.0, 120.0, "2021-01-05")                # loss lot at 110
    ledger.sell(0, 10.0 + 1e-9, 110.0, "2021-02-01")        # 1e-9 sh of the loss lot: 2e-8 dollars
    assert "A" not in ledger.last_loss_sale


def test_mixed_loss_and_gain_sale_records_a_loss_sale():
    ledger = Ledger(["A"], TAX, "fifo")
    ledger.buy(0, 10.0, 100.0, "2021-01-04")
    ledger.buy(0, 10.0, 120.0, "2021-01-05")
    short, _ = ledger.sell(0, 20.0, 115.0, "2021-02-01")     # +150 on the first lot, -50 on the second
    assert short == pytest.approx(100.0)
    assert ledger.last_loss_sale["A"] == pd.Timestamp("2021-02-01")


def test_forced_sale_takes_gain_lots_and_skips_loss_lots_of_a_recent_buy():
    days = 40
    a = np.r_[np.linspace(100.0, 80.0, 11), np.linspace(80.0, 90.0, days - 11)[0:]][:days]
    prices = pd.DataFrame({"A": a, "B": np.full(days, 50.0)}, index=pd.bdate_range("2021-01-04", periods=days))
    flows = pd.Series({prices.index[20]: -20_000.0})
    script = {10: Orders(np.array([5_000.0, -5_000.0]))}      # buy A at 80: a gain lot by day 20
    config = BacktestConfig(initial_usd=100_000.0, tax=TAX, costs=NO_COSTS)
    result = Simulator(prices, config, flows=flows).run(Scripted({"A": 0.5, "B": 0.5}, script))
    assert result.forced[20]
    forced = result.lot_reliefs[result.lot_reliefs["date"] == prices.index[20]]
    assert (forced["gain_usd"] >= 0).all()
    assert "L0000000" not in set(forced["lot_id"])             # A's 100-basis lot is at a loss
    assert result.wash_sale_violations() == 0
    assert result.cash_usd[20] >= 0
