"""Derivative positions in the backtest's one ledger: futures, total-return swaps, options.

An account may hold an *overlay* beside its tax lots (``BacktestConfig.overlay``). The
instruments are those of :mod:`optimizer.overlays.instruments` (contract specs, expiry and
roll calendars, Black-Scholes) and their cash flows those of
:mod:`optimizer.overlays.accounting` (variation margin, swap payments, roll cost, margin
calls); this module runs their life cycle day by day inside :class:`~optimizer.backtest.Simulator`:

* the positions live in :class:`AccountOverlay`, an
  :class:`~optimizer.overlays.accounting.OverlayBook` whose cash *is* the
  :class:`~optimizer.backtest.ledger.Ledger`'s cash (``ledger.overlay``): margin is
  posted from it, variation margin, swap settlements, roll costs and option payoffs are
  paid into or out of it, so a taxable, lot-tracked account can hold an overlay;
* :class:`OverlayDesk` prices and marks them each date (:meth:`OverlayDesk.mark`):
  futures settle variation margin at their cost-of-carry fair value
  ``F = S exp((r - q) T)`` on the ``OverlayMarket.underlying`` index of their asset class,
  positions on their roll date roll to the next quarterly contract (roll cost charged),
  options expire into cash at intrinsic value, swaps are marked to their asset's price
  (the simulator's total-return index) and settle at their resets;
* policies see the overlay in ``State.overlay`` (:class:`optimizer.policies.base.OverlayView`)
  and trade it with ``Orders.futures_contracts`` / ``Orders.swap_notional_usd``;
* :class:`OverlayRecords` keeps the per-date record (exposures, gross notional, margin
  calls, financing, roll and trade costs) that ``BacktestResult.overlay`` carries.

Every instrument's asset class must be one of the simulator's assets: exposure keys are
assets.

This replaces the former stand-alone loop of ``optimizer/overlays/simulate.py`` (now a thin
layer that sets the $5bn book up for the simulator). Modelling changes, none of which moved
a figure of ``benchmarks/results/overlay.csv``: policy buys are scaled so a fill never
overdraws cash (as in every backtest); physical sleeves are lots at total-return prices
rather than dollar amounts; margin-call sales are ledger fills priced by
:func:`optimizer.backtest.costs.price_trade`; targets and bands belong to the policies.

Not modelled: impact in futures, futures trading rich or cheap to fair value,
exchange margin-rate changes, bid/ask on the rate legs, tax on derivative gains (futures
gains, swap payments and option payoffs are cash, not lots; Section 1256 treatment is
left out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from optimizer.backtest.errors import CalendarError, PriceDataError
from optimizer.errors import InputError
from optimizer.overlays.accounting import OverlayBook, futures_fair_value
from optimizer.overlays.instruments import Future, OptionPosition, TotalReturnSwap, quarterly_expiries, roll_date
from optimizer.policies.base import OverlayView

MARGIN_CALL_ACTIONS = ("sell_physical", "reduce_overlay")
COST_KINDS = ("futures_trade", "futures_roll", "swap_trade", "swap_spread")


@dataclass(frozen=True)
class OverlayConfig:
    """The overlay an account may hold, and its rules.

    Parameters
    ----------
    futures:
        Futures the policies may trade (their ``asset_class`` is a simulator asset).
    swaps:
        Total-return swaps the policies may trade, on their asset's total-return price.
    options:
        Index options held from the first date (not traded): valued by Black-Scholes at
        the trailing realized volatility of their asset (``option_vol_window`` returns,
        annualised by sqrt 252), counted in exposure by delta, settled at intrinsic value
        into cash at expiry. Their value is added to the starting NAV.
    calendar_spread_usd:
        ``(future name, USD)`` pairs: extra half bid/ask per contract rolled.
    gross_limit:
        Overlay gross notional cap, NAV fraction (policies respect it; it is reported).
    margin_call_action:
        How a margin call is met: ``"sell_physical"`` (sell the asset furthest above
        target until cash meets the initial requirement) or ``"reduce_overlay"`` (close
        futures and swaps pro rata, 10% at a time, until it does; physical is sold first
        only if cash is negative, and after closing everything if still short).
    swap_day_count:
        Day-count basis of swap financing (360: Act/360).
    """

    futures: tuple[Future, ...] = ()
    swaps: tuple[TotalReturnSwap, ...] = ()
    options: tuple[OptionPosition, ...] = ()
    calendar_spread_usd: tuple[tuple[str, float], ...] = ()
    gross_limit: float = 0.25
    margin_call_action: Literal["sell_physical", "reduce_overlay"] = "sell_physical"
    option_vol_window: int = 60
    swap_day_count: float = 360.0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.gross_limit) and self.gross_limit >= 0):
            raise InputError("overlay.gross_limit", f"is {self.gross_limit!r}; it must be >= 0")
        if self.margin_call_action not in MARGIN_CALL_ACTIONS:
            raise InputError("overlay.margin_call_action",
                             f"is {self.margin_call_action!r}; use one of {MARGIN_CALL_ACTIONS}")
        names = [i.name for i in (*self.futures, *self.swaps)]
        if len(set(names)) != len(names):
            raise InputError("overlay", "names an instrument twice")
        if self.option_vol_window < 2:
            raise InputError("overlay.option_vol_window", "must be >= 2")


@dataclass(frozen=True)
class OverlayMarket:
    """Daily pricing inputs of an overlay, on (a superset of) the simulator's calendar.

    Parameters
    ----------
    underlying:
        Per asset (column): the index level futures and options on that asset are written
        on (e.g. the S&P 500 *price* index for an equity sleeve priced as total return).
    rate:
        Cash rate known at each close, annual simple yield (decimal); futures carry and
        swap financing are fixed from it.
    dividend_yield:
        Per asset (column), annual simple yield (decimal) of the underlying; a missing
        column is 0 (a total-return underlying).
    """

    underlying: pd.DataFrame
    rate: pd.Series
    dividend_yield: pd.DataFrame | None = None


def _on_calendar(series: pd.Series, calendar: pd.DatetimeIndex, first: int, field: str, *,
                 positive: bool = False) -> np.ndarray:
    """``series`` on ``calendar`` (NaN on dates it lacks); every simulated date (``first`` on)
    must have a finite value (> 0 with ``positive``)."""
    if not isinstance(series, pd.Series):
        raise InputError(field, "expected a pandas Series indexed by date")
    index = pd.DatetimeIndex(series.index)
    if index.has_duplicates:
        raise CalendarError(field, "repeats a date", date=index[index.duplicated()][0])
    out = pd.Series(series.to_numpy(dtype=float), index=index).reindex(calendar).to_numpy()
    simulated = out[first:]
    bad = ~np.isfinite(simulated) | ((simulated <= 0) if positive else False)
    if bad.any():
        raise PriceDataError(field, f"is {simulated[bad.argmax()]!r} (missing, or not {'positive and ' * positive}"
                             "finite) on a simulated date", date=calendar[first + int(bad.argmax())])
    return out


class AccountOverlay(OverlayBook):
    """An :class:`~optimizer.overlays.accounting.OverlayBook` whose cash is the ledger's cash.

    Every flow the book books (variation margin, costs, swap settlements) moves
    ``ledger.cash_usd``; ``options`` holds the option positions not yet expired.
    """

    def __init__(self, ledger, options: tuple[OptionPosition, ...] = (), swap_day_count: float = 360.0):
        self._ledger = ledger
        super().__init__(ledger.cash_usd, swap_day_count)
        self.options: list[OptionPosition] = list(options)

    @property
    def cash_usd(self) -> float:  # type: ignore[override]
        return self._ledger.cash_usd

    @cash_usd.setter
    def cash_usd(self, value: float) -> None:
        self._ledger.cash_usd = float(value)

    def held_contracts(self) -> int:
        return sum(abs(p.contracts) for p in self.futures.values())


@dataclass
class OverlayRecords:
    """Per-date record of the overlay (arrays over the simulator's calendar; USD).

    ``exposure_usd`` (dates x assets) is the end-of-date overlay exposure (futures, swaps
    and option deltas); ``exposure_open_usd`` and ``nav_open_usd`` what the policy saw
    before trading (holdings + overlay, and NAV). ``gross_usd`` is the gross notional of
    futures and swaps; ``cash_low_usd`` the lowest cash of the date (after the marks or
    after trading); ``margin_call`` marks dates with a call, ``call_contracts_closed``,
    ``call_sold_usd`` and ``call_cost_usd`` how it was met (contracts closed, physical sold
    and the cost of those sales); ``contracts_traded`` the policy's futures trades;
    ``costs`` the derivative costs per kind (:data:`COST_KINDS`) paid each date;
    ``margin_calls`` every :class:`~optimizer.overlays.accounting.MarginCall`.
    """

    exposure_usd: np.ndarray
    exposure_open_usd: np.ndarray
    nav_open_usd: np.ndarray
    gross_usd: np.ndarray
    swap_notional_usd: np.ndarray
    option_value_usd: np.ndarray
    option_delta_usd: np.ndarray
    cash_low_usd: np.ndarray
    margin_call: np.ndarray
    call_contracts_closed: np.ndarray
    call_sold_usd: np.ndarray
    call_cost_usd: np.ndarray
    contracts_traded: np.ndarray
    costs: dict[str, np.ndarray]
    margin_calls: list = field(default_factory=list)
    booked_usd: dict[str, float] = field(default_factory=lambda: dict.fromkeys(COST_KINDS, 0.0))  # running totals

    @classmethod
    def empty(cls, T: int, n: int) -> "OverlayRecords":
        z = lambda: np.zeros(T)  # noqa: E731
        return cls(np.zeros((T, n)), np.zeros((T, n)), z(), z(), z(), z(), z(), z(), np.zeros(T, dtype=bool),
                   np.zeros(T, dtype=int), z(), z(), np.zeros(T, dtype=int), {kind: z() for kind in COST_KINDS})

    def sliced(self, first: int) -> "OverlayRecords":
        """The records from date ``first`` on (dates before are history, not simulated)."""
        return OverlayRecords(*(getattr(self, name)[first:] for name in (
            "exposure_usd", "exposure_open_usd", "nav_open_usd", "gross_usd", "swap_notional_usd",
            "option_value_usd", "option_delta_usd", "cash_low_usd", "margin_call", "call_contracts_closed",
            "call_sold_usd", "call_cost_usd", "contracts_traded")),
            {kind: values[first:] for kind, values in self.costs.items()}, list(self.margin_calls))

    @property
    def costs_usd(self) -> dict[str, float]:
        """Derivative costs over the run per kind, plus ``margin_call_sales``."""
        return {**{kind: float(values.sum()) for kind, values in self.costs.items()},
                "margin_call_sales": float(self.call_cost_usd.sum())}


class OverlayDesk:
    """Prices, marks and trades an account's overlay on the simulator's calendar.

    Built by the simulator from the config and the market data; holds no position (those
    live in ``ledger.overlay``), so a checkpoint only needs the ledger.

    Parameters
    ----------
    config:
        The overlay's instruments and rules.
    market:
        Pricing inputs (see :class:`OverlayMarket`).
    calendar:
        The simulator's dates; ``first`` the first simulated one (earlier dates are history).
    assets:
        The simulator's assets; every instrument's asset class must be one of them.
    prices:
        The simulator's total-return prices (dates x assets): swap levels and the returns
        behind the options' volatility.
    """

    def __init__(self, config: OverlayConfig, market: OverlayMarket, calendar: pd.DatetimeIndex, first: int,
                 assets: tuple[str, ...], prices: np.ndarray):
        self.config = config
        self.assets = tuple(assets)
        self.index = {a: i for i, a in enumerate(self.assets)}
        for inst in (*config.futures, *config.swaps, *config.options):
            if inst.asset_class not in self.index:
                raise InputError("overlay", f"maps {inst.name!r} to {inst.asset_class!r}, which is not an asset of "
                                 "the price history", asset=inst.name)
        self.calendar = calendar
        self.first = first
        self.prices = prices
        self.rate = _on_calendar(market.rate, calendar, first, "overlay_market.rate")
        needed = {i.asset_class for i in (*config.futures, *config.options)}
        self.underlying: dict[str, np.ndarray] = {}
        self.dividend: dict[str, np.ndarray] = {}
        for asset in needed:
            if asset not in market.underlying.columns:
                raise InputError("overlay_market.underlying", "has no column for an asset an instrument is on",
                                 asset=asset)
            self.underlying[asset] = _on_calendar(market.underlying[asset], calendar, first,
                                                  "overlay_market.underlying", positive=True)
            dividend = market.dividend_yield
            self.dividend[asset] = (np.zeros(len(calendar)) if dividend is None or asset not in dividend.columns
                                    else _on_calendar(dividend[asset], calendar, first,
                                                      "overlay_market.dividend_yield"))
        simulated = calendar[first:]
        self.expiries = quarterly_expiries(simulated[0], simulated[-1] + pd.Timedelta(days=200))
        extended = calendar.append(pd.bdate_range(calendar[-1] + pd.Timedelta(days=1), periods=160))
        self.rolls = {f.name: {e: roll_date(e, extended, f.roll_days_before_expiry) for e in self.expiries}
                      for f in config.futures}
        self.futures = {f.name: f for f in config.futures}
        self.swaps = {s.name: s for s in config.swaps}
        self.resets = {s.name: set(s.reset_dates(simulated)) for s in config.swaps}
        self.spreads = dict(config.calendar_spread_usd)
        option_assets = {o.asset_class for o in config.options}
        self.option_vol = {asset: self._annual_vol(self.index[asset]) for asset in option_assets}

    def _annual_vol(self, i: int) -> np.ndarray:
        """Trailing realized volatility per date of asset ``i``'s returns, annualised (sqrt 252)."""
        returns = pd.Series(self.prices[1:, i] / self.prices[:-1, i] - 1.0)
        vol = returns.rolling(self.config.option_vol_window, min_periods=5).std().bfill().to_numpy()
        return np.r_[vol[:1], vol] * np.sqrt(252)

    # -- pricing ------------------------------------------------------------------------
    def open(self, ledger) -> AccountOverlay:
        """Attach an empty overlay (plus the options held from the start) to ``ledger``."""
        ledger.overlay = AccountOverlay(ledger, self.config.options, self.config.swap_day_count)
        return ledger.overlay

    def front_expiry(self, k: int, name: str) -> pd.Timestamp:
        """Nearest expiry whose roll date is after date ``k`` (the contract one holds that day)."""
        date = self.calendar[k]
        for expiry in self.expiries:
            if self.rolls[name][expiry] > date:
                return expiry
        raise InputError("date", f"{date.date()} is past the last expiry in the calendar")

    def futures_price(self, k: int, future: Future, expiry: pd.Timestamp) -> float:
        """Cost-of-carry fair value of ``future``'s ``expiry`` contract on date ``k``."""
        years = max(0.0, (expiry - self.calendar[k]).days / 365.25)
        asset = future.asset_class
        return futures_fair_value(self.underlying[asset][k], math.log1p(self.rate[k]),
                                  math.log1p(self.dividend[asset][k]), years)

    def option_marks(self, k: int, book: AccountOverlay) -> tuple[float, np.ndarray]:
        """Black-Scholes value and delta exposure per asset of the options still held on date ``k``."""
        value, delta = 0.0, np.zeros(len(self.assets))
        date, rate = self.calendar[k], math.log1p(self.rate[k])
        for option in book.options:
            asset = option.asset_class
            spot, vol = self.underlying[asset][k], self.option_vol[asset][k]
            dividend = math.log1p(self.dividend[asset][k])
            value += option.value_usd(date, spot, rate, dividend, vol)
            delta[self.index[asset]] += option.delta_exposure_usd(date, spot, rate, dividend, vol)
        return value, delta

    def book_exposure_usd(self, book: AccountOverlay) -> np.ndarray:
        """Exposure per asset of futures and swaps (options excluded)."""
        out = np.zeros(len(self.assets))
        for asset, usd in book.exposure_usd().items():
            out[self.index[asset]] += usd
        return out

    # -- the day's marks ----------------------------------------------------------------
    def mark(self, k: int, book: AccountOverlay) -> None:
        """Date ``k``'s marks (after the cash rate accrued): variation margin, rolls, option
        expiries, swap marks and resets."""
        date = self.calendar[k]
        book.mark_futures({n: self.futures_price(k, p.future, p.expiry) for n, p in book.futures.items()})
        for name, position in book.futures.items():
            if position.contracts and self.rolls[name][position.expiry] <= date:
                new_expiry = self.front_expiry(k, name)
                book.roll_future(name, self.futures_price(k, position.future, new_expiry), new_expiry,
                                 self.spreads.get(name, 0.0))
            elif not position.contracts:
                position.expiry = self.front_expiry(k, name)
                position.price = self.futures_price(k, position.future, position.expiry)
        for option in [o for o in book.options if o.years_to_expiry(date) == 0]:  # cash-settled at expiry
            book.cash_usd += option.value_usd(date, self.underlying[option.asset_class][k], 0.0, 0.0, 0.0)
            book.options.remove(option)
        book.mark_swaps(date, {n: self.prices[k, self.index[p.swap.asset_class]] for n, p in book.swaps.items()})
        for name in book.swaps:
            if date in self.resets[name]:
                book.reset_swap(name, self.rate[k])

    def view(self, k: int, book: AccountOverlay, option_value: float, option_delta: np.ndarray) -> OverlayView:
        """What a policy sees of the overlay on date ``k`` (after marks and margin calls)."""
        prices = {n: (book.futures[n].price if n in book.futures and book.futures[n].contracts
                      else self.futures_price(k, f, self.front_expiry(k, n))) for n, f in self.futures.items()}
        return OverlayView(
            exposure_usd=self.book_exposure_usd(book) + option_delta,
            contracts={n: p.contracts for n, p in book.futures.items() if p.contracts},
            futures=dict(self.futures), futures_price=prices, swaps=dict(self.swaps),
            swap_notional={n: p.notional_usd for n, p in book.swaps.items()},
            option_delta_usd=option_delta, option_value_usd=option_value, gross_limit=self.config.gross_limit,
            initial_margin_usd=book.initial_requirement_usd(),
            maintenance_margin_usd=book.maintenance_requirement_usd())

    # -- trades -------------------------------------------------------------------------
    def trade(self, k: int, book: AccountOverlay, futures_contracts: dict | None, swap_notional_usd: dict | None,
              view: OverlayView) -> bool:
        """Fill a policy's futures (at ``view.futures_price``) and swap orders; True if any traded."""
        traded = False
        for name, n in (futures_contracts or {}).items():
            if name not in self.futures:
                raise InputError("orders.futures_contracts", "names a future the overlay does not offer", asset=name)
            if n:
                book.trade_futures(name, int(n), view.futures_price[name], future=self.futures[name],
                                   expiry=self.front_expiry(k, name))
                traded = True
        for name, change in (swap_notional_usd or {}).items():
            if name not in self.swaps:
                raise InputError("orders.swap_notional_usd", "names a swap the overlay does not offer", asset=name)
            if abs(change) > 1.0:
                swap = self.swaps[name]
                book.trade_swap(self.calendar[k], name, change, self.prices[k, self.index[swap.asset_class]],
                                self.rate[k], swap=swap)
                traded = True
        return traded

    def reduce(self, k: int, book: AccountOverlay) -> None:
        """Close futures (whole contracts) and swap notional pro rata, 10% of each position at a
        time, until cash meets the initial requirement or nothing is left open."""
        for _ in range(60):
            if book.cash_usd >= book.initial_requirement_usd():
                return
            open_futures = [(n, p) for n, p in book.futures.items() if p.contracts]
            open_swaps = [(n, p) for n, p in book.swaps.items() if abs(p.notional_usd) > 1.0]
            if not open_futures and not open_swaps:
                return
            for name, position in open_futures:
                cut = max(1, int(abs(position.contracts) * 0.1))
                book.trade_futures(name, -int(np.sign(position.contracts)) * cut, position.price)
            for name, position in open_swaps:
                level = self.prices[k, self.index[position.swap.asset_class]]
                book.trade_swap(self.calendar[k], name, -0.1 * position.notional_usd if abs(position.notional_usd) > 1e6
                                else -position.notional_usd, level, self.rate[k])

    def fingerprint(self) -> bytes:
        """The market data behind the overlay, for checkpoint fingerprints."""
        parts = [self.rate] + [self.underlying[a] for a in sorted(self.underlying)] + [
            self.dividend[a] for a in sorted(self.dividend)]
        return b"".join(np.ascontiguousarray(p, dtype=float).tobytes() for p in parts)
