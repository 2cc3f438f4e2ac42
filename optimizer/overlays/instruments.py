"""Overlay contract specifications and contract arithmetic.

Futures and total-return swaps move asset-class exposure without trading the physical
book; option positions already held count by their delta. Each spec converts to the core
program's :class:`optimizer.OverlayInstrument` for a given date's price.

Approximations (stated here once, repeated where they bite)
-----------------------------------------------------------
* A bond future is mapped to its asset class by a duration ratio
  ``beta = contract duration / sleeve duration`` (dollar-duration matching); convexity,
  the cheapest-to-deliver switch and the delivery option are ignored.
* Options count by Black-Scholes delta only: no gamma or vega, European exercise (no early
  exercise), constant volatility and continuous dividend yield. They are valued by
  Black-Scholes too (the simulator uses trailing realized volatility: no implied-vol data).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.model import OverlayInstrument
from optimizer.model._checks import finite_number


def contracts_for_exposure(exposure_usd: float, price: float, multiplier: float, beta: float = 1.0) -> float:
    """Contracts (not rounded) giving ``exposure_usd`` of asset-class exposure.

    ``contracts = exposure_usd / (beta * multiplier * price)``; e.g. $25M at index level
    5000 with multiplier 250 and beta 1 is 20 contracts.

    Parameters
    ----------
    exposure_usd:
        Signed exposure wanted, account currency.
    price:
        Futures price (index points), > 0.
    multiplier:
        Currency per index point, > 0.
    beta:
        Exposure per unit of notional (1 for an index future on its own index; a duration
        ratio for a bond future), non-zero.
    """
    finite_number(price, "price", minimum=1e-12)
    finite_number(multiplier, "multiplier", minimum=1e-12)
    if not np.isfinite(beta) or beta == 0:
        raise InputError("beta", f"is {beta!r}; it must be finite and non-zero")
    return float(exposure_usd) / (beta * multiplier * price)


def whole_contracts(contracts: float) -> int:
    """Round to the nearest whole contract (half away from zero), as exchanges trade."""
    finite_number(contracts, "contracts")
    return int(math.copysign(math.floor(abs(contracts) + 0.5), contracts))


def third_friday(year: int, month: int) -> pd.Timestamp:
    """The third Friday of a month: the quarterly expiry of US equity index futures."""
    first = pd.Timestamp(year=year, month=month, day=1)
    offset = (4 - first.day_of_week) % 7  # Friday is 4
    return first + pd.Timedelta(days=offset + 14)


def quarterly_expiries(start, end) -> list[pd.Timestamp]:
    """Third Fridays of March, June, September and December with ``start <= date``, up to
    the first one on or after ``end`` (so every date in [start, end] has a front contract)."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    out: list[pd.Timestamp] = []
    year, month = start.year, ((start.month - 1) // 3) * 3 + 3
    while True:
        expiry = third_friday(year, month)
        if expiry >= start:
            out.append(expiry)
            if expiry >= end:
                return out
        month += 3
        if month > 12:
            year, month = year + 1, 3


def roll_date(expiry, calendar: pd.DatetimeIndex, business_days_before: int) -> pd.Timestamp:
    """The trading day ``business_days_before`` days before ``expiry`` on ``calendar``.

    ``calendar`` holds the simulation's trading days; the expiry itself need not be one
    (a holiday): days strictly before it are counted.
    """
    if business_days_before < 0:
        raise InputError("business_days_before", f"is {business_days_before}; it must be >= 0")
    expiry = pd.Timestamp(expiry)
    before = calendar[calendar < expiry] if business_days_before else calendar[calendar <= expiry]
    position = len(before) - max(business_days_before, 1)
    if position < 0:
        raise InputError("calendar", f"has fewer than {business_days_before} days before {expiry.date()}")
    return pd.Timestamp(before[position])


@dataclass(frozen=True)
class Future:
    """An exchange-traded future (equity index or bond) mapped to one asset class.

    Parameters
    ----------
    name:
        Contract root, e.g. ``"ES"`` or ``"TY"``.
    asset_class:
        Exposure key the contract maps into.
    multiplier:
        Currency per price point (50 for E-mini S&P, 250 for the big S&P contract,
        1000 for the 10-year note future quoted in points of 100).
    beta:
        Exposure per unit of notional: 1.0 for an index future on the sleeve's index; for a
        bond future the duration ratio ``contract duration / sleeve duration``
        (see :meth:`duration_ratio`).
    initial_margin, maintenance_margin:
        Margin per unit of absolute notional (fractions); maintenance <= initial. A margin
        call restores cash to the initial level.
    cost_per_contract_usd:
        Commission plus half the bid/ask spread per contract traded, account currency.
    roll_days_before_expiry:
        Business days before expiry on which a held position rolls to the next quarter.
    """

    name: str
    asset_class: str
    multiplier: float
    beta: float = 1.0
    initial_margin: float = 0.06
    maintenance_margin: float = 0.055
    cost_per_contract_usd: float = 8.25
    roll_days_before_expiry: int = 5

    def __post_init__(self) -> None:
        prefix = f"future[{self.name}]"
        finite_number(self.multiplier, f"{prefix}.multiplier", minimum=1e-12)
        if not np.isfinite(self.beta) or self.beta == 0:
            raise InputError(f"{prefix}.beta", f"is {self.beta!r}; it must be finite and non-zero")
        finite_number(self.initial_margin, f"{prefix}.initial_margin", minimum=0.0)
        finite_number(self.maintenance_margin, f"{prefix}.maintenance_margin", minimum=0.0)
        if self.maintenance_margin > self.initial_margin:
            raise InputError(f"{prefix}.maintenance_margin", "is above the initial margin")
        finite_number(self.cost_per_contract_usd, f"{prefix}.cost_per_contract_usd", minimum=0.0)
        if self.roll_days_before_expiry < 0:
            raise InputError(f"{prefix}.roll_days_before_expiry", "must be >= 0")

    @staticmethod
    def duration_ratio(contract_duration: float, sleeve_duration: float) -> float:
        """Beta of a bond future against a bond sleeve: ratio of modified durations."""
        finite_number(contract_duration, "contract_duration", minimum=1e-12)
        finite_number(sleeve_duration, "sleeve_duration", minimum=1e-12)
        return contract_duration / sleeve_duration

    def notional_usd(self, price: float, contracts: float = 1.0) -> float:
        """Notional of ``contracts`` at ``price``: ``contracts * multiplier * price``."""
        return float(contracts * self.multiplier * price)

    def exposure_usd(self, price: float, contracts: float) -> float:
        """Asset-class exposure of ``contracts``: ``beta * notional``."""
        return self.beta * self.notional_usd(price, contracts)

    def contracts_for(self, exposure_usd: float, price: float) -> float:
        """Contracts (not rounded) for a signed exposure at ``price``."""
        return contracts_for_exposure(exposure_usd, price, self.multiplier, self.beta)

    def whole_contracts_for(self, exposure_usd: float, price: float) -> int:
        """Whole contracts nearest to a signed exposure at ``price``."""
        return whole_contracts(self.contracts_for(exposure_usd, price))

    def initial_margin_usd(self, price: float, contracts: float) -> float:
        return self.initial_margin * abs(self.notional_usd(price, contracts))

    def maintenance_margin_usd(self, price: float, contracts: float) -> float:
        return self.maintenance_margin * abs(self.notional_usd(price, contracts))

    def roll_dates(self, calendar: pd.DatetimeIndex) -> list[pd.Timestamp]:
        """Roll dates within ``calendar`` (one per quarterly expiry it spans; an expiry after the
        calendar's last day is skipped, as the days before it are not all known)."""
        out = []
        for expiry in quarterly_expiries(calendar[0], calendar[-1]):
            if expiry > calendar[-1]:
                continue
            try:
                day = roll_date(expiry, calendar, self.roll_days_before_expiry)
            except InputError:
                continue
            if calendar[0] <= day <= calendar[-1]:
                out.append(day)
        return out

    def to_overlay_instrument(self, price: float) -> OverlayInstrument:
        """The core program's view on a date: notional per contract, beta, margin, cost."""
        return OverlayInstrument(name=self.name, multiplier=self.multiplier, price=price,
                                 exposure={self.asset_class: self.beta}, initial_margin=self.initial_margin,
                                 cost_per_contract_usd=self.cost_per_contract_usd)


@dataclass(frozen=True)
class TotalReturnSwap:
    """A total-return swap on an index: receive its total return, pay cash rate + spread.

    Parameters
    ----------
    name:
        Identifier, e.g. ``"SPX_TRS"``.
    asset_class:
        Exposure key of the reference index (beta 1 per unit of notional).
    financing_spread:
        Spread over the cash rate paid on notional, per year (0.004 = 40 bps).
    counterparty_limit_usd:
        Largest absolute notional the counterparty accepts.
    reset_months:
        Months between resets: at each reset accrued P&L settles in cash and the
        notional re-strikes.
    trade_cost_bps:
        Dealer charge per unit of notional traded (one way), basis points.
    collateral:
        Independent amount posted from cash, fraction of absolute notional.
    """

    name: str
    asset_class: str
    financing_spread: float = 0.004
    counterparty_limit_usd: float = 500e6
    reset_months: int = 1
    trade_cost_bps: float = 2.0
    collateral: float = 0.05

    def __post_init__(self) -> None:
        prefix = f"swap[{self.name}]"
        finite_number(self.financing_spread, f"{prefix}.financing_spread")
        finite_number(self.counterparty_limit_usd, f"{prefix}.counterparty_limit_usd", minimum=0.0)
        if int(self.reset_months) != self.reset_months or self.reset_months < 1:
            raise InputError(f"{prefix}.reset_months", f"is {self.reset_months!r}; use a whole number >= 1")
        finite_number(self.trade_cost_bps, f"{prefix}.trade_cost_bps", minimum=0.0)
        finite_number(self.collateral, f"{prefix}.collateral", minimum=0.0)

    def clip_notional(self, notional_usd: float) -> float:
        """``notional_usd`` limited to the counterparty limit (sign kept)."""
        return float(np.clip(notional_usd, -self.counterparty_limit_usd, self.counterparty_limit_usd))

    def reset_dates(self, calendar: pd.DatetimeIndex) -> list[pd.Timestamp]:
        """Last trading day of every ``reset_months``-th month in ``calendar``."""
        days = pd.Series(calendar, index=calendar)
        month_ends = days.groupby(calendar.to_period("M")).max()
        return [pd.Timestamp(d) for d in month_ends.iloc[self.reset_months - 1::self.reset_months]]

    def to_overlay_instrument(self) -> OverlayInstrument:
        """Core view: one "contract" is one dollar of notional; cost per dollar traded."""
        return OverlayInstrument(name=self.name, multiplier=1.0, price=1.0, exposure={self.asset_class: 1.0},
                                 initial_margin=self.collateral, cost_per_contract_usd=self.trade_cost_bps * 1e-4,
                                 max_notional_usd=self.counterparty_limit_usd)


def black_scholes_delta(spot: float, strike: float, years: float, rate: float, dividend_yield: float,
                        volatility: float, kind: Literal["call", "put"] = "call") -> float:
    """Black-Scholes-Merton delta of a European option (per unit of underlying).

    ``call: exp(-q T) N(d1)``, ``put: exp(-q T) (N(d1) - 1)`` with
    ``d1 = (ln(S/K) + (r - q + sigma^2/2) T) / (sigma sqrt T)``. Rates are continuously
    compounded per year. At expiry (``years == 0``) the delta is the exercise indicator.
    """
    finite_number(spot, "spot", minimum=1e-12)
    finite_number(strike, "strike", minimum=1e-12)
    finite_number(years, "years", minimum=0.0)
    finite_number(volatility, "volatility", minimum=0.0)
    if kind not in ("call", "put"):
        raise InputError("kind", f"is {kind!r}; use 'call' or 'put'")
    if years == 0 or volatility == 0:
        forward = spot * math.exp((rate - dividend_yield) * years)
        in_money = forward > strike if kind == "call" else forward < strike
        sign = 1.0 if kind == "call" else -1.0
        return sign * math.exp(-dividend_yield * years) * float(in_money)
    d1 = (math.log(spot / strike) + (rate - dividend_yield + 0.5 * volatility ** 2) * years) / (
        volatility * math.sqrt(years))
    nd1 = 0.5 * (1.0 + math.erf(d1 / math.sqrt(2.0)))
    discount = math.exp(-dividend_yield * years)
    return discount * nd1 if kind == "call" else discount * (nd1 - 1.0)


def black_scholes_price(spot: float, strike: float, years: float, rate: float, dividend_yield: float,
                        volatility: float, kind: Literal["call", "put"] = "call") -> float:
    """Black-Scholes-Merton price of a European option per unit of underlying (index points).

    At ``years == 0`` (or zero volatility) it is the discounted intrinsic value on the forward.
    """
    finite_number(spot, "spot", minimum=1e-12)
    finite_number(strike, "strike", minimum=1e-12)
    finite_number(years, "years", minimum=0.0)
    finite_number(volatility, "volatility", minimum=0.0)
    if kind not in ("call", "put"):
        raise InputError("kind", f"is {kind!r}; use 'call' or 'put'")
    fwd_spot = spot * math.exp(-dividend_yield * years)
    pv_strike = strike * math.exp(-rate * years)
    if years == 0 or volatility == 0:
        return max(fwd_spot - pv_strike, 0.0) if kind == "call" else max(pv_strike - fwd_spot, 0.0)
    root = volatility * math.sqrt(years)
    d1 = (math.log(spot / strike) + (rate - dividend_yield + 0.5 * volatility ** 2) * years) / root
    n = lambda x: 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))  # noqa: E731
    if kind == "call":
        return fwd_spot * n(d1) - pv_strike * n(d1 - root)
    return pv_strike * n(root - d1) - fwd_spot * n(-d1)


@dataclass(frozen=True)
class OptionPosition:
    """Listed index options already held, counted as delta-equivalent exposure.

    Approximation: exposure is ``delta * contracts * multiplier * spot`` only; gamma and
    vega are ignored (exposure is re-measured each day), exercise is European.

    Parameters
    ----------
    name, asset_class:
        Identifier and exposure key of the underlying.
    kind:
        ``"call"`` or ``"put"``.
    strike:
        Strike in index points.
    expiry:
        Expiry date.
    contracts:
        Signed contracts held (negative = written).
    multiplier:
        Currency per index point (100 for SPX options).
    """

    name: str
    asset_class: str
    kind: Literal["call", "put"]
    strike: float
    expiry: pd.Timestamp
    contracts: float
    multiplier: float = 100.0

    def years_to_expiry(self, date) -> float:
        return max(0.0, (pd.Timestamp(self.expiry) - pd.Timestamp(date)).days / 365.25)

    def delta_exposure_usd(self, date, spot: float, rate: float, dividend_yield: float, volatility: float) -> float:
        """Delta-equivalent exposure in account currency on ``date``."""
        delta = black_scholes_delta(spot, self.strike, self.years_to_expiry(date), rate, dividend_yield,
                                    volatility, self.kind)
        return delta * self.contracts * self.multiplier * spot

    def value_usd(self, date, spot: float, rate: float, dividend_yield: float, volatility: float) -> float:
        """Black-Scholes value of the position (negative when written), account currency."""
        price = black_scholes_price(spot, self.strike, self.years_to_expiry(date), rate, dividend_yield,
                                    volatility, self.kind)
        return price * self.contracts * self.multiplier
