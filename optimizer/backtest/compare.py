"""Run many policies on one simulator and lay the metrics side by side.

Used by ``benchmarks/policy_comparison.py`` and :func:`optimizer.demo.run_demo`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.backtest.costs import CostModel
from optimizer.backtest.metrics import tax_alpha_bps
from optimizer.backtest.result import BacktestResult
from optimizer.backtest.simulator import Simulator
from optimizer.model import TaxRules
from optimizer.policies import (Bands, BuyAndHold, Calendar, CalendarThreshold, CashFlowRouting, OptimizerPolicy,
                                Policy, Threshold)

#: Strategic mix of the daily multi-asset set, on the classes of ``problems.real_data.multi_asset_classes``.
MULTI_ASSET_CLASS_TARGET = {"US_EQUITY": 0.50, "SHORT_BONDS": 0.15, "LONG_BONDS": 0.30, "CASH": 0.05}
#: The classic balanced mix of the long monthly history.
SIXTY_FORTY = {"US_EQUITY": 0.60, "UST10Y": 0.40}

TABLE_COLUMNS = ["tracking_error", "drift_mean", "drift_max", "rebalance_events", "forced_events", "turnover",
                 "spread_bps", "commission_bps", "impact_bps", "tax_bps", "trading_cost_bps", "total_cost_bps",
                 "annual_return", "volatility", "max_drawdown", "after_tax_terminal_usd", "tax_alpha_bps",
                 "seconds"]


def class_targets_to_assets(class_weights: dict[str, float], classes: pd.Series) -> pd.Series:
    """Split each class weight equally over the assets of that class (per-asset targets)."""
    out = {}
    for cls, weight in class_weights.items():
        members = list(classes.index[classes == cls])
        for asset in members:
            out[str(asset)] = weight / len(members)
    return pd.Series(out)


def heuristic_policies(target: pd.Series | dict, *, checks_daily: bool = True) -> list[Policy]:
    """The practitioners' set: buy-and-hold, four calendars, bands of each kind, routing."""
    target = pd.Series(target, dtype=float)
    lazy_trim = Bands.asymmetric(0.02, 0.04)
    policies: list[Policy] = [BuyAndHold(target)]
    policies += [Calendar(target, f) for f in ("M", "Q", "S", "A")]
    policies += [
        Threshold(target, Bands.absolute(0.02)),
        Threshold(target, Bands.absolute(0.05)),
        Threshold(target, Bands.relative_to_target(0.20)),
        Threshold(target, lazy_trim),
        Threshold(target, Bands.absolute(0.02), trade_to="edge"),
        Threshold(target, Bands.absolute(0.02), trade_to="inner"),
        CalendarThreshold(target, Bands.absolute(0.02), check="M"),
        CashFlowRouting(target, Bands.absolute(0.02)),
    ]
    return policies


def optimizer_sweep(target: pd.Series | dict, risk_aversions: Sequence[float], *, costs: CostModel, tax: TaxRules,
                    every: str = "W", lookback: int = 252, band_width: float = 0.10) -> list[OptimizerPolicy]:
    """One :class:`OptimizerPolicy` per risk aversion (each keeps its own Rebalancer)."""
    return [OptimizerPolicy(target, costs=costs, tax=tax, risk_aversion=ra, every=every, lookback=lookback,
                            band_width=band_width) for ra in risk_aversions]


@dataclass
class Comparison:
    """Metrics per policy (``table``, one row per policy) and the full runs (``results``)."""

    table: pd.DataFrame
    results: dict[str, BacktestResult]
    baseline: str


def compare(simulator: Simulator, policies: Iterable[Policy], *, baseline: str = "calendar_annual",
            progress: Callable[[str, int, int], None] | None = None, show_bar: bool = False) -> Comparison:
    """Run every policy on ``simulator``; tax alpha is measured against ``baseline`` (or the first policy).

    ``progress(name, i, n)`` is called before each run.
    """
    policies = list(policies)
    rows, results = {}, {}
    for i, policy in enumerate(policies):
        if progress is not None:
            progress(policy.name, i, len(policies))
        started = time.perf_counter()
        result = simulator.run(policy, progress=show_bar)
        metrics = result.metrics()
        metrics["seconds"] = time.perf_counter() - started
        rows[policy.name] = metrics
        results[policy.name] = result
    base = baseline if baseline in results else policies[0].name
    for name, result in results.items():
        rows[name]["tax_alpha_bps"] = tax_alpha_bps(result, results[base])
    table = pd.DataFrame.from_dict(rows, orient="index")[TABLE_COLUMNS]
    table.index.name = "policy"
    return Comparison(table=table, results=results, baseline=base)


def frontier_verdicts(table: pd.DataFrame, *, cost: str = "total_cost_bps", frontier_prefix: str = "optimizer"
                      ) -> pd.DataFrame:
    """Does the optimizer frontier dominate each heuristic in (tracking error, ``cost``)?

    The frontier is the optimizer runs sorted by tracking error and joined by straight
    lines. A heuristic is *dominated* when some frontier point has no more tracking error
    and no more cost, or the frontier's interpolated cost at the heuristic's tracking
    error is lower; it is *beyond the frontier's range* when its tracking error is lower
    than every frontier point's and no point is cheaper-and-tighter.
    """
    front = table[table.index.str.startswith(frontier_prefix)].sort_values("tracking_error")
    te = front["tracking_error"].to_numpy()
    cc = front[cost].to_numpy()
    rows = []
    for name, row in table[~table.index.str.startswith(frontier_prefix)].iterrows():
        point = bool(((te <= row["tracking_error"]) & (cc <= row[cost])).any())
        inside = len(te) > 0 and te[0] <= row["tracking_error"] <= te[-1]
        line_cost = float(np.interp(row["tracking_error"], te, cc)) if inside else np.nan
        if point or (inside and line_cost <= row[cost]):
            verdict = "dominated"
        elif len(te) and row["tracking_error"] < te[0]:
            verdict = "tighter than the whole frontier (not dominated)"
        else:
            verdict = "not dominated"
        rows.append({"policy": name, "tracking_error": row["tracking_error"], cost: row[cost],
                     "frontier_cost_at_same_te": line_cost, "verdict": verdict})
    return pd.DataFrame(rows).set_index("policy")
