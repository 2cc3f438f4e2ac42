"""The demo: heuristics vs the optimizer on the packaged daily multi-asset data, as an HTML report.

``rebalance demo --out DIR`` calls :func:`run_demo`. It backtests a small set of
practitioner policies and a three-point risk-aversion sweep of the optimizer policy on
``problems.real_data.multi_asset_daily`` (total-return indices 2014-2020; targets on
the asset classes of ``multi_asset_classes`` split equally over their assets; a taxable
account with quarterly contributions), prints the comparison table and writes
``DIR/index.html`` with its figures.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from optimizer.backtest import BacktestConfig, CostModel, Simulator
from optimizer.backtest.compare import (MULTI_ASSET_CLASS_TARGET, class_targets_to_assets, compare,
                                        optimizer_sweep)
from optimizer.model import TaxRules
from optimizer.policies import Bands, BuyAndHold, Calendar, CalendarThreshold, CashFlowRouting, Threshold
from optimizer.report import format_table, write_report

DEMO_RISK_AVERSIONS = (10.0, 100.0, 1000.0)
SHOWN = ["tracking_error", "drift_mean", "rebalance_events", "turnover", "trading_cost_bps", "tax_bps",
         "annual_return", "volatility", "after_tax_terminal_usd", "tax_alpha_bps"]


def demo_setup(quick: bool = False) -> tuple[Simulator, pd.Series, pd.Series]:
    """The simulator, per-asset target and asset classes the demo uses."""
    from problems import real_data

    prices = real_data.multi_asset_daily(start="2018-01-01" if quick else "2014-01-02", end="2020-12-31")
    classes = real_data.multi_asset_classes()
    target = class_targets_to_assets(MULTI_ASSET_CLASS_TARGET, classes).reindex(prices.columns)
    quarter_starts = prices.index.to_series().groupby(prices.index.to_period("Q")).first()
    flows = pd.Series(10_000.0, index=pd.DatetimeIndex(quarter_starts.to_numpy()[1:]))
    config = BacktestConfig(initial_usd=1_000_000.0, tax=TaxRules(), costs=CostModel())
    return Simulator(prices, config, cash_index=prices["CASH"], flows=flows), target, classes


def _print_table(table: pd.DataFrame) -> None:
    shown = format_table(table[SHOWN])
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a dependency, plain text is the fallback
        print(shown.to_string())
        return
    out = Table(title="Policy comparison (daily multi-asset, taxable, quarterly contributions)")
    out.add_column("policy")
    for column in shown.columns:
        out.add_column(column.replace("_", " "), justify="right")
    for name, row in shown.iterrows():
        out.add_row(str(name), *row.tolist())
    Console(width=220).print(out)


def run_demo(out_dir: Path, *, quick: bool = False) -> Path:
    """Run the comparison, print the table, write the HTML report into ``out_dir``; return its path.

    ``quick=True`` uses 2018-2020 and monthly optimizer decisions (about half a minute);
    the full demo uses 2014-2020 and weekly decisions (about two minutes on two cores).
    """
    started = time.perf_counter()
    simulator, target, classes = demo_setup(quick)
    costs, tax = simulator.config.costs, simulator.config.tax
    policies = [
        BuyAndHold(target),
        Calendar(target, "M"), Calendar(target, "Q"), Calendar(target, "A"),
        Threshold(target, Bands.absolute(0.02)), Threshold(target, Bands.absolute(0.05)),
        Threshold(target, Bands.absolute(0.02), trade_to="edge"),
        CalendarThreshold(target, Bands.absolute(0.02), check="M"),
        CashFlowRouting(target, Bands.absolute(0.02)),
    ] + optimizer_sweep(target, DEMO_RISK_AVERSIONS, costs=costs, tax=tax, every="M" if quick else "W",
                        lookback=126 if quick else 252)

    def progress(name: str, i: int, n: int) -> None:
        print(f"[{i + 1}/{n}] {name} ({time.perf_counter() - started:.0f} s)", flush=True)

    comparison = compare(simulator, policies, baseline="calendar_annual", progress=progress)
    _print_table(comparison.table)
    span = f"{simulator.calendar[0].date()} .. {simulator.calendar[-1].date()}"
    path = write_report({f"Daily multi-asset {span}": comparison}, Path(out_dir),
                        groups={f"Daily multi-asset {span}": classes},
                        notes=("Targets: " + ", ".join(f"{k} {v:.0%}" for k, v in MULTI_ASSET_CLASS_TARGET.items())
                               + " (split equally over each class's assets); $1m taxable account, $10k "
                               "contributed each quarter; costs 2 bps half-spread + 1 bp commission + impact."))
    comparison.table.to_csv(Path(out_dir) / "comparison.csv")
    print(f"report: {path} ({time.perf_counter() - started:.0f} s)")
    return path
