"""One self-contained HTML page per comparison: the table and the figures beside it."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from optimizer.backtest.compare import Comparison, frontier_verdicts
from optimizer.report import plots

FORMATS = {
    "tracking_error": "{:.2%}", "drift_mean": "{:.2%}", "drift_max": "{:.2%}", "turnover": "{:.1%}",
    "annual_return": "{:.2%}", "volatility": "{:.2%}", "max_drawdown": "{:.1%}",
    "after_tax_terminal_usd": "{:,.0f}", "rebalance_events": "{:d}", "forced_events": "{:d}", "seconds": "{:.1f}",
}


def format_table(table: pd.DataFrame) -> pd.DataFrame:
    """Strings for people: percentages, bps with one decimal, dollars with separators."""
    out = pd.DataFrame(index=table.index)
    for column in table.columns:
        fmt = FORMATS.get(column, "{:.1f}")
        out[column] = [fmt.format(int(v)) if fmt == "{:d}" else fmt.format(v) for v in table[column]]
    return out


def write_report(comparisons: dict[str, Comparison], out_dir: Path, *, title: str = "Rebalancing policy comparison",
                 groups: dict[str, pd.Series] | None = None, notes: str = "") -> Path:
    """Write PNGs and ``index.html`` into ``out_dir`` for each named comparison; return the HTML path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sections = []
    for key, comparison in comparisons.items():
        slug = "".join(c if c.isalnum() else "_" for c in key.lower())
        table = comparison.table
        group = (groups or {}).get(key)
        figures = [
            plots.frontier(table, out_dir / f"{slug}_frontier.png", title=f"{key}: tracking error vs cost"),
            plots.cost_breakdown(table, out_dir / f"{slug}_costs.png"),
            plots.trade_counts(table, out_dir / f"{slug}_trades.png"),
            plots.weights_drift(comparison.results, out_dir / f"{slug}_weights.png", group=group),
        ]
        verdicts = frontier_verdicts(table)
        images = "\n".join(f'<img src="{f.name}" alt="{html.escape(f.stem)}" style="max-width:100%">' for f in figures)
        sections.append(
            f"<h2>{html.escape(key)}</h2>\n"
            f"<p>Tax alpha is measured against <code>{html.escape(comparison.baseline)}</code>.</p>\n"
            f"{format_table(table).to_html(classes='metrics', border=0)}\n"
            f"<h3>Does the optimizer frontier dominate each heuristic? (tracking error vs total cost)</h3>\n"
            f"{verdicts.to_html(border=0, float_format=lambda v: f'{v:.4g}')}\n{images}")
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;}} table{{border-collapse:collapse;font-size:12px}}
td,th{{padding:2px 6px;text-align:right;border-bottom:1px solid #ddd}} img{{margin:1em 0;display:block}}</style>
</head><body><h1>{html.escape(title)}</h1>
<p>{notes}</p>
<p>Metrics: tracking error is realized against the frictionless target rebalanced every period; drift is the
largest per-asset weight gap; costs are bps of NAV per year (tax = tax paid during the run; after-tax terminal
wealth also deducts the tax owed on liquidating at the end).</p>
{''.join(sections)}
</body></html>"""
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
