"""Every heuristic and an optimizer sweep on three real data sets, with the issue's targets.

Data sets (``problems.real_data``), all taxable accounts (``TaxRules()``: 37% short-term,
20% long-term, tax paid annually), $1m initial, $10k contributed on the first trading
day of every quarter after the first:

* ``etf_daily_2014_2020``: ``multi_asset_daily`` 2014-01-02 .. 2020-12-31 (total-return
  indices); targets ``MULTI_ASSET_CLASS_TARGET`` split equally over each class's assets;
  idle cash earns the ``CASH`` index; default :class:`CostModel`.
* ``stocks20_2005_2020``: ``stocks_daily`` 2005-01-03 .. 2020-12-31 (20 stocks, adjusted
  closes, so total-return-ish; spans 2008 and 2020); 98% equal weight, 2% cash target;
  idle cash earns nothing; default :class:`CostModel`.
* ``stocks100_2013_2018``: ``sp500_100_daily()`` (95 S&P 500 members with a full history,
  spin-off adjusted **price** returns: dividends are missing, so returns and terminal
  wealth are understated by about 2% a year for every policy alike); 98% equal weight, 2%
  cash; idle cash earns nothing; ``CostModel(adv_usd=universe.adv_usd)`` (a look-ahead
  ADV, used only as a cost scale).

Policies: ``heuristic_policies(target)`` and one ``OptimizerPolicy(target, costs, tax,
every="W", **kwargs)`` per entry of :data:`SWEEP`. Writes, in ``--out`` (default
``benchmarks/results``; ``--quick`` defaults to a temporary folder so smoke runs never
overwrite the real results):

* ``policy_comparison.csv`` and ``policy_comparison.md``: one row per data set and
  policy, every metric of ``result.metrics()`` plus ``tax_alpha_bps`` (vs
  ``calendar_annual``), ``wash_sale_violations`` (the metrics key when the backtester
  reports it, else NaN), ``decision_ms_median``, ``decisions``, ``solver_failures`` and
  ``seconds``;
* ``policy_comparison_<data>.png`` per data set (tracking error vs total cost, the sweep
  joined as a frontier) and ``policy_comparison.png`` (them side by side);
* ``policy_targets.csv``: :func:`optimizer.backtest.compare.evaluate_targets` of the table.

Run: ``.venv/bin/python benchmarks/policy_comparison.py [--quick] [--data NAME ...] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.backtest import BacktestConfig, CostModel, Simulator
from optimizer.backtest.compare import (MULTI_ASSET_CLASS_TARGET, class_targets_to_assets, evaluate_targets,
                                        heuristic_policies)
from optimizer.backtest.metrics import tax_alpha_bps
from optimizer.backtest.result import BacktestResult
from optimizer.model import TaxRules
from optimizer.policies import OptimizerPolicy, Policy
from optimizer.report import plots
from problems import real_data

RESULTS = Path(__file__).resolve().parent / "results"
QUICK_OUT = Path(tempfile.gettempdir()) / "policy_comparison_quick"

#: Optimizer sweep: keyword arguments of ``OptimizerPolicy`` (besides target, costs, tax,
#: every="W"), one run each. Edit freely; a ``name`` key sets the row's name.
SWEEP = (
    {"risk_aversion": 0.1},
    {"risk_aversion": 1.0},
    {"risk_aversion": 2.0},
    {"risk_aversion": 3.0},
    {"risk_aversion": 5.0},
    {"risk_aversion": 10.0},
    {"risk_aversion": 30.0},
    {"risk_aversion": 100.0},
    {"risk_aversion": 1e3},
    {"risk_aversion": 1e4},
    {"risk_aversion": 1e5},
    {"risk_aversion": 1e3, "every": "D", "name": "optimizer_ra1000_daily"},
    {"risk_aversion": 1e5, "every": "D", "name": "optimizer_ra1e5_daily"},
)

INITIAL_USD = 1_000_000.0
QUARTERLY_CONTRIBUTION_USD = 10_000.0
STOCK_WEIGHT = 0.98            # NAV fraction over the stocks; the other 2% is the cash target
BASELINE = "calendar_annual"   # tax alpha is measured against this policy
LEAD_COLUMNS = ["tracking_error", "turnover", "trading_cost_bps", "tax_bps", "total_cost_bps",
                "after_tax_terminal_usd", "wash_sale_violations", "decision_ms_median"]
PRINT_COLUMNS = LEAD_COLUMNS + ["rebalance_events", "seconds"]


class BenchmarkError(ValueError):
    """Bad command-line input (e.g. an unknown data set name)."""


@dataclass(frozen=True)
class DataSet:
    """One backtest setting: the simulator (prices, account, flows) and the target weights."""

    name: str
    simulator: Simulator
    target: pd.Series


# ----------------------------------------------------------------------------- data sets


def quarterly_flows(calendar: pd.DatetimeIndex, amount_usd: float = QUARTERLY_CONTRIBUTION_USD) -> pd.Series:
    """``amount_usd`` (USD) on the first date of each quarter of ``calendar`` except the first."""
    firsts = calendar.to_series().groupby(calendar.to_period("Q")).first()
    return pd.Series(amount_usd, index=pd.DatetimeIndex(firsts.to_numpy()[1:]))


def equal_weight(symbols, total: float = STOCK_WEIGHT) -> pd.Series:
    """``total`` (NAV fraction) split equally over ``symbols``."""
    symbols = list(symbols)
    return pd.Series(total / len(symbols), index=symbols)


def _simulator(prices: pd.DataFrame, costs: CostModel, cash_index: pd.Series | None = None) -> Simulator:
    config = BacktestConfig(initial_usd=INITIAL_USD, tax=TaxRules(), tax_schedule="annual", costs=costs)
    return Simulator(prices, config, cash_index=cash_index, flows=quarterly_flows(prices.index))


def etf_daily(quick: bool) -> DataSet:
    """Daily multi-asset ETFs/indices; ``quick``: 2020 only."""
    start = "2020-01-02" if quick else "2014-01-02"
    prices = real_data.multi_asset_daily(start=start, end="2020-12-31")
    target = class_targets_to_assets(MULTI_ASSET_CLASS_TARGET, real_data.multi_asset_classes())
    return DataSet("etf_daily_2014_2020", _simulator(prices, CostModel(), prices["CASH"]),
                   target.reindex(prices.columns))


def stocks20_daily(quick: bool) -> DataSet:
    """20 stocks, adjusted closes; ``quick``: 2020 only."""
    prices = real_data.stocks_daily(start="2020-01-02" if quick else "2005-01-03", end="2020-12-31")
    return DataSet("stocks20_2005_2020", _simulator(prices, CostModel()), equal_weight(prices.columns))


def stocks100_daily(quick: bool) -> DataSet:
    """95-100 S&P 500 members, price returns; ``quick``: the last year (2017-02-08 on)."""
    universe = real_data.sp500_100_daily(start="2017-02-08" if quick else None)
    prices = universe.prices
    return DataSet("stocks100_2013_2018", _simulator(prices, CostModel(adv_usd=universe.adv_usd)),
                   equal_weight(prices.columns))


DATA_SETS: dict[str, Callable[[bool], DataSet]] = {
    "etf_daily_2014_2020": etf_daily,
    "stocks20_2005_2020": stocks20_daily,
    "stocks100_2013_2018": stocks100_daily,
}


# ----------------------------------------------------------------------------- policies


def sweep_points(quick: bool) -> tuple[dict, ...]:
    """:data:`SWEEP`, or its first, middle and last entries when ``quick``."""
    if not quick or len(SWEEP) <= 3:
        return SWEEP
    return (SWEEP[0], SWEEP[len(SWEEP) // 2], SWEEP[-1])


def optimizer_policies(data: DataSet, points: tuple[dict, ...]) -> list[OptimizerPolicy]:
    """One weekly ``OptimizerPolicy`` per sweep point, each named ``optimizer_...``."""
    config = data.simulator.config
    policies = []
    for kwargs in points:
        policy = OptimizerPolicy(data.target, costs=config.costs, tax=config.tax, **{"every": "W", **kwargs})
        if not policy.name.startswith("optimizer"):
            policy.name = f"optimizer_{policy.name}"
        policies.append(policy)
    names = [p.name for p in policies]
    if len(set(names)) != len(names):
        raise BenchmarkError(f"sweep points share a name: {names}; add a 'name' key to tell them apart")
    return policies


# ----------------------------------------------------------------------------- running


def decision_ms_median(policy: Policy, result: BacktestResult) -> float:
    """Median milliseconds per decision.

    ``policy.decision_seconds`` (the optimizer's own timing) when it exists and is not
    empty; otherwise the simulator's ``decide_seconds`` on the dates the policy traded.
    NaN if the policy never traded.
    """
    own = getattr(policy, "decision_seconds", None)
    if own is not None and len(own):
        return float(np.median(np.asarray(own, dtype=float)) * 1e3)
    traded = np.asarray(result.decide_seconds)[np.asarray(result.events, dtype=bool)]
    return float(np.median(traded) * 1e3) if len(traded) else float("nan")


def run_policy(simulator: Simulator, policy: Policy) -> tuple[dict, BacktestResult]:
    """Backtest one policy; its metrics plus wash sales, decision time, failures and seconds."""
    started = time.perf_counter()
    result = simulator.run(policy)
    metrics = dict(result.metrics())
    metrics["seconds"] = time.perf_counter() - started
    metrics["wash_sale_violations"] = float(metrics.get("wash_sale_violations", np.nan))
    metrics["decision_ms_median"] = decision_ms_median(policy, result)
    metrics["decisions"] = getattr(policy, "decisions", np.nan)
    failures = getattr(policy, "failures", None)
    metrics["solver_failures"] = len(failures) if failures is not None else np.nan
    return metrics, result


def run_data_set(data: DataSet, policies: list[Policy]) -> pd.DataFrame:
    """Run every policy on ``data``; one row per policy (index ``policy``), progress printed."""
    rows, results = {}, {}
    for i, policy in enumerate(policies):
        print(f"  {data.name}: [{i + 1}/{len(policies)}] {policy.name} ...", end="", flush=True)
        rows[policy.name], results[policy.name] = run_policy(data.simulator, policy)
        print(f" {rows[policy.name]['seconds']:.1f} s", flush=True)
    base = BASELINE if BASELINE in results else policies[0].name
    for name, result in results.items():
        rows[name]["tax_alpha_bps"] = tax_alpha_bps(result, results[base])
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "policy"
    return table[LEAD_COLUMNS + [c for c in table.columns if c not in LEAD_COLUMNS]]


# ----------------------------------------------------------------------------- output


def to_markdown(table: pd.DataFrame, digits: int = 4) -> str:
    """A pipe table of ``table`` (index included), numbers to ``digits`` significant digits."""
    frame = table.reset_index()

    def cell(value) -> str:
        if isinstance(value, (float, np.floating)):
            return "" if np.isnan(value) else f"{value:.{digits}g}"
        return str(value)

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def write_plots(tables: dict[str, pd.DataFrame], out: Path) -> list[Path]:
    """One frontier plot per data set, plus ``policy_comparison.png`` with them side by side."""
    paths = [plots.frontier(table, out / f"policy_comparison_{name}.png",
                            title=f"{name}: tracking error vs total cost (trading + tax paid)")
             for name, table in tables.items()]
    from PIL import Image

    images = [Image.open(path) for path in paths]
    canvas = Image.new("RGB", (sum(i.width for i in images), max(i.height for i in images)), "white")
    x = 0
    for image in images:
        canvas.paste(image, (x, 0))
        x += image.width
    canvas.save(out / "policy_comparison.png")
    return paths + [out / "policy_comparison.png"]


def print_targets(targets: pd.DataFrame) -> None:
    """Per data set: how many heuristics meet (a), (b), and whether (c) holds; then each miss."""
    for data, group in targets.groupby("data", sort=False):
        c = group["c_no_wash_sales"].iloc[0]
        if pd.isna(c):
            c_text = "unknown (no wash-sale count reported)"
        else:
            c_text = "met" if c else f"MISSED ({group['c_violations'].iloc[0]:g} violations)"
        print(f"{data}: (a) optimizer no worse on TE and total cost than {group['a_dominated'].sum()}/{len(group)} "
              f"heuristics; (b) no lower after-tax wealth at no higher TE for {group['b_wealth_no_lower'].sum()}"
              f"/{len(group)}; (c) zero optimizer wash sales: {c_text}")
        for _, row in group.iterrows():
            if not (row["a_dominated"] and row["b_wealth_no_lower"]):
                print(f"    {row['heuristic']:34s} (a) {'ok  ' if row['a_dominated'] else 'MISS'} "
                      f"cost miss {row['a_cost_miss_bps']:8.2f} bps, TE miss {row['a_te_miss']:8.4f}; "
                      f"(b) {'ok  ' if row['b_wealth_no_lower'] else 'MISS'} wealth margin "
                      f"{row['b_wealth_margin_usd']:12,.0f} USD")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="one year per data set and 3 sweep points (smoke run; default --out is a temp folder)")
    parser.add_argument("--data", action="append", choices=list(DATA_SETS),
                        help="data set to run (repeatable); default all")
    parser.add_argument("--out", type=Path, default=None, help=f"output folder (default {RESULTS})")
    parser.add_argument("--combine", type=Path, nargs="+", default=None, metavar="DIR",
                        help="instead of running, combine the policy_comparison.csv of earlier runs "
                             "(e.g. one data set per process) into --out")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run the comparison; write and return the table (index ``data, policy``)."""
    args = parse_args(argv)
    out = args.out or (QUICK_OUT if args.quick else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    tables = {}
    if args.combine:
        for folder in args.combine:
            part = pd.read_csv(folder / "policy_comparison.csv", index_col=["data", "policy"])
            for name, frame in part.groupby(level="data", sort=False):
                tables[name] = frame.droplevel("data")
    for name in [] if args.combine else (args.data or list(DATA_SETS)):
        started = time.perf_counter()
        data = DATA_SETS[name](args.quick)
        policies = heuristic_policies(data.target) + optimizer_policies(data, sweep_points(args.quick))
        print(f"{name}: {len(data.simulator.calendar)} dates x {len(data.simulator.assets)} assets, "
              f"{len(policies)} policies", flush=True)
        tables[name] = run_data_set(data, policies)
        print(f"{name}: done in {time.perf_counter() - started:.0f} s\n", flush=True)
        with pd.option_context("display.width", 250, "display.max_columns", 30):
            print(tables[name][PRINT_COLUMNS].round(5).to_string(), "\n", flush=True)
    table = pd.concat(tables, names=["data", "policy"])
    table.to_csv(out / "policy_comparison.csv", float_format="%.6g")
    (out / "policy_comparison.md").write_text(to_markdown(table))
    targets = evaluate_targets(table)
    targets.to_csv(out / "policy_targets.csv", index=False, float_format="%.6g")
    print_targets(targets)
    written = write_plots(tables, out)
    print(f"wrote policy_comparison.csv, .md, policy_targets.csv and {len(written)} plots to {out}")
    return table


if __name__ == "__main__":
    main()
