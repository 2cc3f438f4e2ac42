"""Reports of backtests: matplotlib PNGs (Agg, chosen inside the plotting functions) and one HTML page."""

from optimizer.report.html import format_table, write_report
from optimizer.report.plots import cost_breakdown, frontier, trade_counts, weights_drift
from optimizer.report.verdict import deviation_explanations, dominance_verdicts, headline_verdicts

__all__ = ["cost_breakdown", "deviation_explanations", "dominance_verdicts", "format_table", "frontier",
           "headline_verdicts", "trade_counts", "weights_drift", "write_report"]
