"""Tax alpha of loss harvesting: a direct-indexing account against buy-and-hold.

Part ``direct_indexing`` (this file today): a taxable account of the S&P 500 members in
``sp500_100_stocks_ohlcv_daily.csv.gz`` loaded by ``problems.real_data.sp500_100_daily()``
(95 of the 100 symbols have a full 2013-02-08 .. 2018-02-07 history; spin-offs adjusted;
**price returns**: dividends are missing, about 2%/yr, for every policy alike).

* $1m invested on the first date, no contributions or withdrawals;
* target: **equal weight**, 98% of NAV spread equally over the stocks, 2% cash (cash
  earns nothing; it pays the yearly tax). Equal weight, not cap weight: the file has no
  shares outstanding;
* ``TaxRules()`` (37% short-term, 20% long-term, US netting with carry-forward and the
  $3,000 ordinary offset), tax paid annually from cash, HIFO relief where a policy names
  no lots; ``CostModel(adv_usd=universe.adv_usd)`` (default spread and commission, impact
  scaled by a look-ahead ADV used only as a cost scale).

Policies: ``buy_and_hold``; ``threshold_hifo`` (:class:`Threshold`, bands 20% relative
to target, checked daily, trade all to target, HIFO); ``loss_harvester``
(:class:`LossHarvester` with its defaults: weekly, 5% and $250 loss per lot, held 31
days, most correlated substitute over 252 days, swap back after 31 days, the same bands
underneath); and :class:`OptimizerPolicy` (weekly, harvesting through its tax valuation)
at each risk aversion of :data:`OPTIMIZER_POINTS`.

Tax alpha (``tax_alpha_bps_per_year``) = (after-tax terminal wealth of the policy -
buy-and-hold's) / buy-and-hold's / years, in bp; both liquidate every lot on the last
date (``BacktestResult.after_tax_terminal_usd``). It includes the pre-tax return
difference of rebalancing, which over this span dwarfs the tax part. So the table also
has ``pretax_alpha_bps_per_year`` (the same formula on the final NAV before the
liquidation tax; tax paid during the run is already out of it) and
``tax_saved_bps_per_year``: buy-and-hold's total tax (paid during the run plus the
liquidation tax, ``tax_total_usd``) less the policy's, over buy-and-hold's after-tax
wealth, per year (nominal dollars: the deferral's time value is only in the first
column). ``tax_alpha_geometric_bps`` is the annualised ratio
(:func:`optimizer.backtest.tax_alpha_bps`).

Part ``household`` (``--part household``; ``benchmarks/household_location.py``): a taxable
account of $1m, a traditional IRA of $1m and a Roth of $0.5m on the daily ETF/Treasury data
2014-2020, target 60% equities (SP500 30%, five factor ETFs 6% each), 35% Treasuries (UST2Y
10%, UST10Y 15%, UST30Y 10%), 5% CASH, decided monthly; ``household_joint`` (one program,
tax drag priced) against ``household_separate`` (each account alone) and
``household_hold``; ``asset_location_gain_bps_per_year`` = joint against separate, bp/yr of
household after-tax wealth. Its rows are merged into an existing CSV (rows of other data
sets are kept).

Writes ``tax_alpha.csv`` to ``--out`` (default ``benchmarks/results``; ``--quick``, 10
stocks over the last year, defaults to a temporary folder) and prints whether the
optimizer meets the target: at least the harvester's tax alpha at equal or lower tracking
error, with 0 wash-sale violations.

Run: ``.venv/bin/python benchmarks/tax_alpha.py [--quick] [--part direct_indexing] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.backtest import BacktestConfig, CostModel, Simulator, tax_alpha_bps
from optimizer.backtest.metrics import years
from optimizer.backtest.result import BacktestResult
from optimizer.model import TaxRules
from optimizer.policies import Bands, BuyAndHold, LossHarvester, OptimizerPolicy, Policy, Threshold
from problems import real_data

RESULTS = Path(__file__).resolve().parent / "results"
QUICK_OUT = Path(tempfile.gettempdir()) / "tax_alpha_quick"
PARTS = ("direct_indexing", "household")

INITIAL_USD = 1_000_000.0
STOCK_WEIGHT = 0.98              # NAV fraction over the stocks; 2% cash target
BANDS = Bands.relative_to_target(0.20)
#: Risk aversions of the optimizer rows (``OptimizerPolicy(risk_aversion=...)``, weekly).
OPTIMIZER_POINTS = (100.0, 1000.0, 10000.0)
QUICK_SYMBOLS = 10
QUICK_START = "2017-02-08"
BASELINE = "buy_and_hold"
COLUMNS = ["data", "policy", "years", "tax_alpha_bps_per_year", "tracking_error", "turnover",
           "losses_harvested_usd", "wash_sale_violations", "after_tax_terminal_usd", "disallowed_loss_usd",
           "pretax_terminal_usd", "liquidation_tax_usd", "tax_paid_usd", "tax_total_usd", "pretax_alpha_bps_per_year",
           "tax_saved_bps_per_year", "tax_alpha_geometric_bps", "trading_cost_bps",
           "realized_short_usd", "realized_long_usd", "rebalance_events", "harvests", "seconds"]


class BenchmarkError(ValueError):
    """Bad command-line input, or a part that is not built yet."""


# ----------------------------------------------------------------------------- direct indexing


def direct_indexing_data(quick: bool) -> tuple[str, Simulator, pd.Series]:
    """The data set name, its simulator and the equal-weight target (see the module docstring)."""
    universe = real_data.sp500_100_daily(start=QUICK_START if quick else None)
    prices = universe.prices
    if quick:
        prices = prices.iloc[:, :QUICK_SYMBOLS]
    config = BacktestConfig(initial_usd=INITIAL_USD, tax=TaxRules(), tax_schedule="annual", relief="hifo",
                            costs=CostModel(adv_usd=universe.adv_usd.reindex(prices.columns)))
    target = pd.Series(STOCK_WEIGHT / prices.shape[1], index=prices.columns)
    first, last = prices.index[0].year, prices.index[-1].year
    return f"stocks{prices.shape[1]}_{first}_{last}", Simulator(prices, config), target


def direct_indexing_policies(target: pd.Series, config: BacktestConfig, quick: bool) -> list[Policy]:
    """Buy-and-hold, HIFO bands, the rule-based harvester and the optimizer points."""
    policies: list[Policy] = [
        BuyAndHold(target),
        Threshold(target, BANDS, check="D", trade_to="target", name="threshold_hifo"),
        LossHarvester(target, tax=config.tax, bands=BANDS, name="loss_harvester"),
    ]
    for risk_aversion in OPTIMIZER_POINTS[:1] if quick else OPTIMIZER_POINTS:
        policies.append(OptimizerPolicy(target, costs=config.costs, tax=config.tax, risk_aversion=risk_aversion,
                                        every="W", name=f"optimizer_ra{risk_aversion:g}"))
    return policies


def row(data: str, policy: Policy, result: BacktestResult, baseline: BacktestResult, seconds: float) -> dict:
    """One CSV row: the columns of :data:`COLUMNS` for ``result`` against ``baseline``."""
    metrics = result.metrics()
    span = years(result)
    wealth = baseline.after_tax_terminal_usd
    alpha = (result.after_tax_terminal_usd - wealth) / wealth
    tax_total = float(result.tax_paid_usd.sum()) + result.liquidation_tax_usd
    baseline_tax = float(baseline.tax_paid_usd.sum()) + baseline.liquidation_tax_usd
    return {
        "data": data, "policy": policy.name, "years": span,
        "tax_alpha_bps_per_year": alpha / span * 1e4,
        "tracking_error": metrics["tracking_error"], "turnover": metrics["turnover"],
        "losses_harvested_usd": metrics["losses_harvested_usd"],
        "wash_sale_violations": metrics["wash_sale_violations"],
        "after_tax_terminal_usd": result.after_tax_terminal_usd,
        "disallowed_loss_usd": metrics["disallowed_loss_usd"],
        "pretax_terminal_usd": float(result.nav_usd[-1]),
        "liquidation_tax_usd": result.liquidation_tax_usd,
        "tax_paid_usd": float(result.tax_paid_usd.sum()),
        "tax_total_usd": tax_total,
        "pretax_alpha_bps_per_year": (result.nav_usd[-1] - baseline.nav_usd[-1]) / baseline.nav_usd[-1] / span * 1e4,
        "tax_saved_bps_per_year": (baseline_tax - tax_total) / wealth / span * 1e4,
        "tax_alpha_geometric_bps": tax_alpha_bps(result, baseline),
        "trading_cost_bps": metrics["trading_cost_bps"],
        "realized_short_usd": metrics["realized_short_usd"], "realized_long_usd": metrics["realized_long_usd"],
        "rebalance_events": metrics["rebalance_events"],
        "harvests": getattr(policy, "harvests_", np.nan),
        "seconds": seconds,
    }


def direct_indexing_rows(quick: bool) -> pd.DataFrame:
    """Run every direct-indexing policy; one row each (buy-and-hold first: the baseline)."""
    data, simulator, target = direct_indexing_data(quick)
    policies = direct_indexing_policies(target, simulator.config, quick)
    print(f"{data}: {len(simulator.calendar)} dates x {len(simulator.assets)} stocks, {len(policies)} policies",
          flush=True)
    runs = []
    for k, policy in enumerate(policies):
        print(f"  [{k + 1}/{len(policies)}] {policy.name} ...", end="", flush=True)
        started = time.perf_counter()
        result = simulator.run(policy)
        runs.append((policy, result, time.perf_counter() - started))
        print(f" {runs[-1][2]:.0f} s", flush=True)
    baseline = next(result for policy, result, _ in runs if policy.name == BASELINE)
    return pd.DataFrame([row(data, policy, result, baseline, seconds) for policy, result, seconds in runs],
                        columns=COLUMNS)


# ----------------------------------------------------------------------------- household


def household_rows(quick: bool) -> pd.DataFrame:
    """Household part: taxable $1m + IRA $1m + Roth $0.5m on the ETF/Treasury data 2014-2020,
    60/35/5 target, joint vs separate (``benchmarks/household_location.py`` documents it).

    Rows have :data:`COLUMNS` plus ``asset_location_gain_bps_per_year`` and the household's
    own columns (``tax_alpha_bps_per_year`` is against the household held without trading).
    """
    import importlib.util

    spec = importlib.util.spec_from_file_location("household_location", Path(__file__).with_name(
        "household_location.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.household_rows(quick)


PART_RUNNERS = {"direct_indexing": direct_indexing_rows, "household": household_rows}


# ----------------------------------------------------------------------------- target


def optimizer_verdict(table: pd.DataFrame, harvester: str = "loss_harvester") -> list[str]:
    """Per data set: does an optimizer row at no higher tracking error than the harvester's
    reach at least its tax alpha, with 0 wash-sale violations? One line each, with margins."""
    lines = []
    for data, group in table.groupby("data", sort=False):
        rule = group[group["policy"] == harvester]
        optimizers = group[group["policy"].str.startswith("optimizer")]
        if rule.empty or optimizers.empty:
            continue
        rule = rule.iloc[0]
        eligible = optimizers[(optimizers["tracking_error"] <= rule["tracking_error"])
                              & (optimizers["wash_sale_violations"] == 0)]
        if eligible.empty:
            best = optimizers.loc[optimizers["tracking_error"].idxmin()]
            lines.append(f"{data}: target MISSED: no optimizer row at TE <= {rule['tracking_error']:.4f} with 0 "
                         f"violations (lowest TE {best['policy']} {best['tracking_error']:.4f})")
            continue
        best = eligible.loc[eligible["tax_alpha_bps_per_year"].idxmax()]
        margin = best["tax_alpha_bps_per_year"] - rule["tax_alpha_bps_per_year"]
        verdict = "met" if margin >= 0 else "MISSED"
        lines.append(f"{data}: target {verdict}: {best['policy']} tax alpha {best['tax_alpha_bps_per_year']:.1f} "
                     f"bp/yr at TE {best['tracking_error']:.4f} vs {harvester} {rule['tax_alpha_bps_per_year']:.1f} "
                     f"bp/yr at TE {rule['tracking_error']:.4f} (margin {margin:+.1f} bp/yr)")
    return lines


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_SYMBOLS} stocks from {QUICK_START}, one optimizer point (smoke run; "
                             "default --out is a temp folder)")
    parser.add_argument("--part", action="append", choices=PARTS,
                        help="part to run (repeatable); default direct_indexing")
    parser.add_argument("--out", type=Path, default=None, help=f"output folder (default {RESULTS})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run the parts; write and return the table (one row per data set and policy)."""
    args = parse_args(argv)
    out = args.out or (QUICK_OUT if args.quick else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    table = pd.concat([PART_RUNNERS[part](args.quick) for part in (args.part or ["direct_indexing"])],
                      ignore_index=True)
    path = out / "tax_alpha.csv"
    if path.exists():     # keep the rows of data sets not run now (e.g. --part household alone)
        kept = pd.read_csv(path)
        kept = kept[~kept["data"].isin(table["data"])]
        table = pd.concat([kept, table], ignore_index=True) if len(kept) else table
    table.to_csv(path, index=False, float_format="%.10g")
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table[COLUMNS[1:10]].round(4).to_string(index=False), flush=True)
    for line in optimizer_verdict(table):
        print(line)
    print(f"wrote {out / 'tax_alpha.csv'}")
    return table


if __name__ == "__main__":
    main()
