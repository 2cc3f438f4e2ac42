"""Synthetic rebalancing with futures and total-return swaps, through their whole life.

* :mod:`~optimizer.overlays.instruments`: contract specs (equity and bond futures, total-return
  swaps, option positions counted by Black-Scholes delta), contract arithmetic, quarterly
  expiry and roll calendars, conversion to the core's :class:`optimizer.OverlayInstrument`.
* :mod:`~optimizer.overlays.accounting`: pure cash-flow functions (variation margin, swap
  payments, roll cost, fair value) and :class:`OverlayBook`, the small state object that
  marks positions daily, pays and receives cash, and raises :class:`MarginCall` events.
* :mod:`~optimizer.overlays.policies`: physical-only, overlay-first and joint-optimization
  rebalancing policies (:class:`optimizer.policies.base.Policy` subclasses).
* :mod:`~optimizer.overlays.simulate`: the large stock/bond/cash book on real data (S&P 500
  + Shiller dividends, a 10-year Treasury fund, 3-month bills) set up for the one
  simulator, and its daily table.

The derivative life cycle inside a backtest (positions in the ledger, daily marks, rolls,
resets, expiries, margin calls) runs in :mod:`optimizer.backtest.derivatives`, on the
simulator of :mod:`optimizer.backtest`, so a taxable, lot-tracked account can hold an
overlay.
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
