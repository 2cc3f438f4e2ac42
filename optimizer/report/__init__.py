"""Reports of backtests: matplotlib PNGs (Agg, chosen inside the plotting functions) and one HTML page."""

from optimizer._extras import require

require("report", "optimizer.report")   # a clear MissingExtraError before matplotlib is imported

from optimizer.report.html import format_table, write_report  # noqa: E402
from optimizer.report.plots import cost_breakdown, frontier, trade_counts, weights_drift  # noqa: E402
from optimizer.report.verdict import deviation_explanations, dominance_verdicts, headline_verdicts  # noqa: E402

__all__ = ["cost_breakdown", "deviation_explanations", "dominance_verdicts", "format_table", "frontier",
           "headline_verdicts", "trade_counts", "weights_drift", "write_report"]
