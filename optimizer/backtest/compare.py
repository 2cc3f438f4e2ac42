"""Run many policies on one simulator and lay the metrics side by side.

Used by ``benchmarks/policy_comparison.py`` and :func:`optimizer.demo.run_demo`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.backtest.metrics import tax_alpha_bps
from optimizer.backtest.result import BacktestResult
from optimizer.backtest.simulator import Simulator
from optimizer.errors import InputError
from optimizer.policies import Bands, BuyAndHold, Calendar, CalendarThreshold, CashFlowRouting, Policy, Threshold

#: Strategic mix of the daily multi-asset set, on the classes of ``optimizer.datasets.multi_asset_classes``.
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


#: Columns :func:`evaluate_targets` reads from a comparison table.
TARGET_COLUMNS = ("tracking_error", "total_cost_bps", "after_tax_terminal_usd", "wash_sale_violations")


def _long_table(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with ``data`` and ``policy`` as columns (from the index if they are there)."""
    frame = table.reset_index() if any(name in ("data", "policy") for name in table.index.names) else table.copy()
    if "data" not in frame.columns:
        frame["data"] = "all"
    for column in ("policy", *TARGET_COLUMNS):
        if column not in frame.columns:
            raise InputError("table", f"has no column {column!r}; evaluate_targets needs data, policy and "
                                      f"{', '.join(TARGET_COLUMNS)}")
    return frame


def _target_row(heuristic: pd.Series, front: pd.DataFrame) -> dict:
    """Targets (a) and (b) for one heuristic against the optimizer points ``front``."""
    te, cost, wealth = (front[c].to_numpy(dtype=float) for c in TARGET_COLUMNS[:3])
    h_te, h_cost, h_wealth = (float(heuristic[c]) for c in TARGET_COLUMNS[:3])
    tighter = te <= h_te
    cheaper = cost <= h_cost
    richer = wealth >= h_wealth
    cost_miss = float(np.min(cost[tighter] - h_cost)) if tighter.any() else np.nan
    te_miss = float(np.min(te[cheaper] - h_te)) if cheaper.any() else np.nan
    wealth_margin = float(np.max(wealth[tighter] - h_wealth)) if tighter.any() else np.nan
    wealth_te_miss = float(np.min(te[richer] - h_te)) if richer.any() else np.nan
    return {
        "heuristic_tracking_error": h_te, "heuristic_total_cost_bps": h_cost,
        "heuristic_after_tax_terminal_usd": h_wealth,
        "a_dominated": bool((tighter & cheaper).any()),
        "a_cost_miss_bps": cost_miss, "a_te_miss": te_miss,
        "b_wealth_no_lower": bool((tighter & richer).any()),
        "b_wealth_margin_usd": wealth_margin, "b_te_miss": wealth_te_miss,
    }


def _wash_sale_target(front: pd.DataFrame) -> tuple[object, float]:
    """Target (c): (all optimizer rows have 0 violations, their total); (NA, NaN) if any count is unknown."""
    counts = front["wash_sale_violations"].astype(float)
    if len(counts) == 0 or counts.isna().any():
        return pd.NA, np.nan
    total = float(counts.sum())
    return bool(total == 0), total


def evaluate_targets(table: pd.DataFrame, *, frontier_prefix: str = "optimizer") -> pd.DataFrame:
    """Check the issue's targets for the optimizer sweep against every heuristic, per data set.

    Optimizer rows are those whose policy name starts with ``frontier_prefix``; every
    other row is a heuristic. For each data set and heuristic ``h``:

    * **(a)** ``a_dominated``: some optimizer point has ``tracking_error <= h``'s **and**
      ``total_cost_bps <= h``'s. Margins (<= 0 means met, > 0 is the miss, NaN when no
      optimizer point qualifies at all): ``a_cost_miss_bps``, the least cost excess
      (bps per year) among points at least as tight as ``h``; ``a_te_miss``, the least
      tracking-error excess (annualised, decimal) among points at least as cheap.
    * **(b)** ``b_wealth_no_lower``: some optimizer point with ``tracking_error <= h``'s
      has ``after_tax_terminal_usd >= h``'s. ``b_wealth_margin_usd``: the best such
      point's wealth minus ``h``'s (>= 0 met; NaN if no point is as tight);
      ``b_te_miss``: least tracking-error excess among points at least as rich.
    * **(c)** ``c_no_wash_sales``: every optimizer row of the data set has 0
      ``wash_sale_violations`` (repeated on each heuristic row); ``c_violations`` is their
      total. NA / NaN when any optimizer count is unknown (NaN), never a guessed 0.

    Parameters
    ----------
    table : pd.DataFrame
        One row per (data set, policy): columns or index levels ``data`` (optional; all
        rows are one data set ``"all"`` without it) and ``policy``, plus the columns in
        :data:`TARGET_COLUMNS` (tracking error decimal per year, cost bps per year,
        wealth USD, violations a count or NaN).
    frontier_prefix : str, default "optimizer"
        Name prefix of the optimizer rows.

    Returns
    -------
    pd.DataFrame
        One row per data set x heuristic (in table order), columns ``data heuristic``,
        the heuristic's own three metrics, the booleans ``a_dominated``,
        ``b_wealth_no_lower``, ``c_no_wash_sales`` (nullable boolean) and the margins.
        A data set without optimizer rows gets False for (a) and (b).

    Raises
    ------
    InputError
        If a needed column is missing.
    """
    frame = _long_table(table)
    rows = []
    for data, group in frame.groupby("data", sort=False):
        is_front = group["policy"].astype(str).str.startswith(frontier_prefix)
        front = group[is_front]
        clean, violations = _wash_sale_target(front)
        for _, heuristic in group[~is_front].iterrows():
            row = {"data": data, "heuristic": heuristic["policy"], **_target_row(heuristic, front)}
            row.update(c_no_wash_sales=clean, c_violations=violations)
            rows.append(row)
    result = pd.DataFrame(rows)
    if len(result):
        result["c_no_wash_sales"] = result["c_no_wash_sales"].astype("boolean")
    return result
