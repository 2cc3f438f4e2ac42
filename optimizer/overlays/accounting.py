"""Cash flows of an overlay through its life: marks, variation margin, financing, rolls, margin calls.

Pure functions price one flow; :class:`OverlayBook` holds the positions and the cash
account and applies them day by day.

Conventions and approximations
------------------------------
* **Cash** is one account in the book's currency. Exchange margin is posted from it and
  stays in it (it earns the cash rate, as T-bills posted as collateral would), so the
  requirement is a floor on the cash balance: ``cash >= sum maintenance * |notional|``
  (+ swap collateral). Falling below it raises a :class:`MarginCall`; the owner must then
  bring cash back to the *initial* requirement (reduce the overlay or sell physical).
* **Futures** settle daily: variation margin ``contracts * multiplier * (F_t - F_{t-1})``
  is paid to / from cash. The futures price follows cost of carry,
  ``F = S * exp((r - q) T)`` (:func:`futures_fair_value`): holding the future earns the
  index price return plus the roll-down of the basis, which over the contract's life is
  the total return minus the cash rate. Cash (including margin) earns the cash rate, so
  future + cash ~ the index total return; no separate financing flow is needed. Basis
  risk, rich/cheap futures and margin-rate changes by the exchange are not modelled.
* **Rolls**: the position moves to the next quarterly contract at the same number of
  contracts; cost is ``|contracts| * (2 * cost_per_contract + calendar spread)``.
* **Total-return swaps** accrue daily (mark-to-market counts in NAV) and settle at resets:
  ``notional * (L_end / L_start - 1 - rate * days / day_count) - |notional| * spread * days / day_count``
  (the spread is paid long or short) with the
  floating rate fixed at the previous reset (:func:`swap_payment`). At a reset the
  notional re-strikes at the current level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import pandas as pd

from optimizer.errors import InputError, RebalanceError
from optimizer.model._checks import finite_number
from optimizer.overlays.instruments import Future, TotalReturnSwap


def variation_margin(contracts: float, multiplier: float, price_before: float, price_after: float) -> float:
    """Cash received (+) or paid (-) when a futures position is marked from one price to the next."""
    return float(contracts * multiplier * (price_after - price_before))


def futures_fair_value(spot: float, rate: float, dividend_yield: float, years: float) -> float:
    """Cost-of-carry futures price ``spot * exp((rate - dividend_yield) * years)``.

    ``rate`` and ``dividend_yield`` are continuously compounded per year. For a total-return
    "spot" (income reinvested) pass ``dividend_yield = 0``.
    """
    finite_number(spot, "spot", minimum=1e-12)
    finite_number(years, "years", minimum=0.0)
    return float(spot * math.exp((rate - dividend_yield) * years))


def swap_payment(notional_usd: float, level_start: float, level_end: float, rate: float, spread: float,
                 year_fraction: float) -> float:
    """Net amount the swap holder gets for one period (negative: the holder pays).

    ``notional * ((level_end / level_start - 1) - rate * year_fraction) - |notional| * spread * year_fraction``:
    a long (``notional > 0``) receives the total return and pays rate + spread; a short pays
    the total return and receives rate - spread (the dealer's spread is charged both ways).
    """
    finite_number(level_start, "level_start", minimum=1e-12)
    finite_number(year_fraction, "year_fraction", minimum=0.0)
    return float(notional_usd * ((level_end / level_start - 1.0) - rate * year_fraction)
                 - abs(notional_usd) * spread * year_fraction)


def roll_cost(contracts: float, cost_per_contract_usd: float, calendar_spread_usd: float = 0.0) -> float:
    """Cost of rolling ``contracts`` to the next expiry: each contract trades twice, plus the
    half bid/ask of the calendar spread per contract (account currency)."""
    return float(abs(contracts) * (2.0 * cost_per_contract_usd + calendar_spread_usd))


@dataclass(frozen=True)
class MarginCall:
    """Cash fell below the maintenance requirement on ``date``.

    The owner must bring cash back to ``initial_usd`` by reducing the overlay or selling
    physical assets (``shortfall_usd`` is how much is missing).
    """

    date: pd.Timestamp
    cash_usd: float
    maintenance_usd: float
    initial_usd: float

    @property
    def shortfall_usd(self) -> float:
        return max(0.0, self.initial_usd - self.cash_usd)


class MarginCallError(RebalanceError):
    """A margin call was left unresolved."""

    def __init__(self, call: MarginCall):
        self.call = call
        super().__init__(f"margin call on {call.date.date()}: cash {call.cash_usd:,.0f} below maintenance "
                         f"{call.maintenance_usd:,.0f}; restore to {call.initial_usd:,.0f}")


@dataclass
class FuturesPosition:
    """Contracts held in one future, the contract's expiry and the last settlement price."""

    future: Future
    contracts: int
    expiry: pd.Timestamp
    price: float


@dataclass
class SwapPosition:
    """One swap: notional, level and rate fixed at the last reset, and unsettled value."""

    swap: TotalReturnSwap
    notional_usd: float
    level_start: float
    rate_fixed: float
    start: pd.Timestamp
    level: float = 0.0
    date: pd.Timestamp | None = None

    def __post_init__(self) -> None:
        self.level = self.level or self.level_start
        self.date = self.date if self.date is not None else self.start

    def value_usd(self, day_count: float) -> float:
        """Unsettled mark-to-market: what a reset today would pay."""
        years = (pd.Timestamp(self.date) - pd.Timestamp(self.start)).days / day_count
        return swap_payment(self.notional_usd, self.level_start, self.level, self.rate_fixed,
                            self.swap.financing_spread, years)


@dataclass
class OverlayBook:
    """Cash account and overlay positions of one portfolio, with an event log.

    Parameters
    ----------
    cash_usd:
        Cash balance, account currency (margin is posted from it and stays in it).
    swap_day_count:
        Day-count basis of swap financing (360: Act/360, the USD money-market convention).
    """

    cash_usd: float
    swap_day_count: float = 360.0
    futures: dict[str, FuturesPosition] = field(default_factory=dict)
    swaps: dict[str, SwapPosition] = field(default_factory=dict)
    margin_calls: list[MarginCall] = field(default_factory=list)
    costs_usd: dict[str, float] = field(default_factory=lambda: {
        "futures_trade": 0.0, "futures_roll": 0.0, "swap_trade": 0.0, "swap_spread": 0.0})
    open_call: MarginCall | None = None

    # -- daily marks -------------------------------------------------------------------
    def accrue_cash(self, cash_return: float) -> float:
        """Interest on the cash balance for one period (simple return); returns the amount."""
        interest = self.cash_usd * cash_return
        self.cash_usd += interest
        return interest

    def mark_futures(self, prices: Mapping[str, float]) -> float:
        """Settle variation margin at today's prices of the contracts held; returns the total."""
        total = 0.0
        for name, position in self.futures.items():
            if name not in prices:
                raise InputError("prices", "has no settlement price for a held future", asset=name)
            new = float(prices[name])
            flow = variation_margin(position.contracts, position.future.multiplier, position.price, new)
            position.price = new
            total += flow
        self.cash_usd += total
        return total

    def mark_swaps(self, date, levels: Mapping[str, float]) -> float:
        """Move each swap's reference level to ``date``; returns the change in unsettled value."""
        before = self.swap_value_usd()
        for name, position in self.swaps.items():
            position.level = float(levels[name])
            position.date = pd.Timestamp(date)
        return self.swap_value_usd() - before

    def swap_value_usd(self) -> float:
        """Unsettled value of all swaps (part of NAV, not of cash)."""
        return sum(p.value_usd(self.swap_day_count) for p in self.swaps.values())

    def reset_swap(self, name: str, rate: float) -> float:
        """Settle a swap's period in cash and re-strike at the current level; returns the payment."""
        position = self.swaps[name]
        payment = position.value_usd(self.swap_day_count)
        years = (pd.Timestamp(position.date) - pd.Timestamp(position.start)).days / self.swap_day_count
        self.costs_usd["swap_spread"] += abs(position.notional_usd) * position.swap.financing_spread * years
        self.cash_usd += payment
        position.level_start = position.level
        position.start = pd.Timestamp(position.date)
        position.rate_fixed = rate
        return payment

    # -- trades ------------------------------------------------------------------------
    def trade_futures(self, name: str, contracts: int, price: float, *, future: Future | None = None,
                      expiry=None) -> float:
        """Buy (+) or sell (-) whole contracts at ``price``; pays the per-contract cost from cash.

        A first trade in ``name`` needs the ``future`` spec and the contract ``expiry``.
        Returns the cost paid.
        """
        if int(contracts) != contracts:
            raise InputError("contracts", f"is {contracts!r}; futures trade in whole contracts", asset=name)
        contracts = int(contracts)
        if name not in self.futures:
            if future is None or expiry is None:
                raise InputError("future", "a first trade needs the contract spec and expiry", asset=name)
            self.futures[name] = FuturesPosition(future, 0, pd.Timestamp(expiry), float(price))
        position = self.futures[name]
        if position.contracts and abs(position.price - price) > 1e-9 * max(1.0, abs(price)):
            raise InputError("price", "differs from the last mark; mark the position before trading", asset=name)
        position.price = float(price)
        position.contracts += contracts
        cost = abs(contracts) * position.future.cost_per_contract_usd
        self.cash_usd -= cost
        self.costs_usd["futures_trade"] += cost
        return cost

    def roll_future(self, name: str, new_price: float, new_expiry, calendar_spread_usd: float = 0.0) -> float:
        """Close the held contract (already marked today) and open the next expiry at ``new_price``,
        same number of contracts. Returns the roll cost paid from cash."""
        position = self.futures[name]
        cost = roll_cost(position.contracts, position.future.cost_per_contract_usd, calendar_spread_usd)
        position.expiry = pd.Timestamp(new_expiry)
        position.price = float(new_price)
        self.cash_usd -= cost
        self.costs_usd["futures_roll"] += cost
        return cost

    def trade_swap(self, date, name: str, notional_change_usd: float, level: float, rate: float, *,
                   swap: TotalReturnSwap | None = None) -> float:
        """Change a swap's notional. An existing swap first settles its period (a partial reset)
        so the new notional starts clean. Raises InputError beyond the counterparty limit.
        Returns the dealer cost paid from cash."""
        if name in self.swaps:
            self.reset_swap(name, rate)
            spec = self.swaps[name].swap
            new_notional = self.swaps[name].notional_usd + notional_change_usd
        else:
            if swap is None:
                raise InputError("swap", "a first trade needs the swap spec", asset=name)
            spec = swap
            new_notional = notional_change_usd
        if abs(new_notional) > spec.counterparty_limit_usd * (1 + 1e-12):
            raise InputError("notional_usd", f"{new_notional:,.0f} exceeds the counterparty limit "
                             f"{spec.counterparty_limit_usd:,.0f}", asset=name)
        if name in self.swaps:
            self.swaps[name].notional_usd = new_notional
        else:
            self.swaps[name] = SwapPosition(spec, new_notional, float(level), rate, pd.Timestamp(date))
        cost = float(abs(notional_change_usd) * spec.trade_cost_bps * 1e-4)
        self.cash_usd -= cost
        self.costs_usd["swap_trade"] += cost
        return cost

    # -- exposure and margin -----------------------------------------------------------
    def exposure_usd(self) -> dict[str, float]:
        """Asset-class exposure of futures (beta * notional) and swaps (notional * level / level at reset)."""
        out: dict[str, float] = {}
        for p in self.futures.values():
            out[p.future.asset_class] = out.get(p.future.asset_class, 0.0) + p.future.exposure_usd(p.price, p.contracts)
        for p in self.swaps.values():  # fixed notional between resets: exposure grows with the level
            out[p.swap.asset_class] = out.get(p.swap.asset_class, 0.0) + p.notional_usd * p.level / p.level_start
        return out

    def gross_notional_usd(self) -> float:
        return (sum(abs(p.future.notional_usd(p.price, p.contracts)) for p in self.futures.values())
                + sum(abs(p.notional_usd) for p in self.swaps.values()))

    def maintenance_requirement_usd(self) -> float:
        return (sum(p.future.maintenance_margin_usd(p.price, p.contracts) for p in self.futures.values())
                + sum(p.swap.collateral * abs(p.notional_usd) for p in self.swaps.values()))

    def initial_requirement_usd(self) -> float:
        return (sum(p.future.initial_margin_usd(p.price, p.contracts) for p in self.futures.values())
                + sum(p.swap.collateral * abs(p.notional_usd) for p in self.swaps.values()))

    def check_margin(self, date) -> MarginCall | None:
        """Record and return a :class:`MarginCall` if cash is below the maintenance requirement
        (or negative); the call stays open until :meth:`resolve_margin_call` succeeds."""
        maintenance = self.maintenance_requirement_usd()
        if self.cash_usd < maintenance or self.cash_usd < 0:
            call = MarginCall(pd.Timestamp(date), self.cash_usd, maintenance, self.initial_requirement_usd())
            self.margin_calls.append(call)
            self.open_call = call
            return call
        return None

    def resolve_margin_call(self) -> None:
        """Close the open call if cash now meets the initial requirement; raise otherwise."""
        if self.open_call is None:
            return
        if self.cash_usd + 1e-6 < self.initial_requirement_usd() or self.cash_usd < 0:
            raise MarginCallError(MarginCall(self.open_call.date, self.cash_usd, self.maintenance_requirement_usd(),
                                             self.initial_requirement_usd()))
        self.open_call = None
