"""Matplotlib figures of a policy comparison, written as PNG files.

The Agg backend is selected inside each function (``matplotlib.use("Agg")``), never at
import, so importing this module changes nothing for other code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.backtest.result import BacktestResult


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    """Lay out, write (90 dpi) and close a figure."""
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    _pyplot().close(fig)


def weights_drift(results: dict[str, BacktestResult], path: Path, *, max_policies: int = 12,
                  group: pd.Series | None = None) -> Path:
    """Small multiples: each policy's weights over time (grouped, e.g. by asset class), targets dashed."""
    plt = _pyplot()
    names = list(results)[:max_policies]
    cols = 3
    rows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.0 * rows), sharex=True, sharey=True, squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        result = results[name]
        weights = result.weights
        target = pd.Series(result.target, index=list(result.assets))
        if group is not None:
            weights = weights.T.groupby(group.reindex(weights.columns).fillna("other")).sum().T
            target = target.groupby(group.reindex(target.index).fillna("other")).sum()
        for j, column in enumerate(weights.columns):
            line, = ax.plot(weights.index, weights[column], lw=0.9, label=column)
            ax.axhline(target[column], color=line.get_color(), ls="--", lw=0.6)
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    axes[0, 0].legend(fontsize=7, loc="upper left")
    fig.suptitle("Weights drifting over time (dashed: targets)")
    _save(fig, path)
    return path


def frontier(table: pd.DataFrame, path: Path, *, cost: str = "total_cost_bps", title: str = "",
             frontier_prefix: str = "optimizer") -> Path:
    """Tracking error vs cost per policy; the optimizer's risk-aversion sweep joined as a frontier."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    is_front = table.index.str.startswith(frontier_prefix)
    others = table[~is_front]
    ax.scatter(others[cost], others["tracking_error"] * 1e2, color="tab:gray", zorder=3)
    for name, row in others.iterrows():
        ax.annotate(name, (row[cost], row["tracking_error"] * 1e2), fontsize=7, xytext=(3, 2),
                    textcoords="offset points")
    front = table[is_front].sort_values("tracking_error")
    if len(front):
        ax.plot(front[cost], front["tracking_error"] * 1e2, "o-", color="tab:red", zorder=4,
                label="optimizer (risk-aversion sweep)")
        for name, row in front.iterrows():
            ax.annotate(name.replace(frontier_prefix + "_", ""), (row[cost], row["tracking_error"] * 1e2),
                        fontsize=7, color="tab:red", xytext=(3, -9), textcoords="offset points")
        ax.legend()
    ax.set_xlabel(f"{cost.replace('_', ' ')} (bps per year)")
    ax.set_ylabel("realized tracking error vs target (% per year)")
    ax.set_title(title or "Tracking error vs cost")
    ax.grid(alpha=0.3)
    _save(fig, path)
    return path


def cost_breakdown(table: pd.DataFrame, path: Path) -> Path:
    """Stacked bars: spread, commission, impact and tax paid per policy, bps per year."""
    plt = _pyplot()
    parts = table[["spread_bps", "commission_bps", "impact_bps", "tax_bps"]]
    fig, ax = plt.subplots(figsize=(max(8, 0.55 * len(parts)), 5))
    bottom = np.zeros(len(parts))
    for column in parts.columns:
        ax.bar(range(len(parts)), parts[column], bottom=bottom, label=column.replace("_bps", ""))
        bottom += parts[column].to_numpy()
    ax.set_xticks(range(len(parts)), parts.index, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("bps of NAV per year")
    ax.set_title("Cost breakdown")
    ax.legend()
    ax.grid(alpha=0.3, axis="y")
    _save(fig, path)
    return path


def trade_counts(table: pd.DataFrame, path: Path) -> Path:
    """Bars: rebalance events (and forced cash-raising sales) per policy."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(8, 0.55 * len(table)), 4.5))
    x = np.arange(len(table))
    ax.bar(x - 0.2, table["rebalance_events"], width=0.4, label="rebalance events")
    ax.bar(x + 0.2, table["forced_events"], width=0.4, label="forced sales (cash)")
    ax.set_xticks(x, table.index, rotation=60, ha="right", fontsize=7)
    ax.set_yscale("symlog")
    ax.set_ylabel("count")
    ax.set_title("Number of trades")
    ax.legend()
    ax.grid(alpha=0.3, axis="y")
    _save(fig, path)
    return path
