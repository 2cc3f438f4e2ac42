"""Household backtest (``optimizer.backtest.household``).

Oracles: a household of one taxable account without tax drag decides exactly as the
single-account engine; without drag, costs or tax the joint and separate policies end
equal (with tax, the joint one realizes no more gains on a rising path); no account's cash
is ever negative; the terminal after-tax wealth, the drag and its payment recomputed by
hand on a three-account, one-asset case.
"""

import numpy as np
import pandas as pd
import pytest

from case_factories import lots_frame, make_market, one_factor_risk
from optimizer import InputError, Portfolio, Targets
from optimizer.backtest.costs import CostModel
from optimizer.backtest.household import AccountSetup, HouseholdBacktestConfig, HouseholdSimulator
from optimizer.household import Account, Household, rebalance_household
from optimizer.model import Settings, TaxRules

FREE = CostModel(half_spread=0.0, commission=0.0, impact_eta=0.0)


def synthetic_prices(days: int = 80, seed: int = 3, drift: float = 0.0015) -> pd.DataFrame:
    """A rising, noisy stock and a flat, quiet bond on business days from 2019-11-01."""
    rng = np.random.default_rng(seed)
    returns = np.column_stack([rng.normal(drift, 0.012, days), rng.normal(0.0, 0.003, days)])
    returns[0] = 0.0
    dates = pd.bdate_range("2019-11-01", periods=days)
    return pd.DataFrame(100.0 * np.cumprod(1.0 + returns, axis=0), index=dates, columns=["STOCK", "BOND"])


def simulator(accounts, prices, *, income=0.0, costs=CostModel(), tax=TaxRules()) -> HouseholdSimulator:
    config = HouseholdBacktestConfig(accounts=tuple(accounts), tax=tax, costs=costs,
                                     settings=Settings(risk_aversion=200.0), lookback=60, min_history=20, lot_groups=4,
                                     n_factors=2, min_trade_usd=10.0)
    yields = pd.DataFrame({"STOCK": income / 2, "BOND": income}, index=prices.index)
    return HouseholdSimulator(prices, yields, pd.Series({"STOCK": True}), config)


TARGET = pd.Series({"STOCK": 0.6, "BOND": 0.38})


def test_one_taxable_account_without_drag_decides_as_the_single_account_engine():
    sim = simulator([AccountSetup("only", "taxable", 1_000_000.0)], synthetic_prices())
    joint, separate = sim.run("joint", TARGET), sim.run("separate", TARGET)
    assert joint.decisions == separate.decisions >= 3
    assert separate.traded_usd.sum() > 2_000.0           # it traded: the comparison can fail
    np.testing.assert_allclose(joint.nav_usd.to_numpy(), separate.nav_usd.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(joint.weights.to_numpy(), separate.weights.to_numpy(), atol=1e-6)
    assert joint.traded_usd.sum() == pytest.approx(separate.traded_usd.sum(), rel=1e-4)
    assert joint.after_tax_terminal_usd == pytest.approx(separate.after_tax_terminal_usd, rel=1e-7)


ACCOUNTS = [AccountSetup("brokerage", "taxable", 1_000_000.0), AccountSetup("ira", "deferred", 600_000.0),
            AccountSetup("roth", "exempt", 300_000.0)]


@pytest.fixture(scope="module")
def household_runs():
    """Taxable + IRA + Roth, no income (no drag) and no trading costs; a rising stock."""
    sim = simulator(ACCOUNTS, synthetic_prices(seed=5, drift=0.004), costs=FREE)
    return {policy: sim.run(policy, TARGET) for policy in ("joint", "separate", "hold")}


def test_without_tax_drag_costs_or_tax_joint_and_separate_end_equal():
    """Nothing distinguishes the accounts: both policies hold the household at the same
    weights, so they end with the same wealth (the location of growth is worth nothing)."""
    untaxed = TaxRules(short_term_rate=0.0, long_term_rate=0.0)
    sim = simulator(ACCOUNTS, synthetic_prices(seed=5, drift=0.004), costs=FREE, tax=untaxed)
    joint, separate = sim.run("joint", TARGET), sim.run("separate", TARGET)
    assert separate.traded_usd.sum() > 2_000.0
    np.testing.assert_allclose(joint.weights.to_numpy(), separate.weights.to_numpy(), atol=2e-4)
    assert joint.after_tax_terminal_usd == pytest.approx(separate.after_tax_terminal_usd, rel=1e-5)


def test_without_drag_and_costs_the_joint_policy_realizes_no_more_tax(household_runs):
    """A rising stock: the separate taxable account sells gains to rebalance; the joint
    program rebalances where trading is untaxed. (After-tax wealth can still favour either:
    the program counts every account's dollars pre-tax, so it is indifferent to whether
    growth lands in the IRA, taxed at 37% on withdrawal, or in the Roth.)"""
    joint, separate = household_runs["joint"], household_runs["separate"]
    assert separate.tax_paid_usd.sum() > 0
    assert joint.tax_paid_usd.sum() <= separate.tax_paid_usd.sum()
    assert not joint.failures and not separate.failures
    assert abs(joint.tracking_error() - separate.tracking_error()) < 1e-3


@pytest.mark.parametrize("policy", ["joint", "separate", "hold"])
def test_no_account_cash_is_ever_negative(household_runs, policy):
    cash = household_runs[policy].cash_usd
    assert (cash.to_numpy() >= -1e-6).all()
    assert list(cash.columns) == ["brokerage", "ira", "roth"]


def test_a_taxable_loss_is_not_sold_while_another_account_buys_it(household_runs):
    """The ledger books every buy of another account on the taxable ledger: a same-date
    taxable loss sale would show as a disallowance; the joint policy makes none."""
    assert len(household_runs["joint"].wash_sales) == 0


def test_terminal_wealth_and_drag_by_hand():
    """One asset A (90% target), idle cash, a year end in the path; nothing traded (hold).

    Taxable: 9 shares at 100 and 100 in cash on 2019-12-30. Drag accrues on the previous
    date's holdings and cash: A's income 5% a year at 37% (not qualified), cash 2% at 37%;
    paid with the (zero) capital-gains tax on 2020-01-02; what accrues after is unpaid at
    the end. Liquidation: 9 x (120 - 100) short-term at 37%.
    """
    dates = pd.DatetimeIndex(["2019-12-30", "2019-12-31", "2020-01-02", "2020-01-03"])
    prices = pd.DataFrame({"A": [100.0, 110.0, 120.0, 120.0]}, index=dates)
    level = pd.Series([1.0, 1.001, 1.002, 1.004], index=dates)
    config = HouseholdBacktestConfig(accounts=(AccountSetup("t", "taxable", 1000.0),
                                               AccountSetup("ira", "deferred", 1000.0),
                                               AccountSetup("roth", "exempt", 500.0)), min_history=2, lookback=2)
    sim = HouseholdSimulator(prices, pd.DataFrame({"A": 0.05}, index=dates), pd.Series({"A": False}), config,
                             cash_index=level, cash_yield=pd.Series(0.02, index=dates))
    result = sim.run("hold", pd.Series({"A": 0.9}))

    rate = 0.37
    days = [1, 2, 1]
    shares, cash, drag, paid = 9.0, 100.0, 0.0, 0.0
    for k, d in enumerate(days, start=1):
        drag += d / 365.25 * (shares * prices["A"].iloc[k - 1] * 0.05 * rate + cash * 0.02 * rate)
        cash *= level.iloc[k] / level.iloc[k - 1]
        if k == 2:                                      # first date of 2020: pay the drag
            cash -= drag
            paid, drag = drag, 0.0
    nav = shares * 120.0 + cash
    liquidation = 9 * 20.0 * rate
    terminal = result.terminal
    assert result.drag_paid_usd["t"] == pytest.approx(paid, rel=1e-12)
    assert terminal.loc["t", "unpaid_drag_usd"] == pytest.approx(drag, rel=1e-12)
    assert terminal.loc["t", "liquidation_tax_usd"] == pytest.approx(liquidation, rel=1e-9)
    assert terminal.loc["t", "after_tax_usd"] == pytest.approx(nav - liquidation - drag, rel=1e-12)
    untaxed = 9 * 120.0 + 100.0 * 1.004
    assert terminal.loc["ira", "after_tax_usd"] == pytest.approx(untaxed * (1 - rate), rel=1e-12)
    assert terminal.loc["roth", "after_tax_usd"] == pytest.approx(untaxed / 2, rel=1e-12)
    assert result.after_tax_terminal_usd == pytest.approx(nav - liquidation - drag + untaxed * (1.5 - rate))


def test_drag_without_cash_is_paid_by_a_forced_sale_of_gains_first():
    dates = pd.DatetimeIndex(["2019-12-30", "2019-12-31", "2020-01-02"])
    prices = pd.DataFrame({"A": [100.0, 110.0, 120.0]}, index=dates)
    config = HouseholdBacktestConfig(accounts=(AccountSetup("t", "taxable", 1000.0),), min_history=2, lookback=2)
    sim = HouseholdSimulator(prices, pd.DataFrame({"A": 0.05}, index=dates), pd.Series(dtype=bool), config)
    result = sim.run("hold", pd.Series({"A": 1.0}))
    assert result.forced_dates == [(dates[2], "t")]
    assert result.cash_usd.iloc[-1, 0] >= 0.0
    drag = (1 / 365.25 * 1000.0 + 2 / 365.25 * 1100.0) * 0.05 * 0.37
    assert result.drag_paid_usd["t"] == pytest.approx(drag, rel=1e-12)
    assert result.traded_usd["t"] >= drag


def test_bad_inputs_name_the_field():
    with pytest.raises(InputError, match="kind"):
        AccountSetup("a", "roth-ish", 1.0)
    with pytest.raises(InputError, match="initial_usd"):
        AccountSetup("a", "taxable", 0.0)
    with pytest.raises(InputError, match="twice"):
        HouseholdBacktestConfig(accounts=(AccountSetup("a", "taxable", 1.0), AccountSetup("a", "exempt", 1.0)))
    sim = simulator([AccountSetup("a", "taxable", 1000.0)], synthetic_prices(days=30))
    with pytest.raises(InputError, match="policy"):
        sim.run("together", TARGET)
    with pytest.raises(InputError, match="target"):
        sim.run("hold", pd.Series({"GOLD": 0.5}))


def test_one_joint_decision_never_buys_an_asset_another_account_sells_at_a_loss():
    """The taxable account holds stocks at a loss; the IRA holds cash. Without the rule the
    program harvests the loss and has the IRA buy the stock back (a wash sale whose loss is
    lost for good); with it, the group either buys or sells at a loss."""
    risk = one_factor_risk(["STOCK", "BOND"], [1.0, 0.2], 0.03, [0.005, 0.002])
    market = make_market({"STOCK": 100.0, "BOND": 50.0}, risk, half_spread=0.0005)
    household = Household((Account("brokerage", Portfolio(lots=lots_frame([("s", "STOCK", 5000.0, 150.0, 400)]))),
                           Account("ira", Portfolio(lots=lots_frame([]), cash_usd=500_000.0), kind="deferred")))
    targets = Targets.absolute(pd.Series({"STOCK": 0.5, "BOND": 0.5}), 0.05)

    def conflict(result) -> bool:
        trades = result.trades
        return trades.loc[("brokerage", "STOCK"), "sell_usd"] > 1.0 and trades.loc[("ira", "STOCK"), "buy_usd"] > 1.0

    relaxed = rebalance_household(household, targets, market, Settings(risk_aversion=100.0, wash_sale=False))
    assert conflict(relaxed)                                         # the case has a conflict to resolve
    assert not conflict(rebalance_household(household, targets, market, Settings(risk_aversion=100.0)))
