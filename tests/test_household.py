"""Households: taxable, deferred and exempt accounts in one convex program (``optimizer.household``).

Oracles: a household of one account is a plain rebalance; a hand-solvable asset-location
case; the joint program never does worse on its own objective than rebalancing each
account separately; cash stays in its account; the wash-sale rule spans the accounts.
"""

import numpy as np
import pandas as pd
import pytest

from case_factories import DATE, lots_frame, make_market, one_factor_risk
from optimizer import InputError, Portfolio, Rebalancer, Settings, Targets, TaxRules, rebalance
from optimizer.household import (Account, Household, prepare_household, rebalance_household, tax_drag,
                                 trade_of_accounts)
from optimizer.program import objective_value

ASSETS = ["STOCK", "BOND"]


def two_asset_market(half_spread: float = 0.0005):
    risk = one_factor_risk(ASSETS, [1.0, 0.2], 0.03, [0.005, 0.002])
    return make_market({"STOCK": 100.0, "BOND": 50.0}, risk, half_spread=half_spread)


def test_a_household_of_one_taxable_account_is_a_plain_rebalance():
    market = two_asset_market()
    lots = lots_frame([("s1", "STOCK", 6000.0, 70.0, 400), ("s2", "STOCK", 1000.0, 120.0, 30),
                       ("b1", "BOND", 4000.0, 52.0, 200)])
    portfolio = Portfolio(lots=lots, cash_usd=20_000.0)
    targets = Targets.absolute(pd.Series({"STOCK": 0.6, "BOND": 0.38}), 0.05, cash_weight=0.02)
    settings = Settings(risk_aversion=50.0)
    single = rebalance(portfolio, targets, market, settings, tax=TaxRules())
    joint = rebalance_household(Household((Account("only", portfolio),), tax=TaxRules()), targets, market, settings)
    np.testing.assert_allclose(joint.trades.loc["only", "trade_usd"].to_numpy(), single.trades["trade_usd"].to_numpy(),
                               atol=1e-3)
    assert joint.objective_bps == pytest.approx(single.objective_bps, rel=1e-6, abs=1e-6)
    assert joint.accounts.loc["only", "tax_usd"] == pytest.approx(single.costs_usd["tax"], abs=1e-2)


def location_household(bond_drag: float, stock_drag: float = 0.004) -> Household:
    """Two equal accounts, a taxable one and a Roth, each holding half stocks and half bonds at
    cost (no gains); cash in the taxable account is taxed like the bonds."""
    def account(name: str, kind: str) -> Account:
        lots = lots_frame([(f"{name}-s", "STOCK", 2500.0, 100.0, 500), (f"{name}-b", "BOND", 5000.0, 50.0, 500)])
        return Account(name, Portfolio(lots=lots, cash_usd=0.0), kind=kind)

    return Household((account("brokerage", "taxable"), account("ira", "exempt")), tax=TaxRules(),
                     tax_drag=pd.Series({"STOCK": stock_drag, "BOND": bond_drag}), cash_tax_drag=bond_drag)


def test_bonds_land_in_the_ira_when_their_tax_drag_is_higher():
    """Hand-solvable: household weights stay 50/50 whatever the location, so tracking error does
    not change; swapping the taxable account's bonds for the IRA's stocks saves
    (bond drag - stock drag) x 25% of NAV a year for a spread of 4 x 25% x 5 bp once."""
    targets = Targets.absolute(pd.Series({"STOCK": 0.5, "BOND": 0.5}), 0.1, cash_weight=0.0)
    result = rebalance_household(location_household(bond_drag=0.04 * 0.37), targets, two_asset_market(),
                                 Settings(risk_aversion=1000.0))
    after = result.trades["weight_after"]
    assert after[("brokerage", "BOND")] < 1e-3           # within the spread paid: 0.1% of NAV
    assert after[("ira", "STOCK")] < 1e-3
    assert after[("brokerage", "STOCK")] == pytest.approx(0.5, abs=1e-3)
    assert after[("ira", "BOND")] == pytest.approx(0.5, abs=1e-3)
    drag = result.accounts["tax_drag_after_usd"]
    assert drag["brokerage"] == pytest.approx(0.004 * 500_000.0, rel=1e-3)   # all stock now
    assert drag["ira"] == 0.0


def test_no_relocation_when_the_drags_are_equal():
    targets = Targets.absolute(pd.Series({"STOCK": 0.5, "BOND": 0.5}), 0.1, cash_weight=0.0)
    result = rebalance_household(location_household(bond_drag=0.004, stock_drag=0.004), targets, two_asset_market(),
                                 Settings(risk_aversion=1000.0))
    assert result.trades["gross_usd"].abs().max() < 1.0


def test_a_traditional_ira_counts_at_its_after_tax_value():
    """$1m of stocks in a taxable account (at cost) and $1m of bonds in a traditional IRA whose
    withdrawals are taxed at 37%: pre-tax the household is 50/50, after tax it is 1 : 0.63 =
    61/39. Counted after tax, the program trades toward 50/50 after tax; counted pre-tax, it
    sees nothing to do."""
    taxable = Account("brokerage", Portfolio(lots=lots_frame([("s", "STOCK", 10_000.0, 100.0, 500)]), cash_usd=0.0))
    ira = Account("ira", Portfolio(lots=lots_frame([("b", "BOND", 20_000.0, 50.0, 500)]), cash_usd=0.0),
                  kind="deferred")
    targets = Targets.absolute(pd.Series({"STOCK": 0.5, "BOND": 0.5}), 0.01, cash_weight=0.0)
    settings = Settings(risk_aversion=1e4)
    after = rebalance_household(Household((taxable, ira), tax=TaxRules()), targets, two_asset_market(), settings)
    exposures = after.household.exposures
    assert exposures.loc["STOCK", "before"] == pytest.approx(1.0 / 1.63, rel=1e-9)
    assert exposures.loc["STOCK", "after"] == pytest.approx(0.5, abs=0.011)      # inside the 1% band
    # the dollars reported are the accounts' own: what the IRA buys it pays from its own cash
    assert after.trades.loc["ira", "trade_usd"].sum() <= 1e-3
    pretax = rebalance_household(Household((taxable, ira), tax=TaxRules(), after_tax_exposures=False), targets,
                                 two_asset_market(), settings)
    assert pretax.household.exposures.loc["STOCK", "before"] == pytest.approx(0.5, rel=1e-9)
    assert pretax.trades["gross_usd"].max() < 1.0


def test_a_household_of_one_deferred_account_trades_like_a_tax_free_account():
    """After-tax weighting scales the one account uniformly: the trades are a plain rebalance's."""
    market = two_asset_market()
    portfolio = Portfolio(lots=lots_frame([("s1", "STOCK", 6000.0, 70.0, 400), ("b1", "BOND", 4000.0, 52.0, 200)]),
                          cash_usd=20_000.0)
    targets = Targets.absolute(pd.Series({"STOCK": 0.4, "BOND": 0.58}), 0.05, cash_weight=0.02)
    settings = Settings(risk_aversion=50.0)
    single = rebalance(portfolio, targets, market, settings, tax=TaxRules.none())
    joint = rebalance_household(Household((Account("ira", portfolio, kind="deferred"),), tax=TaxRules()), targets,
                                market, settings)
    np.testing.assert_allclose(joint.trades.loc["ira", "trade_usd"].to_numpy(), single.trades["trade_usd"].to_numpy(),
                               atol=1e-2)
    np.testing.assert_allclose(joint.trades.loc["ira", "price"].to_numpy(), single.trades["price"].to_numpy())


def random_household(seed: int) -> tuple[Household, Targets]:
    rng = np.random.default_rng(seed)
    accounts = []
    for a, kind in enumerate(["taxable", "deferred", "exempt"][: 2 + seed % 2]):
        rows = []
        for asset in ASSETS:
            for k in range(int(rng.integers(1, 4))):
                rows.append((f"{a}{asset}{k}", asset, float(rng.uniform(200, 3000)), float(rng.uniform(30, 140)),
                             int(rng.integers(10, 900))))
        accounts.append(Account(f"acct{a}", Portfolio(lots=lots_frame(rows), cash_usd=float(rng.uniform(0, 50_000))),
                                kind=kind))
    targets = Targets.absolute(pd.Series({"STOCK": 0.55, "BOND": 0.4}), 0.05, cash_weight=0.05)
    return Household(tuple(accounts), tax=TaxRules(), tax_drag=pd.Series({"BOND": 0.015})), targets


@pytest.mark.parametrize("seed", range(6))
def test_the_joint_program_never_does_worse_than_each_account_alone(seed):
    household, targets = random_household(seed)
    market = two_asset_market()
    settings = Settings(risk_aversion=30.0, wash_sale=False)
    data, parts = prepare_household(household, targets, market, settings)
    joint = rebalance_household(household, targets, market, settings)
    rebalancer = Rebalancer()
    alone = [rebalancer.program(part.shape).solve(part)[0] for part in parts]
    separate = objective_value(data, trade_of_accounts(household, alone, parts))
    assert joint.objective_bps <= separate + 1e-6 * max(1.0, abs(separate))
    # cash never moves between accounts: each pays its own trades and costs
    cash_after = joint.accounts["cash_after_usd"]
    assert (cash_after >= -1e-6 * data.nav_usd).all()


def test_cash_does_not_move_between_accounts():
    """The IRA holds only cash and the taxable account only stocks; the target wants bonds. The
    IRA can buy bonds with its cash, but the taxable account cannot spend the IRA's cash."""
    taxable = Account("brokerage", Portfolio(lots=lots_frame([("s", "STOCK", 5000.0, 100.0, 500)]), cash_usd=0.0))
    ira = Account("ira", Portfolio(lots=lots_frame([]), cash_usd=100_000.0), kind="deferred")
    targets = Targets.absolute(pd.Series({"STOCK": 0.5, "BOND": 0.5}), 0.01, cash_weight=0.0)
    result = rebalance_household(Household((taxable, ira), tax=TaxRules()), targets, two_asset_market(),
                                 Settings(risk_aversion=100.0))
    ira_spent = result.trades.loc["ira", "trade_usd"].sum()
    assert ira_spent <= 100_000.0 + 1e-3
    assert result.accounts.loc["ira", "cash_after_usd"] >= -1e-3
    assert result.accounts.loc["brokerage", "cash_after_usd"] >= -1e-3
    assert result.trades.loc[("ira", "BOND"), "buy_usd"] > 90_000.0


def test_a_taxable_loss_sale_blocks_buys_in_the_ira():
    taxable = Account("brokerage", Portfolio(lots=lots_frame([("s", "STOCK", 5000.0, 100.0, 500)]), cash_usd=0.0,
                                             recent_loss_sales=pd.Series({"BOND": DATE - pd.Timedelta(days=10)})))
    ira = Account("ira", Portfolio(lots=lots_frame([]), cash_usd=100_000.0), kind="deferred")
    targets = Targets.absolute(pd.Series({"STOCK": 0.5, "BOND": 0.5}), 0.01, cash_weight=0.0)
    result = rebalance_household(Household((taxable, ira), tax=TaxRules()), targets, two_asset_market(),
                                 Settings(risk_aversion=100.0))
    assert result.trades.loc[("ira", "BOND"), "buy_usd"] == pytest.approx(0.0, abs=1e-3)


def test_an_ira_buy_blocks_loss_sales_in_the_taxable_account():
    """The taxable account holds stocks at a loss and is far overweight; the IRA bought stocks 5
    days ago (that lot is held): the taxable loss lot may not be sold."""
    taxable = Account("brokerage", Portfolio(lots=lots_frame([("loss", "STOCK", 8000.0, 150.0, 400)]),
                                             cash_usd=0.0))
    ira = Account("ira", Portfolio(lots=lots_frame([("new", "STOCK", 100.0, 100.0, 5)]), cash_usd=200_000.0),
                  kind="deferred")
    targets = Targets.absolute(pd.Series({"STOCK": 0.5, "BOND": 0.5}), 0.05, cash_weight=0.0)
    household = Household((taxable, ira), tax=TaxRules())
    result = rebalance_household(household, targets, two_asset_market(), Settings(risk_aversion=100.0))
    assert result.trades.loc[("brokerage", "STOCK"), "sell_usd"] == pytest.approx(0.0, abs=1e-3)
    # Without the IRA's recent buy the loss lot is sold (the test can fail).
    old = Account("ira", Portfolio(lots=lots_frame([("new", "STOCK", 100.0, 100.0, 60)]), cash_usd=200_000.0),
                  kind="deferred")
    free = rebalance_household(Household((taxable, old), tax=TaxRules()), targets, two_asset_market(),
                               Settings(risk_aversion=100.0))
    assert free.trades.loc[("brokerage", "STOCK"), "sell_usd"] > 1000.0


def test_tax_drag_is_income_yield_at_the_rate_of_its_kind():
    tax = TaxRules(short_term_rate=0.37, long_term_rate=0.20)
    drag = tax_drag(pd.Series({"BOND": 0.04, "STOCK": 0.02}), pd.Series({"STOCK": True}), tax)
    assert drag["BOND"] == pytest.approx(0.04 * 0.37)
    assert drag["STOCK"] == pytest.approx(0.02 * 0.20)


def test_bad_households_name_the_field():
    portfolio = Portfolio(lots=lots_frame([]), cash_usd=1.0)
    with pytest.raises(InputError, match="kind"):
        Account("a", portfolio, kind="roth-ish")
    with pytest.raises(InputError, match="twice"):
        Household((Account("a", portfolio), Account("a", portfolio)))
    with pytest.raises(InputError, match="tax_drag"):
        Household((Account("a", portfolio),), tax_drag=pd.Series({"BOND": -0.1}))
    with pytest.raises(InputError, match="accounts"):
        Household(())


@pytest.mark.parametrize("seed", range(3))
def test_the_household_program_matches_the_plain_reference_formulation(seed):
    """Per-account cash rows and the tax-drag term, written plainly in ``optimizer.reference``."""
    from optimizer.reference import solve_reference

    household, targets = random_household(seed)
    settings = Settings(risk_aversion=30.0, wash_sale=False)
    data, _ = prepare_household(household, targets, two_asset_market(), settings)
    assert data.shape.accounts and data.shape.holding_costs
    joint = Rebalancer().solve(data)
    _, reference_bps = solve_reference(data)
    assert joint.objective_bps == pytest.approx(reference_bps, rel=1e-6, abs=1e-5)


def test_expected_growth_adds_its_deferred_tax_to_the_drag():
    tax = TaxRules(short_term_rate=0.37, long_term_rate=0.20, horizon_years=10, discount_rate=0.05)
    drag = tax_drag(pd.Series({"BOND": 0.02, "STOCK": 0.02}), pd.Series({"STOCK": True}), tax,
                    price_growth=pd.Series({"STOCK": 0.05}))
    assert drag["STOCK"] == pytest.approx(0.02 * 0.20 + 0.05 * 0.20 / 1.05 ** 10)
    assert drag["BOND"] == pytest.approx(0.02 * 0.37)


def test_an_account_band_holds_and_costs_what_it_binds():
    """The location case with the Roth held to at least 30% stocks of its own value: the swap
    stops there (hard band), and the objective rises; the household program still matches
    the plain reference formulation."""
    from dataclasses import replace as replaced

    from optimizer.reference import solve_reference

    targets = Targets.absolute(pd.Series({"STOCK": 0.5, "BOND": 0.5}), 0.1, cash_weight=0.0)
    free = location_household(bond_drag=0.04 * 0.37)
    roth_bands = Targets(pd.Series({"STOCK": 0.5, "BOND": 0.5}), pd.Series({"STOCK": 0.3, "BOND": 0.0}),
                         pd.Series({"STOCK": 1.0, "BOND": 1.0}), 0.0)
    banded = replaced(free, accounts=(free.accounts[0], replaced(free.accounts[1], bands=roth_bands)))
    settings = Settings(risk_aversion=1000.0, bands="hard")
    loose = rebalance_household(free, targets, two_asset_market(), settings)
    tight = rebalance_household(banded, targets, two_asset_market(), settings)
    roth_stock = tight.trades.loc[("ira", "STOCK"), "weight_after"] / 0.5          # of the Roth's own value
    assert roth_stock == pytest.approx(0.3, abs=1e-4)
    assert loose.trades.loc[("ira", "STOCK"), "weight_after"] < 1e-3
    assert tight.objective_bps > loose.objective_bps + 1e-3
    data, _ = prepare_household(banded, targets, two_asset_market(), settings)
    assert tight.objective_bps == pytest.approx(solve_reference(data)[1], rel=1e-6, abs=1e-5)


def test_whole_shares_keep_every_account_in_its_own_cash():
    """Whole-share rounding checks each account's cash, not only the household's: the taxable
    account sells 10.4 shares ($1,040) to buy 20.7 bonds ($1,035 + spread); rounded, the sale
    is 10 shares and the buy 20 bonds plus spread, $0.50 more than it has. The IRA's cash
    must not cover it: a bond share is given up."""
    from optimizer.rounding import round_to_whole_units
    from optimizer.terms import cash
    from optimizer.terms.base import Trade

    taxable = Account("brokerage", Portfolio(lots=lots_frame([("s", "STOCK", 5000.0, 100.0, 500)]), cash_usd=0.0))
    ira = Account("ira", Portfolio(lots=lots_frame([("b", "BOND", 100.0, 50.0, 500)]), cash_usd=100_000.0),
                  kind="exempt")
    targets = Targets.absolute(pd.Series({"STOCK": 0.5, "BOND": 0.5}), 0.01, cash_weight=0.0)
    data, _ = prepare_household(Household((taxable, ira), tax=TaxRules()), targets, two_asset_market(), Settings())
    nav, L = data.nav_usd, data.shape.lot_slots
    buy = np.zeros(data.shape.n_assets)
    buy[1] = 20.7 * 50.0 / nav                       # brokerage/BOND
    sell = np.zeros(data.shape.n_lots)
    sell[0 * L] = 10.4 * 100.0 / nav                  # brokerage/STOCK, its only lot
    rounded = round_to_whole_units(data, Trade(buy, sell, np.zeros_like(buy), np.zeros(0)))
    free = cash.account_cash_free_after(data, rounded) * nav
    assert free[0] >= 0.0                            # the taxable account pays its own way
    assert rounded.buy[1] * nav / 50.0 == pytest.approx(19.0)
    assert rounded.sell[0] * nav / 100.0 == pytest.approx(10.0)
