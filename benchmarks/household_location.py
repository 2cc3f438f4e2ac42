"""Asset location: a household rebalanced as one program against each account rebalanced alone.

The household (:mod:`optimizer.backtest.household`):

* a **taxable** account of $1m, a traditional **IRA** (tax-deferred) of $1m and a **Roth**
  (tax-exempt) of $0.5m; no contributions or withdrawals; cash never moves between them;
* the daily ETF/Treasury data of :func:`problems.real_data.multi_asset_daily`, 2014-01-02 ..
  2020-12-31 (total-return levels; idle cash earns the ``CASH`` index);
* household target (:data:`TARGET`, documented 60/35/5): equities 60% (``SP500`` 30%, the
  five factor ETFs ``MTUM QUAL SIZE USMV VLUE`` 6% each), Treasuries 35% (``UST2Y`` 10%,
  ``UST10Y`` 15%, ``UST30Y`` 10%), ``CASH`` 5%; every account starts at that mix (bought on
  the first date without cost);
* ``TaxRules()``: 37% short-term / ordinary income, 20% long-term, US netting, tax paid
  yearly; deferred withdrawals taxed at 37% at the end;
* income inside the total-return prices, taxed every year in the taxable account (the tax
  drag): equities the Shiller S&P 500 dividend yield of the month (qualified: 20%; the
  factor ETFs are given the same yield), each Treasury fund the par yield of its maturity
  that day (ordinary: 37%), ``CASH`` and idle cash the 3-month yield (ordinary); the joint
  program also charges the deferred tax on expected price growth in a taxable account
  (:data:`PRICE_GROWTH`: an assumption, equities 5% a year, not fitted to the data);
* exposures counted after tax (a traditional IRA's dollar at 63 cents) by the joint
  program and by the tracking-error measure;
* ``CostModel()`` defaults (2 bp half-spread, 1 bp commission, impact with $500m ADV);
  decisions on the first trading day of each month once 60 daily returns exist (April 2014),
  ``Settings(risk_aversion=100)``, absolute bands of 10 points (soft), lots grouped into 8
  slots per asset and account, trades under $100 dropped.

Policies: ``hold`` (never trades; the tax-alpha baseline), ``separate`` (each account
rebalanced alone toward the household target, no tax drag seen) and ``joint`` (one
:func:`optimizer.rebalance_household` program with the tax drag). The asset-location gain
is ``(joint - separate) / separate / years`` of household after-tax terminal wealth, bp/yr.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from optimizer.backtest.household import AccountSetup, HouseholdBacktestConfig, HouseholdSimulator
from optimizer.model import Settings, TaxRules
from problems import real_data

DATA = "household_etf_treasury_2014_2020"
ACCOUNTS = (AccountSetup("taxable", "taxable", 1_000_000.0), AccountSetup("ira", "deferred", 1_000_000.0),
            AccountSetup("roth", "exempt", 500_000.0))
TARGET = pd.Series({"SP500": 0.30, "MTUM": 0.06, "QUAL": 0.06, "SIZE": 0.06, "USMV": 0.06, "VLUE": 0.06,
                    "UST2Y": 0.10, "UST10Y": 0.15, "UST30Y": 0.10, "CASH": 0.05})
BOND_TENOR = {"UST2Y": "2y", "UST10Y": "10y", "UST30Y": "30y", "CASH": "3m"}
POLICIES = ("hold", "separate", "joint")
BASELINE = "hold"
#: The joint program's long-run assumption of price appreciation (fraction per year), not
#: fitted to the data: equities 5% (a 7% total return less the dividend yield), Treasury
#: funds and cash 0 (their return is their income). Its tax falls due at the horizon.
PRICE_GROWTH = pd.Series({"SP500": 0.05, "MTUM": 0.05, "QUAL": 0.05, "SIZE": 0.05, "USMV": 0.05, "VLUE": 0.05})


def income_yields(prices: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Income yield per date and asset (fraction per year), which assets pay qualified dividends,
    and the cash yield per date (see the module docstring)."""
    calendar = prices.index
    curve = real_data.load_treasury_par_curve().sort_index()
    curve = curve.reindex(curve.index.union(calendar)).ffill().reindex(calendar) / 100.0
    shiller = real_data.load_shiller()
    dividend = (shiller["Dividend"] / shiller["SP500"]).rename("yield")
    month = pd.Series(dividend.to_numpy(), index=dividend.index.to_period("M"))
    equity = month.reindex(calendar.to_period("M")).to_numpy(dtype=float)
    yields = pd.DataFrame(index=calendar, columns=prices.columns, dtype=float)
    qualified = pd.Series(False, index=prices.columns)
    for asset in prices.columns:
        if asset in BOND_TENOR:
            yields[asset] = curve[BOND_TENOR[asset]].to_numpy(dtype=float)
        else:
            yields[asset] = equity
            qualified[asset] = True
    if yields.isna().any().any():
        raise ValueError("income yields have gaps on the price calendar")
    return yields, qualified, yields["CASH"].rename("cash_yield")


def household_simulator(quick: bool = False) -> HouseholdSimulator:
    prices = real_data.multi_asset_daily(start="2020-01-01" if quick else "2014-01-02", end="2020-12-31")
    yields, qualified, cash_yield = income_yields(prices)
    config = HouseholdBacktestConfig(accounts=ACCOUNTS, tax=TaxRules(), settings=Settings(risk_aversion=100.0))
    return HouseholdSimulator(prices, yields, qualified, config, cash_index=prices["CASH"], cash_yield=cash_yield,
                              price_growth=PRICE_GROWTH)


def household_rows(quick: bool = False) -> pd.DataFrame:
    """One row per policy with the columns of ``tax_alpha.py`` plus the household's own."""
    simulator = household_simulator(quick)
    data = DATA if not quick else "household_etf_treasury_2020_quick"
    print(f"{data}: {len(simulator.calendar)} dates x {len(simulator.assets)} assets, accounts "
          f"{[a.name for a in ACCOUNTS]}", flush=True)
    runs = {}
    for policy in POLICIES:
        print(f"  {policy} ...", end="", flush=True)
        started = time.perf_counter()
        runs[policy] = (simulator.run(policy, TARGET), time.perf_counter() - started)
        print(f" {runs[policy][1]:.0f} s; final holdings ($k):", flush=True)
        print((runs[policy][0].final_holdings_usd / 1e3).round(0).to_string(), flush=True)
    base = runs[BASELINE][0]
    separate = runs["separate"][0]
    rows = []
    for policy, (result, seconds) in runs.items():
        m = result.metrics()
        span = result.years
        wealth = result.after_tax_terminal_usd
        location = ((wealth - separate.after_tax_terminal_usd) / separate.after_tax_terminal_usd / span * 1e4
                    if policy != BASELINE else np.nan)
        rows.append({
            "data": data, "policy": f"household_{policy}", "years": span,
            "tax_alpha_bps_per_year": (wealth - base.after_tax_terminal_usd) / base.after_tax_terminal_usd / span
            * 1e4,
            "tracking_error": m["tracking_error"], "turnover": m["turnover"],
            "losses_harvested_usd": m["losses_harvested_usd"],
            "wash_sale_violations": m["wash_sale_violations"],
            "after_tax_terminal_usd": wealth, "disallowed_loss_usd": m["disallowed_loss_usd"],
            "asset_location_gain_bps_per_year": location,
            "pretax_terminal_usd": m["pretax_terminal_usd"],
            "liquidation_tax_usd": m["liquidation_tax_usd"], "tax_paid_usd": m["tax_paid_usd"],
            "drag_paid_usd": m["drag_paid_usd"],
            "trading_cost_bps": m["trading_cost_usd"] / float(result.nav_usd.sum(axis=1).mean()) / span * 1e4,
            "rebalance_events": m["decisions"], "seconds": seconds,
            **{f"after_tax_{name}_usd": float(v) for name, v in result.terminal["after_tax_usd"].items()},
            "wash_sale_disallowances": m["wash_sale_disallowances"],
            "failures": m["failures"], "forced_events": m["forced_events"],
        })
    return pd.DataFrame(rows)


if __name__ == "__main__":
    import sys

    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print(household_rows("--quick" in sys.argv[1:]).round(4).T)
