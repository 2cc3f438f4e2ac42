"""Synthetic rebalancing with futures and total-return swaps, through their whole life.

* :mod:`~optimizer.overlays.instruments`: contract specs (equity and bond futures, total-return
  swaps, option positions counted by Black-Scholes delta), contract arithmetic, quarterly
  expiry and roll calendars, conversion to the core's :class:`optimizer.OverlayInstrument`.
* :mod:`~optimizer.overlays.accounting`: pure cash-flow functions (variation margin, swap
  payments, roll cost, fair value) and :class:`OverlayBook`, the small state object that
  marks positions daily, pays and receives cash, and raises :class:`MarginCall` events.
* :mod:`~optimizer.overlays.policies`: physical-only, overlay-first and joint-optimization
  rebalancing policies.
* :mod:`~optimizer.overlays.simulate`: a daily simulator of a large stock/bond/cash book on
  real data (S&P 500 + Shiller dividends, a 10-year Treasury fund, 3-month bills).

This package is separate from :mod:`optimizer.backtest` (the general lot/tax backtester);
it keeps physical sleeves as dollar amounts and concentrates on the derivative life cycle.
"""

from optimizer.overlays.accounting import (FuturesPosition, MarginCall, MarginCallError, OverlayBook, SwapPosition,
                                           futures_fair_value, roll_cost, swap_payment, variation_margin)
from optimizer.overlays.instruments import (Future, OptionPosition, TotalReturnSwap, black_scholes_delta,
                                            black_scholes_price,
                                            contracts_for_exposure, quarterly_expiries, roll_date, third_friday,
                                            whole_contracts)

__all__ = [
    "Future", "FuturesPosition", "MarginCall", "MarginCallError", "OptionPosition", "OverlayBook", "SwapPosition",
    "TotalReturnSwap", "black_scholes_delta", "black_scholes_price", "contracts_for_exposure", "futures_fair_value", "quarterly_expiries",
    "roll_cost", "roll_date", "swap_payment", "third_friday", "variation_margin", "whole_contracts",
]
