"""One self-contained HTML page per comparison: the table and the figures beside it."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from optimizer.backtest.compare import Comparison
from optimizer.report import plots
from optimizer.report.verdict import deviation_explanations, dominance_verdicts, headline_verdicts

FORMATS = {
    "tracking_error": "{:.2%}", "drift_mean": "{:.2%}", "drift_max": "{:.2%}", "turnover": "{:.2%}",
    "annual_return": "{:.2%}", "volatility": "{:.2%}", "max_drawdown": "{:.2%}",
    "after_tax_terminal_usd": "{:,.0f}", "rebalance_events": "{:d}", "forced_events": "{:d}", "seconds": "{:.1f}",
    "wash_sale_violations": "{:d}",
}

#: Column headers with units, for the HTML table.
LABELS = {
    "tracking_error": "tracking error (%/yr)", "drift_mean": "mean drift (%)", "drift_max": "max drift (%)",
    "rebalance_events": "rebalance events", "forced_events": "forced sales", "turnover": "turnover (%/yr)",
    "spread_bps": "spread (bp/yr)", "commission_bps": "commission (bp/yr)", "impact_bps": "impact (bp/yr)",
    "tax_bps": "tax (bp/yr)", "trading_cost_bps": "trading cost (bp/yr)", "total_cost_bps": "total cost (bp/yr)",
    "annual_return": "return (%/yr)", "volatility": "volatility (%/yr)", "max_drawdown": "max drawdown (%)",
    "after_tax_terminal_usd": "after-tax wealth ($)", "tax_alpha_bps": "tax alpha (bp/yr)",
    "seconds": "run time (s)",
}

METRICS_NOTE = ("Metrics: tracking error is realized against the frictionless target rebalanced every period; "
                "drift is the largest per-asset weight gap; costs are bp of NAV per year (tax = tax paid during "
                "the run; total cost = trading cost + tax); after-tax wealth also deducts the tax owed on "
                "liquidating at the end.")

#: The columns of the HTML table (the CSV keeps all of them).
HTML_COLUMNS = ["tracking_error", "drift_mean", "rebalance_events", "turnover", "trading_cost_bps", "tax_bps",
                "total_cost_bps", "annual_return", "volatility", "max_drawdown", "after_tax_terminal_usd",
                "tax_alpha_bps", "seconds"]


def format_table(table: pd.DataFrame) -> pd.DataFrame:
    """Strings for people: percentages, bps with one decimal, dollars with separators."""
    out = pd.DataFrame(index=table.index)
    for column in table.columns:
        fmt = FORMATS.get(column, "{:.1f}")
        out[column] = ["" if pd.isna(v) else fmt.format(int(v)) if fmt == "{:d}" else fmt.format(v)
                       for v in table[column]]
    return out


def verdict_html(comparison: Comparison) -> str:
    """The verdict section: winners and margins, dominance per heuristic, why the optimizer deviates."""
    table = comparison.table
    esc = html.escape
    heads = "".join(f"<li>{esc(h.text())}</li>" for h in headline_verdicts(table))
    dom = dominance_verdicts(table)
    n_dom = int(dom["dominated"].sum()) if len(dom) else 0
    doms = "".join(f'<li class="{"yes" if d else "no"}">{esc(t)}</li>' for d, t in zip(dom["dominated"], dom["text"]))
    devs = "".join(f"<li>{esc(d.text())}</li>" for d in deviation_explanations(comparison.results))
    return (f'<div class="verdict"><h3>Verdict</h3><ul>{heads}</ul>\n'
            f"<h4>Is some optimizer point no worse on both tracking error and total cost? "
            f"({n_dom} of {len(dom)} heuristics: yes)</h4><ul>{doms}</ul>\n"
            f"<h4>Why the optimizer deviates where it does</h4><ul>{devs}</ul></div>")


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
        shown = format_table(table[[c for c in HTML_COLUMNS if c in table.columns]])
        shown.columns = [LABELS.get(c, c.replace("_", " ")) for c in shown.columns]
        shown.index.name = None
        images = "\n".join(f'<img src="{f.name}" alt="{html.escape(f.stem)}">' for f in figures)
        sections.append(
            f"<h2>{html.escape(key)}</h2>\n{verdict_html(comparison)}\n"
            f"<p>{notes}</p>\n<p>{METRICS_NOTE} Tax alpha is measured against "
            f"<code>{html.escape(comparison.baseline)}</code>.</p>\n"
            f"{shown.to_html(classes='metrics', border=0)}\n{images}")
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:1.5em;max-width:1340px;font-size:14px}}
table{{border-collapse:collapse;font-size:12px}}
th{{padding:3px 6px;text-align:right;border-bottom:1px solid #999;vertical-align:bottom;max-width:7em}}
td{{padding:2px 6px;text-align:right;border-bottom:1px solid #ddd;white-space:nowrap}}
tbody th{{text-align:left;max-width:none;white-space:nowrap;font-weight:normal}}
.verdict{{background:#f6f8fa;border:1px solid #d0d7de;padding:0.5em 1em;margin:1em 0}}
.verdict li{{margin:0.2em 0}} .verdict li.yes::marker{{content:"\\2713  ";color:green}}
.verdict li.no::marker{{content:"\\2717  ";color:#b00}}
img{{margin:1em 0;display:block;max-width:100%}}</style>
</head><body><h1>{html.escape(title)}</h1>
{''.join(sections)}
</body></html>"""
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
