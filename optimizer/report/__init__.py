"""Reports of backtests: matplotlib PNGs (Agg, chosen inside the plotting functions) and one HTML page."""

from optimizer.report.html import format_table, write_report
from optimizer.report.plots import cost_breakdown, frontier, trade_counts, weights_drift

__all__ = ["cost_breakdown", "format_table", "frontier", "trade_counts", "weights_drift", "write_report"]
