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


def weights_drift(results: dict[str, BacktestResult], path: Path, *, max_policies: int = 15,
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
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=3, maxticks=6)
    for k, ax in enumerate(axes.ravel()):
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.tick_params(labelsize=8)
        if k >= len(names):
            ax.set_visible(False)
        elif k + cols >= len(names):          # nothing visible below: show this panel's dates
            ax.xaxis.set_tick_params(labelbottom=True)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.suptitle("Weights drifting over time (dashed: targets)")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / (3.0 * rows)))
    fig.legend(handles, labels, loc="upper right", ncol=len(labels), fontsize=8, frameon=False)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def frontier(table: pd.DataFrame, path: Path, *, cost: str = "total_cost_bps", title: str = "",
             frontier_prefix: str = "optimizer") -> Path:
    """Tracking error vs cost per policy; the optimizer's risk-aversion sweep joined as a frontier.

    Heuristics get a marker and colour each and are named in a legend beside the axes (no
    labels in the plot to collide); the few optimizer points are labelled by risk aversion.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(11, 5.5))
    is_front = np.asarray(table.index.astype(str).str.startswith(frontier_prefix), dtype=bool)
    others = table[~is_front]
    markers = "osD^vP*Xhp<>"
    colors = plt.get_cmap("tab10").colors
    for k, (name, row) in enumerate(others.iterrows()):
        ax.scatter(row[cost], row["tracking_error"] * 1e2, marker=markers[k % len(markers)], s=45,
                   color=colors[k % len(colors)] if k % len(colors) != 3 else "tab:olive", zorder=3, label=name)
    front = table[is_front].sort_values("tracking_error")
    if len(front):
        ax.plot(front[cost], front["tracking_error"] * 1e2, "o-", color="tab:red", lw=2, ms=7, zorder=4,
                label="optimizer sweep (risk aversion)")
        xs = table[cost].to_numpy(dtype=float)
        middle = 0.5 * (np.nanmin(xs) + np.nanmax(xs))
        for k, (name, row) in enumerate(front.iterrows()):
            right = row[cost] < middle                             # label towards the inside of the axes
            ax.annotate(str(name).replace(frontier_prefix + "_ra", "ra "), (row[cost], row["tracking_error"] * 1e2),
                        fontsize=8, color="tab:red", xytext=(7 if right else -7, 4 if k % 2 == 0 else -11),
                        ha="left" if right else "right", textcoords="offset points", zorder=5)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    label = "total cost incl. tax" if cost == "total_cost_bps" else cost.replace("_", " ")
    ax.set_xlabel(f"{label} (bp/yr)")
    ax.set_ylabel("tracking error vs target (%/yr)")
    ax.set_title(title or "Tracking error vs cost", fontsize=11)
    ax.grid(alpha=0.3)
    _save(fig, path)
    return path


def cost_breakdown(table: pd.DataFrame, path: Path) -> Path:
    """Stacked bars: spread, commission, impact and tax paid per policy, bps per year."""
    plt = _pyplot()
    parts = table[["spread_bps", "commission_bps", "impact_bps", "tax_bps"]]
    fig, ax = plt.subplots(figsize=(max(10, 0.6 * len(parts)), 5))
    up, down = np.zeros(len(parts)), np.zeros(len(parts))     # positive parts stack up, negative (tax credits) down
    for column in parts.columns:
        values = parts[column].to_numpy(dtype=float)
        bottom = np.where(values >= 0, up, down)
        ax.bar(range(len(parts)), values, bottom=bottom, label=column.replace("_bps", ""))
        up += np.where(values >= 0, values, 0.0)
        down += np.where(values < 0, values, 0.0)
    ax.scatter(range(len(parts)), parts.sum(axis=1), color="black", marker="_", s=120, zorder=5, label="total")
    ax.set_xticks(range(len(parts)), parts.index, rotation=60, ha="right", fontsize=7)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylabel("bp of NAV per year")
    ax.set_title("Cost breakdown (bp/yr)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.grid(alpha=0.3, axis="y")
    _save(fig, path)
    return path


def trade_counts(table: pd.DataFrame, path: Path) -> Path:
    """Bars: rebalance events (and forced cash-raising sales) per policy."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(10, 0.6 * len(table)), 4.5))
    x = np.arange(len(table))
    events = table["rebalance_events"].to_numpy(dtype=float)
    forced = table["forced_events"].to_numpy(dtype=float)
    ax.bar(x - 0.2, events, width=0.4, label="rebalance events")
    ax.bar(x + 0.2, forced, width=0.4, label="forced sales (cash)")
    for xi, v in zip(x, events):
        ax.annotate(f"{v:.0f}", (xi - 0.2, v), xytext=(0, 2), textcoords="offset points", ha="center",
                    fontsize=7)
    ax.set_xticks(x, table.index, rotation=60, ha="right", fontsize=7)
    ax.set_yscale("symlog")
    top = float(np.nanmax(np.concatenate([events, forced, [1.0]])))
    ax.set_ylim(0, top * 3)
    ax.set_ylabel("count (log scale)")
    ax.set_title("Number of trades")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.grid(alpha=0.3, axis="y")
    _save(fig, path)
    return path
