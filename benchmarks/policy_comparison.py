"""Every policy on real data, and the optimizer's risk-aversion sweep as a frontier.

Data sets (``problems.real_data``):

* daily multi-asset 2014-2020 (``multi_asset_daily``; targets on ``multi_asset_classes``:
  US_EQUITY 50%, SHORT_BONDS 15%, LONG_BONDS 30%, CASH 5%, split equally over each
  class's assets; idle cash earns the CASH index; $10k contributed each quarter);
* monthly stock/bond 1953-2020 (``stock_bond_monthly``; 60/40 US_EQUITY/UST10Y; idle
  cash earns BILLS; no flows). The optimizer decides monthly here with a 60-month
  risk-model window.

Both are taxable accounts (``TaxRules()``: 37% short-term, 20% long-term, annual tax
payments) with the default :class:`CostModel` (2 bps half-spread, 1 bp commission,
impact eta 1, ADV $500m). Writes ``benchmarks/results/policy_comparison.csv`` (one row per
data set and policy) and ``policy_comparison.png`` (tracking error vs total cost per year,
trading + tax paid; the optimizer sweep joined as a frontier), and prints, honestly,
whether the frontier dominates each heuristic.

Run: ``.venv/bin/python benchmarks/policy_comparison.py`` (about 3-4 minutes on two cores).
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from optimizer.backtest import BacktestConfig, Simulator
from optimizer.backtest.compare import (MULTI_ASSET_CLASS_TARGET, SIXTY_FORTY, class_targets_to_assets, compare,
                                        frontier_verdicts, heuristic_policies, optimizer_sweep)
from optimizer.model import TaxRules
from optimizer.report import plots
from problems import real_data

RESULTS = Path(__file__).resolve().parent / "results"
RISK_AVERSIONS = (1.0, 10.0, 100.0, 1000.0, 10000.0)


def daily_set() -> tuple[Simulator, pd.Series]:
    prices = real_data.multi_asset_daily(start="2014-01-02", end="2020-12-31")
    target = class_targets_to_assets(MULTI_ASSET_CLASS_TARGET, real_data.multi_asset_classes()).reindex(prices.columns)
    quarter_starts = prices.index.to_series().groupby(prices.index.to_period("Q")).first()
    flows = pd.Series(10_000.0, index=pd.DatetimeIndex(quarter_starts.to_numpy()[1:]))
    return Simulator(prices, BacktestConfig(tax=TaxRules()), cash_index=prices["CASH"], flows=flows), target


def monthly_set() -> tuple[Simulator, pd.Series]:
    prices = real_data.stock_bond_monthly()
    return (Simulator(prices[["US_EQUITY", "UST10Y"]], BacktestConfig(tax=TaxRules()), cash_index=prices["BILLS"]),
            pd.Series(SIXTY_FORTY))


def main() -> None:
    RESULTS.mkdir(exist_ok=True)
    tables = {}
    for label, (simulator, target), every, lookback in (
            ("daily_multi_asset_2014_2020", daily_set(), "W", 252),
            ("monthly_stock_bond_1953_2020", monthly_set(), "M", 60)):
        config = simulator.config
        policies = heuristic_policies(target) + optimizer_sweep(target, RISK_AVERSIONS, costs=config.costs,
                                                                tax=config.tax, every=every, lookback=lookback)
        started = time.perf_counter()
        comparison = compare(simulator, policies, baseline="calendar_annual",
                             progress=lambda name, i, n: print(f"  {label}: [{i + 1}/{n}] {name}", flush=True))
        print(f"{label}: {len(policies)} policies in {time.perf_counter() - started:.0f} s")
        tables[label] = comparison.table
        with pd.option_context("display.width", 250, "display.max_columns", 30):
            print(comparison.table[["tracking_error", "drift_mean", "rebalance_events", "turnover",
                                    "trading_cost_bps", "tax_bps", "total_cost_bps", "volatility",
                                    "after_tax_terminal_usd", "tax_alpha_bps"]].round(5).to_string())
        for cost in ("total_cost_bps", "trading_cost_bps"):
            verdicts = frontier_verdicts(comparison.table, cost=cost)
            dominated = (verdicts["verdict"] == "dominated").sum()
            print(f"\n{label}: optimizer frontier vs heuristics on (tracking error, {cost}): "
                  f"dominates {dominated} of {len(verdicts)}")
            for name, row in verdicts.iterrows():
                print(f"  {name:36s} TE {row['tracking_error']:.3%}  {cost} {row[cost]:7.2f}  "
                      f"frontier at same TE {row['frontier_cost_at_same_te']:7.2f}  -> {row['verdict']}")
        best = comparison.table["after_tax_terminal_usd"].idxmax()
        print(f"{label}: highest after-tax terminal wealth: {best} "
              f"({comparison.table.loc[best, 'after_tax_terminal_usd']:,.0f})\n")
    table = pd.concat(tables, names=["data", "policy"])
    table.to_csv(RESULTS / "policy_comparison.csv", float_format="%.6g")
    _plot(tables, RESULTS / "policy_comparison.png")
    print(f"wrote {RESULTS / 'policy_comparison.csv'} and policy_comparison.png")


def _plot(tables: dict[str, pd.DataFrame], path: Path) -> None:
    from PIL import Image

    parts = []
    for label, table in tables.items():
        part = path.with_name(f"policy_comparison_{label}.png")
        plots.frontier(table, part, title=f"{label}: tracking error vs total cost (trading + tax paid)")
        parts.append(part)
    images = [Image.open(p) for p in parts]
    width = sum(i.width for i in images)
    canvas = Image.new("RGB", (width, max(i.height for i in images)), "white")
    x = 0
    for image in images:
        canvas.paste(image, (x, 0))
        x += image.width
    canvas.save(path)
    for p in parts:
        p.unlink()


if __name__ == "__main__":
    main()
