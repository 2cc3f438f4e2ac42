"""The demo: heuristics vs the optimizer on the packaged daily multi-asset data, as an HTML report.

``rebalance demo --out DIR`` calls :func:`run_demo`. It backtests a small set of
practitioner policies and a four-point risk-aversion sweep of the optimizer policy (weekly
decisions; the sweep runs in two worker processes) on
``optimizer.datasets.multi_asset_daily`` (total-return indices 2014-2020; targets on
the asset classes of ``multi_asset_classes`` split equally over their assets; a taxable
account with quarterly contributions), prints the comparison table and writes
``DIR/index.html`` with its figures and a verdict computed from the table. The full demo
takes about 30-50 s on two cores and prints its total time.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from optimizer.backtest import BacktestConfig, CostModel, Simulator
from optimizer.backtest.compare import (MULTI_ASSET_CLASS_TARGET, TABLE_COLUMNS, Comparison,
                                        class_targets_to_assets, compare)
from optimizer.backtest.metrics import tax_alpha_bps
from optimizer.model import TaxRules
from optimizer.policies import (Bands, BuyAndHold, Calendar, CalendarThreshold, CashFlowRouting, OptimizerPolicy,
                                Threshold)
from optimizer.report import format_table, write_report
from optimizer.report.html import LABELS
from optimizer.report.verdict import headline_verdicts

#: Risk aversions of the optimizer sweep (one-off costs are amortised over the holding period of a
#: trade, so the no-trade bands narrow about as the cube root of the aversion). In the 2014-2020
#: benchmark (weekly decisions) tracking error went from about 0.8 %/yr (1) to 0.28 %/yr (1e5), total
#: cost from about -0.6 to 21 bp/yr; re-measure if the policy's economics change.
DEMO_RISK_AVERSIONS = (1.0, 10.0, 1_000.0, 100_000.0)
SHOWN = ["tracking_error", "drift_mean", "rebalance_events", "turnover", "trading_cost_bps", "tax_bps",
         "annual_return", "volatility", "after_tax_terminal_usd", "tax_alpha_bps"]


def demo_setup(quick: bool = False) -> tuple[Simulator, pd.Series, pd.Series]:
    """The simulator, per-asset target and asset classes the demo uses."""
    from optimizer import datasets as real_data

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
    out.add_column("policy", no_wrap=True, min_width=30)
    for column in shown.columns:
        out.add_column(LABELS.get(column, column.replace("_", " ")), justify="right")
    for name, row in shown.iterrows():
        out.add_row(str(name), *row.tolist())
    Console(width=220).print(out)


#: (simulator, policies) for the worker processes; set before the pool forks, read by index in the child.
_JOBS: tuple = ()


def _run_policy(i: int) -> tuple:
    """Run policy ``i`` of :data:`_JOBS`: (result, metrics, seconds, decision seconds)."""
    simulator, policies = _JOBS
    policy = policies[i]
    started = time.perf_counter()
    result = simulator.run(policy)
    metrics = result.metrics()
    seconds = time.perf_counter() - started
    return result, metrics, seconds, list(getattr(policy, "decision_seconds", []))


def _run_optimizers(simulator: Simulator, policies: list[OptimizerPolicy], workers: int, progress) -> list[tuple]:
    """Run the optimizer policies, in ``workers`` forked processes when the platform can fork."""
    global _JOBS
    _JOBS = (simulator, policies)
    try:
        if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
            with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
                futures = [pool.submit(_run_policy, i) for i in range(len(policies))]
                out = []
                for i, future in enumerate(futures):
                    out.append(future.result())
                    progress(f"{policies[i].name} done", i, len(policies))
                return out
        out = []
        for i, policy in enumerate(policies):
            progress(policy.name, i, len(policies))
            out.append(_run_policy(i))
        return out
    finally:
        _JOBS = ()


def run_demo(out_dir: Path, *, quick: bool = False, workers: int | None = None) -> Path:
    """Run the comparison, print the table, write the HTML report into ``out_dir``; return its path.

    ``quick=True`` uses 2018-2020 and monthly optimizer decisions (a few seconds); the full
    demo uses 2014-2020 and weekly decisions (30-50 s on two cores). The optimizer sweep runs
    in ``workers`` processes (default: up to 2, the machine's cores).
    """
    started = time.perf_counter()
    workers = workers if workers is not None else max(1, min(2, os.cpu_count() or 1))
    simulator, target, classes = demo_setup(quick)
    costs, tax = simulator.config.costs, simulator.config.tax
    heuristics = [
        BuyAndHold(target),
        Calendar(target, "M"), Calendar(target, "Q"), Calendar(target, "A"),
        Threshold(target, Bands.absolute(0.02)), Threshold(target, Bands.absolute(0.05)),
        Threshold(target, Bands.absolute(0.02), trade_to="edge"),
        CalendarThreshold(target, Bands.absolute(0.02), check="M"),
        CashFlowRouting(target, Bands.absolute(0.02)),
    ]
    every = "M" if quick else "W"
    optimizers = [OptimizerPolicy(target, costs=costs, tax=tax, risk_aversion=ra, every=every,
                                  lookback=126 if quick else 504) for ra in DEMO_RISK_AVERSIONS]

    def progress(name: str, i: int, n: int) -> None:
        print(f"[{i + 1}/{n}] {name} ({time.perf_counter() - started:.0f} s)", flush=True)

    print(f"optimizer sweep: {len(optimizers)} risk aversions, decisions every {every!r}, {workers} process(es)",
          flush=True)
    runs = _run_optimizers(simulator, optimizers, workers, progress)
    heuristic_part = compare(simulator, heuristics, baseline="calendar_annual", progress=progress)
    results = dict(heuristic_part.results)
    rows = heuristic_part.table.to_dict(orient="index")
    base = results[heuristic_part.baseline]
    decisions = {}
    for policy, (result, metrics, seconds, decision_seconds) in zip(optimizers, runs):
        metrics["seconds"] = seconds
        metrics["tax_alpha_bps"] = tax_alpha_bps(result, base)
        rows[policy.name] = metrics
        results[policy.name] = result
        decisions[policy.name] = decision_seconds
    table = pd.DataFrame.from_dict(rows, orient="index")[TABLE_COLUMNS]
    table.index.name = "policy"
    comparison = Comparison(table=table, results=results, baseline=heuristic_part.baseline)
    _print_table(comparison.table)
    span = f"{simulator.calendar[0].date()} .. {simulator.calendar[-1].date()}"
    timing = "; ".join(f"{name}: {len(s)} decisions, {1e3 * sum(s) / max(1, len(s)):.0f} ms each"
                       for name, s in decisions.items())
    key = f"Daily multi-asset {span}"
    path = write_report({key: comparison}, Path(out_dir), groups={key: classes},
                        notes=("Targets: " + ", ".join(f"{k} {v:.0%}" for k, v in MULTI_ASSET_CLASS_TARGET.items())
                               + " (split equally over each class's assets); $1m taxable account, $10k "
                               "contributed each quarter; costs 2 bps half-spread + 1 bp commission + impact. "
                               f"Optimizer decisions every {'month' if every == 'M' else 'week'} ({timing})."))
    comparison.table.to_csv(Path(out_dir) / "comparison.csv")
    elapsed = time.perf_counter() - started
    for headline in headline_verdicts(comparison.table):
        print(headline.text())
    print(f"report: {path}")
    print(f"done in {elapsed:.0f} s")
    return path
