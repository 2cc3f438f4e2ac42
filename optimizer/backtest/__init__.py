"""Backtester: step a policy through real total-return prices with lots, cash, costs and tax.

    >>> from optimizer.backtest import Simulator, BacktestConfig
    >>> from optimizer.policies import Calendar
    >>> result = Simulator(prices).run(Calendar(target, "Q"))  # doctest: +SKIP
    >>> result.metrics()["tracking_error"]  # doctest: +SKIP
"""

from optimizer.backtest.bootstrap import BootstrapInterval, paired_difference_ci, politis_white_block_length
from optimizer.backtest.attribution import Attribution, attribute_returns
from optimizer.backtest.costs import CostModel, price_trade
from optimizer.backtest.derivatives import OverlayConfig, OverlayMarket, OverlayRecords
from optimizer.backtest.errors import CalendarError, CashShortfallError, CheckpointError, PriceDataError
from optimizer.backtest.ledger import Ledger, net_tax
from optimizer.backtest.metrics import overlay_summary, summarize, tax_alpha_bps
from optimizer.backtest.result import BacktestResult
from optimizer.backtest.simulator import BacktestConfig, Simulator

__all__ = [
    "Attribution", "BacktestConfig", "BacktestResult", "BootstrapInterval", "CalendarError", "CashShortfallError",
    "CheckpointError", "CostModel", "Ledger", "OverlayConfig", "OverlayMarket", "OverlayRecords", "PriceDataError",
    "Simulator", "attribute_returns", "net_tax", "overlay_summary", "paired_difference_ci",
    "politis_white_block_length", "price_trade", "summarize", "tax_alpha_bps",
]
