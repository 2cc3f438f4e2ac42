"""One account's daily bookkeeping (``optimizer.backtest.book``), shared by both simulators.

Oracles: tax-period starts and cash growth counted by hand on a short calendar; the
opening book's shares and cash, and the start of a day (growth, marks, flow, tax) by hand; forced sales with a cost-free pricer checked
against the allocation rules (pro rata to holdings; only gain lots of a recently bought
asset), lots with gains relieved before loss lots, cash ending in [0, a few dollars];
and a one-account household that never trades marks, grows cash and settles exactly as
the single-account simulator holding the same book.
"""

import numpy as np
import pandas as pd
import pytest

from optimizer.backtest.book import (begin_day, book_value, cash_growth_factors, fund_shortfall, open_book, pro_rata_sales,
                                     sales_avoiding_wash, tax_period_starts)
from optimizer.backtest.costs import CostModel
from optimizer.backtest.errors import CashShortfallError
from optimizer.backtest.household import AccountSetup, HouseholdBacktestConfig, HouseholdSimulator
from optimizer.backtest.ledger import Ledger
from optimizer.backtest.simulator import BacktestConfig, Simulator
from optimizer.model import TaxRules
from optimizer.policies.heuristics import BuyAndHold

TAX = TaxRules()


def free(trade_usd):
    zero = np.zeros_like(np.asarray(trade_usd, dtype=float))
    return zero, zero, zero


def test_tax_period_starts_by_hand():
    calendar = pd.DatetimeIndex(["2020-12-30", "2020-12-31", "2021-01-04", "2021-03-31", "2021-04-01",
                                 "2021-04-02", "2022-01-03"])
    assert tax_period_starts(calendar, "annual").tolist() == [False, False, True, False, False, False, True]
    assert tax_period_starts(calendar, "quarterly").tolist() == [False, False, True, False, True, False, True]
    assert tax_period_starts(calendar, "immediate").tolist() == [False] + [True] * 6
    assert not tax_period_starts(calendar, "never").any()


def test_cash_growth_factors_by_hand():
    calendar = pd.bdate_range("2021-01-04", periods=3)
    assert cash_growth_factors(None, calendar).tolist() == [1.0, 1.0, 1.0]
    level = pd.Series([100.0, 101.0, 99.99], index=calendar)
    np.testing.assert_allclose(cash_growth_factors(level, calendar), [1.0, 1.01, 0.99], rtol=1e-15)


def test_open_book_by_hand():
    ledger = Ledger(["A", "B", "C"], TAX, "hifo")
    open_book(ledger, np.array([0.5, 0.0, 0.3]), 1_000.0, np.array([10.0, 20.0, 4.0]), pd.Timestamp("2021-01-04"))
    np.testing.assert_allclose(ledger.shares, [50.0, 0.0, 75.0])
    assert ledger.cash_usd == pytest.approx(200.0, abs=1e-9)
    holdings, nav = book_value(ledger, np.array([12.0, 20.0, 4.0]))
    np.testing.assert_allclose(holdings, [600.0, 0.0, 300.0])
    assert nav == pytest.approx(1_100.0)


def test_begin_day_grows_cash_then_marks_then_books_the_flow_then_settles_tax():
    """100 of cash grows 1% (101), the overlay's marks add 5 (seen at 101), a 20 withdrawal,
    then tax on a 100 short-term gain at 40%: 101 + 5 - 20 - 40 = 46."""
    ledger = Ledger(["A"], TaxRules(short_term_rate=0.40, long_term_rate=0.20), "hifo")
    ledger.buy(0, 10.0, 100.0, pd.Timestamp("2020-01-02"))
    ledger.sell(0, 10.0, 110.0, pd.Timestamp("2020-03-02"))
    ledger.cash_usd = 100.0
    seen = []

    def marks():
        seen.append(ledger.cash_usd)
        ledger.cash_usd += 5.0

    assert begin_day(ledger, cash_growth=1.01, flow_usd=-20.0, settle_tax=False, after_growth=marks) == 0.0
    assert ledger.cash_usd == pytest.approx(86.0) and seen == [pytest.approx(101.0)]
    ledger.cash_usd = 100.0
    assert begin_day(ledger, cash_growth=1.01, flow_usd=-20.0, settle_tax=True, after_growth=marks) == \
        pytest.approx(40.0)
    assert ledger.cash_usd == pytest.approx(46.0)
    assert begin_day(ledger, cash_growth=1.0, settle_tax=True) == pytest.approx(0.0)   # settled once


def two_lot_ledger() -> Ledger:
    """A: a lot bought at 50 (gain at 100) and one at 150 (loss); B: one lot at 100."""
    ledger = Ledger(["A", "B"], TAX, "hifo")
    ledger.buy(0, 10.0, 50.0, pd.Timestamp("2020-01-02"))
    ledger.buy(0, 10.0, 150.0, pd.Timestamp("2020-02-03"))
    ledger.buy(1, 20.0, 100.0, pd.Timestamp("2020-03-02"))
    return ledger


def test_pro_rata_funding_sells_gains_first_and_covers_the_shortfall():
    ledger = two_lot_ledger()
    prices = np.array([100.0, 100.0])
    date = pd.Timestamp("2021-06-01")
    ledger.cash_usd = -500.0
    fills = fund_shortfall(ledger, date, prices, free, pro_rata_sales(ledger, prices), linear_cost=0.0,
                           tolerance_usd=1e-6, min_trade_usd=0.0, cap_to_held=True)
    assert len(fills) == 1
    sold = np.array([20.0, 20.0]) - ledger.shares
    # 501 dollars (the shortfall grossed up by 1e-6 plus a dollar) split 50/50 by value
    want = 500.0 * (1 + 1e-6) + 1.0
    np.testing.assert_allclose(sold * prices, [want / 2, want / 2], rtol=1e-12)
    assert 0.0 <= ledger.cash_usd <= 1.01
    lots_a = {round(lot[2]): lot[1] for lot in ledger.lots[0]}   # basis -> shares left
    assert lots_a[150] == pytest.approx(10.0)                     # the loss lot is untouched
    assert lots_a[50] == pytest.approx(10.0 - sold[0])


def test_wash_aware_funding_offers_only_gain_lots_of_a_recent_buy():
    date = pd.Timestamp("2020-02-20")
    ledger = Ledger(["A", "B"], TAX, "hifo")
    ledger.buy(0, 10.0, 50.0, pd.Timestamp("2019-01-02"))
    ledger.buy(0, 10.0, 150.0, date - pd.Timedelta(days=10))   # recent: a loss lot at 100
    ledger.buy(1, 30.0, 100.0, pd.Timestamp("2019-01-02"))
    prices = np.array([100.0, 100.0])
    amounts = sales_avoiding_wash(ledger, prices, date, TAX.wash_sale_days)
    # A offers its gain lot only (1,000), B all it holds (3,000): 400 split 1:3
    np.testing.assert_allclose(amounts(400.0), [100.0, 300.0])
    # more than the 4,000 offered: pro rata to holdings (2,000 : 3,000), capped at holdings
    np.testing.assert_allclose(amounts(4_500.0), [1_800.0, 2_700.0])
    np.testing.assert_allclose(amounts(9_000.0), [2_000.0, 3_000.0])


def test_funding_with_nothing_to_sell_raises_naming_the_account():
    ledger = Ledger(["A"], TAX, "hifo")
    ledger.cash_usd = -10.0
    with pytest.raises(CashShortfallError, match="ira: nothing left to sell"):
        fund_shortfall(ledger, pd.Timestamp("2021-01-04"), np.array([10.0]), free,
                       pro_rata_sales(ledger, np.array([10.0])), linear_cost=0.0, tolerance_usd=1e-6, account="ira")
    ledger.cash_usd = 5.0
    assert fund_shortfall(ledger, pd.Timestamp("2021-01-04"), np.array([10.0]), free,
                          pro_rata_sales(ledger, np.array([10.0])), linear_cost=0.0, tolerance_usd=1e-6) == []


def test_a_household_that_holds_books_each_day_as_the_single_account_simulator():
    rng = np.random.default_rng(11)
    dates = pd.bdate_range("2020-10-01", periods=120)
    returns = rng.normal(0.0005, 0.01, (len(dates), 2))
    returns[0] = 0.0
    prices = pd.DataFrame(100.0 * np.cumprod(1 + returns, axis=0), index=dates, columns=["STOCK", "BOND"])
    cash_index = pd.Series(np.cumprod(np.r_[1.0, np.full(len(dates) - 1, 1.0001)]), index=dates)
    target = pd.Series({"STOCK": 0.55, "BOND": 0.35})
    config = HouseholdBacktestConfig(accounts=(AccountSetup("only", "taxable", 500_000.0),), tax=TAX,
                                     costs=CostModel(), min_history=20, lookback=60)
    household = HouseholdSimulator(prices, pd.DataFrame(0.0, index=dates, columns=prices.columns),
                                   pd.Series(dtype=bool), config, cash_index=cash_index).run("hold", target)
    single = Simulator(prices, BacktestConfig(initial_usd=500_000.0, tax=TAX), cash_index=cash_index).run(
        BuyAndHold(target))
    assert household.cash_usd["only"].iloc[-1] > 50_000.0 * 1.01       # cash grew: the check can fail
    np.testing.assert_allclose(household.nav_usd["only"].to_numpy(), single.nav_usd, rtol=1e-13)
    np.testing.assert_allclose(household.cash_usd["only"].to_numpy(), single.cash_usd, rtol=1e-13)
