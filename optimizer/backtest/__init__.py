"""Backtester: step a policy through real total-return prices with lots, cash, costs and tax.

    >>> from optimizer.backtest import Simulator, BacktestConfig
    >>> from optimizer.policies import Calendar
    >>> result = Simulator(prices).run(Calendar(target, "Q"))  # doctest: +SKIP
    >>> result.metrics()["tracking_error"]  # doctest: +SKIP
"""

from optimizer.backtest.costs import CostModel, price_trade
from optimizer.backtest.derivatives import OverlayConfig, OverlayMarket, OverlayRecords
from optimizer.backtest.errors import CalendarError, CashShortfallError, CheckpointError, PriceDataError
from optimizer.backtest.ledger import Ledger, net_tax
from optimizer.backtest.metrics import overlay_summary, summarize, tax_alpha_bps
from optimizer.backtest.result import BacktestResult
from optimizer.backtest.simulator import BacktestConfig, Simulator

__all__ = [
    "BacktestConfig", "BacktestResult", "CalendarError", "CashShortfallError", "CheckpointError", "CostModel",
    "Ledger", "OverlayConfig", "OverlayMarket", "OverlayRecords", "PriceDataError", "Simulator", "net_tax",
    "overlay_summary", "price_trade", "summarize", "tax_alpha_bps",
]
