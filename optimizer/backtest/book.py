"""One account's daily bookkeeping, shared by every simulator.

:class:`~optimizer.backtest.simulator.Simulator` (one account) and
:class:`~optimizer.backtest.household.HouseholdSimulator` (once per account of the household)
step each account's :class:`~optimizer.backtest.ledger.Ledger` through these functions, so
each step has one implementation:

* :func:`cash_growth_factors` and :func:`tax_period_starts`: the calendar's cash growth per
  date and the dates a tax period begins (tax on the previous period is then settled with
  :meth:`Ledger.settle_tax`);
* :func:`open_book`: the first date's purchases at the starting weights, without cost;
* :func:`begin_day`: the start of each date in its one order: idle cash earns the cash index
  from the previous date (:func:`grow_cash`), whatever else the account holds is settled
  (an overlay's variation margin), the scheduled flow is booked, and the previous tax
  period's tax is paid;
* :func:`book_value`: mark to market (holdings per asset and NAV, dollars);
* :func:`fund_shortfall`: negative cash raised by forced sales, gains before losses, through
  the one fill path :func:`optimizer.backtest.fills.fill_trade`, with the amounts per asset
  chosen by :func:`sales_avoiding_wash` (single account) or :func:`pro_rata_sales`
  (household).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from optimizer.backtest.data import align_series
from optimizer.backtest.errors import CashShortfallError
from optimizer.backtest.fills import MIN_TRADE_USD, Fill, Pricer, fill_trade
from optimizer.policies.base import period_key

#: Tax settlement schedules: name -> :func:`optimizer.policies.base.period_key` frequency (None: never).
TAX_SCHEDULES = {"annual": "A", "quarterly": "Q", "monthly": "M", "immediate": "D", "never": None}
#: Rounds of forced sales when cash is short.
FUND_ROUNDS = 5

#: ``amounts(want_usd) -> dollars to sell per asset`` on the ledger as it stands.
SaleAmounts = Callable[[float], np.ndarray]


def cash_growth_factors(cash_index: pd.Series | None, calendar: pd.DatetimeIndex) -> np.ndarray:
    """Growth of idle cash into each date (``level[k] / level[k-1]``; 1 on the first date);
    all ones without a ``cash_index`` (cash earns nothing)."""
    level = align_series(cash_index, calendar, "cash_index")
    return np.ones(len(calendar)) if level is None else np.r_[1.0, level[1:] / level[:-1]]


def tax_period_starts(calendar: pd.DatetimeIndex, schedule: str) -> np.ndarray:
    """True on each date that begins a new tax period of ``schedule`` (:data:`TAX_SCHEDULES`),
    never on the first date; all False for ``"never"``."""
    frequency = TAX_SCHEDULES[schedule]
    starts = np.zeros(len(calendar), dtype=bool)
    if frequency is None:
        return starts
    keys = [period_key(date, frequency) for date in calendar]
    starts[1:] = [keys[k] != keys[k - 1] for k in range(1, len(keys))]
    return starts


def open_book(ledger, weights: np.ndarray, budget_usd: float, prices: np.ndarray, date) -> None:
    """Invest ``budget_usd`` at ``weights`` (NAV fractions per asset, summing to at most 1) on
    ``date`` at ``prices`` without cost, one lot per asset held; the rest is cash."""
    weights = np.asarray(weights, dtype=float)
    for i in np.nonzero(weights > 0)[0]:
        ledger.buy(i, budget_usd * weights[i] / prices[i], prices[i], date)
    ledger.cash_usd = budget_usd - budget_usd * weights.sum()


def grow_cash(ledger, growth: float) -> None:
    """Idle cash earns the cash index's growth since the previous date (negative cash, never
    left overnight, would pay it)."""
    ledger.cash_usd *= growth


def begin_day(ledger, *, cash_growth: float, flow_usd: float = 0.0, settle_tax: bool = False,
              after_growth: Callable[[], None] | None = None) -> float:
    """Start one date of the account; return the tax settled (dollars, < 0: a credit; 0 without
    ``settle_tax``).

    In this order: cash grows by ``cash_growth`` (1 on an account's first date);
    ``after_growth()`` runs if given (the overlay's marks, which move cash); ``flow_usd`` is
    booked (+ contribution, - withdrawal); with ``settle_tax`` (a tax period began,
    :func:`tax_period_starts`) the previous period's tax is paid from cash
    (:meth:`Ledger.settle_tax`).
    """
    grow_cash(ledger, cash_growth)
    if after_growth is not None:
        after_growth()
    ledger.cash_usd += flow_usd
    return ledger.settle_tax() if settle_tax else 0.0


def book_value(ledger, prices: np.ndarray) -> tuple[np.ndarray, float]:
    """Mark to market: holdings per asset and NAV (holdings plus cash), dollars."""
    holdings = ledger.shares * prices
    return holdings, float(holdings.sum() + ledger.cash_usd)


def pro_rata_sales(ledger, prices: np.ndarray) -> SaleAmounts:
    """Sell ``want`` dollars (at most all that is held) in proportion to holdings."""
    def amounts(want: float) -> np.ndarray:
        value = ledger.shares * prices
        want = min(want, value.sum())
        return want * value / value.sum()
    return amounts


def sales_avoiding_wash(ledger, prices: np.ndarray, date, wash_sale_days: int) -> SaleAmounts:
    """Sell ``want`` dollars in proportion to what each asset can sell without a wash sale: an
    asset bought within ``wash_sale_days`` days offers only its lots with gains, every other
    asset all it holds; if that is not enough, pro rata to holdings (loss lots of recent buys
    are then sold too). Each asset's sale is capped at its holdings."""
    def amounts(want: float) -> np.ndarray:
        holdings = ledger.shares * prices
        recent = ledger.recent_buy_days(date, wash_sale_days)
        offer = holdings.copy()
        for i, asset in enumerate(ledger.assets):
            if asset in recent:
                offer[i] = ledger.gains_usd_available(i, prices[i])
        if offer.sum() >= want:
            return np.minimum(want * offer / offer.sum(), holdings)
        return np.minimum(want * holdings / holdings.sum(), holdings)
    return amounts


def fund_shortfall(ledger, date, prices: np.ndarray, price: Pricer, amounts: SaleAmounts, *,
                   linear_cost: float, slack_usd: float = 0.0, tolerance_usd: float,
                   min_trade_usd: float = MIN_TRADE_USD, cap_to_held: bool = False,
                   account: str = "") -> list[Fill | None]:
    """Raise the ledger's missing cash by forced sales; return each round's fill (None where
    nothing traded). No round runs when cash is not negative.

    Each of at most :data:`FUND_ROUNDS` rounds sells ``missing * (1 + 2 * linear_cost + 1e-6)
    + 1 + slack_usd`` dollars (grossed up for the sale's own spread and commission,
    ``linear_cost`` per dollar), split per asset by ``amounts``, relieving lots with gains
    before loss lots (:meth:`Ledger.gains_first`) through :func:`fill_trade` at ``price``.
    Cash still below ``-tolerance_usd`` raises :class:`CashShortfallError`; a smaller
    remainder is set to 0.
    """
    who = f"{account}: " if account else ""
    fills: list[Fill | None] = []
    for _ in range(FUND_ROUNDS):
        missing = -ledger.cash_usd
        if missing <= 0:
            break
        if (ledger.shares * prices).sum() <= 0:
            raise CashShortfallError(date, ledger.cash_usd, f"{who}nothing left to sell")
        want = missing * (1 + 2 * linear_cost + 1e-6) + 1.0 + slack_usd
        sell = amounts(want)
        lot_sales = {ledger.assets[i]: ledger.gains_first(i, prices[i]) for i in np.nonzero(sell > 0)[0]}
        fills.append(fill_trade(ledger, date, prices, -sell, lot_sales, price, scale_buys=False,
                                min_trade_usd=min_trade_usd, cap_to_held=cap_to_held))
    if ledger.cash_usd < -tolerance_usd:
        raise CashShortfallError(date, ledger.cash_usd, f"{who}forced sales could not cover it")
    ledger.cash_usd = max(ledger.cash_usd, 0.0)
    return fills
