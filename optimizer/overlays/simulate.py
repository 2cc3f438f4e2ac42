"""Daily simulation of a large stock/bond/cash book rebalanced with or without a futures overlay.

The book: a US equity sleeve (S&P 500 total return), a bond sleeve (constant-maturity
10-year Treasury fund) and cash at the 3-month yield, held as dollar amounts (no tax lots:
this simulator is about the derivative life cycle; :mod:`optimizer.backtest` owns lots).
Overlay: an equity index future (``ES``-like, ``F = S exp((r - q) T)`` on the S&P price
index with the Shiller dividend yield) and a bond future written on the 10-year fund's
total-return level (``F = B exp(r T)``, so beta 1 to the bond sleeve; a real 10-year note
future would map by a duration ratio of about 0.7-0.8 and carry basis risk).

An equity total-return swap (``SPX_TRS``, on the equity sleeve's total-return level) can be
added with ``BookConfig(swaps=(SPX_TRS,))``; it is marked daily (its unsettled value is in
NAV), resets monthly (settles in cash, re-strikes, refixes the rate) and costs its financing
spread over the 3-month yield, counted as a cost (``swap_spread``) since the cash rate part
is what the cash freed by the overlay earns anyway.

Each day, in order:

1. sleeves earn their total return, cash its rate; futures settle variation margin at the
   day's fair value; positions on their roll date roll to the next quarter (cost charged);
   expired options settle at intrinsic value; swaps are marked and, on reset dates, settled;
2. margin check (again after step 3): below maintenance a
   :class:`~optimizer.overlays.accounting.MarginCall` is
   recorded and the simulator acts at once (``BookConfig.margin_call_action``): it sells the
   most overweight physical sleeve (paying impact, ignoring the participation cap: a
   forced sale), or it closes the overlay pro rata and sells physical only if that is not
   enough, until cash meets the initial requirement; an unresolved call raises
   :class:`MarginCallError`;
3. the policy decides; physical trades are capped at ``participation * ADV`` per sleeve
   and cost ``half_spread * |u| + eta * vol * u^2 / ADV`` (the core's impact model),
   futures cost ``cost_per_contract_usd`` per contract;
4. end-of-day exposures, NAV and costs are recorded.

Liquidity assumption (documented, not measured): the account can access ``adv_usd`` per
day in each sleeve without moving the market beyond the impact model: $1.5bn for the
equity basket (a block-traded S&P basket / ETF creation, far less than the index's total
traded value but what one manager can take without signalling) and $1.0bn for the
10-year Treasury sleeve (off-the-run notes the account can trade through dealers). With a
$5bn NAV a 3-point drift is $150M, i.e. 10-15% of that ADV: impact matters.

Not modelled: impact in futures (their markets are far deeper than these trades), futures
trading rich or cheap to fair value, exchange margin-rate hikes (2008, 2020 had them;
rates here are fixed fractions of notional), bid/ask on the rate legs, taxes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.overlays.accounting import OverlayBook, futures_fair_value
from optimizer.overlays.instruments import Future, OptionPosition, TotalReturnSwap, quarterly_expiries, roll_date
from optimizer.overlays.policies import DayView

EQUITY, BONDS = "US_EQUITY", "BONDS"
CLASSES = (EQUITY, BONDS)

ES = Future("ES", EQUITY, multiplier=50.0, beta=1.0, initial_margin=0.06, maintenance_margin=0.055,
            cost_per_contract_usd=8.25, roll_days_before_expiry=5)
"""E-mini-like S&P future: $2 commission + half a 0.25-point tick ($6.25)."""
TY = Future("TY", BONDS, multiplier=1000.0, beta=1.0, initial_margin=0.025, maintenance_margin=0.0225,
            cost_per_contract_usd=9.8, roll_days_before_expiry=5)
"""10-year-note-like future on the bond sleeve's own index: $2 + half a 1/64 tick ($7.8)."""
SPX_TRS = TotalReturnSwap("SPX_TRS", EQUITY, financing_spread=0.0035, counterparty_limit_usd=300e6, reset_months=1,
                          trade_cost_bps=1.0, collateral=0.05)
"""Equity total-return swap: 3-month yield + 35 bp, $300M counterparty line, monthly resets."""


@dataclass(frozen=True)
class BookConfig:
    """The simulated account and its trading conditions.

    Parameters
    ----------
    nav_usd:
        Starting NAV (all physical, at target).
    target:
        Target weight per class (``US_EQUITY``, ``BONDS``); the rest is cash.
    band:
        Absolute band half-width around each target (NAV fraction).
    adv_usd, half_spread:
        Per class: accessible daily volume (account currency) and half spread (fraction).
    participation:
        Largest physical trade per day as a fraction of ADV (forced sales excepted).
    impact_eta:
        Impact coefficient of the core model (cost = eta * daily vol * u^2 / ADV).
    vol_window:
        Trailing days for the daily volatility used by impact.
    gross_limit:
        Overlay gross notional cap, NAV fraction.
    calendar_spread_usd:
        Extra half bid/ask per contract rolled, per future name.
    futures:
        The futures available to overlay policies.
    swaps:
        Total-return swaps available (on the sleeves' total-return levels).
    margin_call_action:
        How a margin call is met: ``"sell_physical"`` (forced sale of the most overweight
        sleeve) or ``"reduce_overlay"`` (close futures and swaps pro rata until cash meets
        the initial requirement; physical is sold only if closing everything is not enough).
    options:
        S&P 500 index options held from the start (not traded by policies): valued by
        Black-Scholes at the trailing realized volatility, counted in exposure by delta,
        settled at intrinsic value into cash at expiry. Their value is added to the
        starting NAV.
    """

    nav_usd: float = 5e9
    target: tuple[float, float] = (0.60, 0.38)
    band: float = 0.03
    adv_usd: tuple[float, float] = (1.5e9, 1.0e9)
    half_spread: tuple[float, float] = (2e-4, 1e-4)
    participation: float = 0.10
    impact_eta: float = 1.0
    vol_window: int = 20
    gross_limit: float = 0.25
    calendar_spread_usd: tuple[tuple[str, float], ...] = (("ES", 6.25), ("TY", 7.8))
    futures: tuple[Future, ...] = (ES, TY)
    swaps: tuple[TotalReturnSwap, ...] = ()
    margin_call_action: Literal["sell_physical", "reduce_overlay"] = "sell_physical"
    options: tuple[OptionPosition, ...] = ()


@dataclass
class SimulationResult:
    """Daily record and summary of one run."""

    policy: str
    daily: pd.DataFrame
    costs_usd: dict[str, float]
    margin_calls: list = field(default_factory=list)
    summary: dict[str, float] = field(default_factory=dict)


def _front_expiry(date: pd.Timestamp, expiries: list[pd.Timestamp], rolls: dict[pd.Timestamp, pd.Timestamp]) -> pd.Timestamp:
    """Nearest expiry whose roll date is after ``date`` (the contract one holds today)."""
    for expiry in expiries:
        if rolls[expiry] > date:
            return expiry
    raise InputError("date", f"{date.date()} is past the last expiry in the calendar")


def _futures_price(fut: Future, row: pd.Series, expiry: pd.Timestamp, date: pd.Timestamp) -> float:
    years = max(0.0, (expiry - date).days / 365.25)
    r = math.log1p(row["rate"])
    if fut.asset_class == EQUITY:
        return futures_fair_value(row["spx"], r, math.log1p(row["div_yield"]), years)
    return futures_fair_value(row["bond_level"], r, 0.0, years)


def simulate(market: pd.DataFrame, policy, config: BookConfig = BookConfig(), *, start=None,
             history_days: int = 260) -> SimulationResult:
    """Run ``policy`` day by day over ``market`` (from :func:`~optimizer.overlays.market_data.daily_market`).

    Parameters
    ----------
    market:
        Daily inputs; rows before ``start`` only feed trailing volatility and risk models.
    policy:
        Object with ``name`` and ``decide(view: DayView) -> Orders``.
    config:
        The account and its trading conditions.
    start:
        First simulated day (default: ``market``'s first day after ``history_days`` rows,
        or the first row when there are fewer).

    Returns
    -------
    SimulationResult
    """
    returns = market[["eq_ret", "bond_ret"]].set_axis(list(CLASSES), axis=1)
    levels = pd.DataFrame({EQUITY: (1.0 + market["eq_ret"]).cumprod() * 100.0, BONDS: market["bond_level"]})
    vol = returns.rolling(config.vol_window, min_periods=5).std().bfill().to_numpy()
    dates = market.index
    first = int(dates.searchsorted(pd.Timestamp(start))) if start is not None else min(history_days, len(dates) - 1)
    if first >= len(dates) - 1:
        raise InputError("start", "leaves fewer than two simulated days")
    sim_dates = dates[first:]
    expiries = quarterly_expiries(sim_dates[0], sim_dates[-1] + pd.Timedelta(days=200))
    futures = {f.name: f for f in config.futures}
    spreads = dict(config.calendar_spread_usd)
    calendar_ext = dates.append(pd.bdate_range(dates[-1] + pd.Timedelta(days=1), periods=160))
    rolls = {f.name: {e: roll_date(e, calendar_ext, f.roll_days_before_expiry) for e in expiries}
             for f in config.futures}
    swaps = {s.name: s for s in config.swaps}
    resets = {s.name: set(s.reset_dates(sim_dates)) for s in config.swaps}

    target = np.array(config.target, dtype=float)
    lower, upper = target - config.band, target + config.band
    adv = np.array(config.adv_usd, dtype=float)
    half_spread = np.array(config.half_spread, dtype=float)
    physical = target * config.nav_usd
    book = OverlayBook(cash_usd=config.nav_usd * (1.0 - target.sum()))
    options = list(config.options)
    annual_vol = returns[EQUITY].rolling(60, min_periods=5).std().bfill().to_numpy() * np.sqrt(252)
    costs = {"spread": 0.0, "impact": 0.0, "forced_sale": 0.0}
    records = []
    option_value, _ = _option_marks(options, dates[first], market.iloc[first], annual_vol[first])
    nav_prev = config.nav_usd + option_value

    for t in range(first, len(dates)):
        date, row = dates[t], market.iloc[t]
        # 1. marks, carry, rolls
        if t > first:
            physical = physical * (1.0 + returns.iloc[t].to_numpy())
            book.accrue_cash(row["cash_ret"])
            book.mark_futures({n: _futures_price(p.future, row, p.expiry, date) for n, p in book.futures.items()})
            for name, position in book.futures.items():
                if position.contracts and rolls[name][position.expiry] <= date:
                    new_expiry = _front_expiry(date, expiries, rolls[name])
                    book.roll_future(name, _futures_price(position.future, row, new_expiry, date), new_expiry,
                                     spreads.get(name, 0.0))
                elif not position.contracts:
                    position.expiry = _front_expiry(date, expiries, rolls[name])
                    position.price = _futures_price(position.future, row, position.expiry, date)
            for option in [o for o in options if o.years_to_expiry(date) == 0]:  # cash-settled at expiry
                book.cash_usd += option.value_usd(date, row["spx"], 0.0, 0.0, 0.0)
                options.remove(option)
            book.mark_swaps(date, {n: levels.iloc[t][p.swap.asset_class] for n, p in book.swaps.items()})
            for name in book.swaps:
                if date in resets[name]:
                    book.reset_swap(name, row["rate"])
        daily_vol = vol[t]
        option_value, option_delta = _option_marks(options, date, row, annual_vol[t])
        # 2. margin
        cash_low = book.cash_usd
        called = book.check_margin(date) is not None
        call_closed, call_sold = 0, 0.0
        if called:
            held = _held_contracts(book)
            physical_before = physical.sum()
            physical = _meet_margin_call(book, physical, target, daily_vol, adv, half_spread, config, costs,
                                         date, levels.iloc[t], row["rate"])
            book.resolve_margin_call()
            call_closed += held - _held_contracts(book)
            call_sold += physical_before - physical.sum()
        # 3. decide and trade
        front = {n: _front_expiry(date, expiries, rolls[n]) for n in futures}
        prices = {n: (book.futures[n].price if n in book.futures and book.futures[n].contracts
                      else _futures_price(futures[n], row, front[n], date)) for n in futures}
        view = _view(date, book, physical, futures, prices, target, lower, upper, daily_vol, adv, half_spread,
                     config, returns.iloc[max(0, t - history_days):t], swaps, option_value, option_delta)
        out_before = view.out_of_band
        orders = policy.decide(view)
        trade = np.clip(orders.physical_usd, -view.max_trade_usd, view.max_trade_usd)
        spread_cost = float(half_spread @ np.abs(trade))
        impact_cost = float(np.sum(config.impact_eta * daily_vol * trade ** 2 / adv))
        physical = physical + trade
        book.cash_usd -= float(trade.sum()) + spread_cost + impact_cost
        costs["spread"] += spread_cost
        costs["impact"] += impact_cost
        for name, n in orders.futures_contracts.items():
            if n:
                book.trade_futures(name, int(n), prices[name], future=futures[name], expiry=front[name])
        for name, change in orders.swap_notional_usd.items():
            if abs(change) > 1.0:
                book.trade_swap(date, name, change, levels.iloc[t][swaps[name].asset_class], row["rate"],
                                swap=swaps[name])
        cash_low = min(cash_low, book.cash_usd)
        if book.check_margin(date) is not None:  # the policy's own trades left cash short
            called = True
            held, physical_before = _held_contracts(book), physical.sum()
            physical = _meet_margin_call(book, physical, target, daily_vol, adv, half_spread, config, costs,
                                         date, levels.iloc[t], row["rate"])
            book.resolve_margin_call()
            call_closed += held - _held_contracts(book)
            call_sold += physical_before - physical.sum()
        # 4. record
        overlay = _overlay_by_class(book) + option_delta
        nav = float(physical.sum() + book.cash_usd + book.swap_value_usd() + option_value)
        exposure = (physical + overlay) / nav
        records.append({
            "date": date, "nav_usd": nav, "ret": nav / nav_prev - 1.0 if t > first else 0.0,
            "bench_ret": float(target @ returns.iloc[t].to_numpy() + (1 - target.sum()) * row["cash_ret"]) if t > first else 0.0,
            "eq_exposure": exposure[0], "bond_exposure": exposure[1], "cash_weight": book.cash_usd / nav,
            "overlay_gross": book.gross_notional_usd() / nav, "overlay_gross_usd": book.gross_notional_usd(),
            "swap_notional_usd": sum(abs(p.notional_usd) for p in book.swaps.values()),
            "option_value_usd": option_value, "option_delta_usd": float(option_delta.sum()),
            "nav_decision_usd": view.nav_usd, "out_of_band_open": out_before,
            "out_of_band_close": bool(np.any(exposure < lower - 1e-9) or np.any(exposure > upper + 1e-9)),
            "physical_traded_usd": float(np.abs(trade).sum()), "cash_usd": book.cash_usd,
            "cash_low_usd": cash_low, "margin_call": called, "call_contracts_closed": call_closed,
            "call_physical_sold_usd": call_sold,
            "contracts_traded": int(sum(abs(n) for n in orders.futures_contracts.values())),
        })
        nav_prev = nav
    daily = pd.DataFrame(records).set_index("date")
    all_costs = {**costs, **book.costs_usd}
    result = SimulationResult(policy.name, daily, all_costs, list(book.margin_calls))
    result.summary = summarize(result, config.nav_usd)
    return result


def _option_marks(options, date, row, annual_vol) -> tuple[float, np.ndarray]:
    """Black-Scholes value and delta exposure per class of the options still held."""
    value, delta = 0.0, np.zeros(len(CLASSES))
    rate, dividend = math.log1p(row["rate"]), math.log1p(row["div_yield"])
    for option in options:
        value += option.value_usd(date, row["spx"], rate, dividend, annual_vol)
        delta[CLASSES.index(option.asset_class)] += option.delta_exposure_usd(date, row["spx"], rate, dividend,
                                                                              annual_vol)
    return value, delta


def _held_contracts(book: OverlayBook) -> int:
    return sum(abs(p.contracts) for p in book.futures.values())


def _overlay_by_class(book: OverlayBook) -> np.ndarray:
    by_class = book.exposure_usd()
    return np.array([by_class.get(c, 0.0) for c in CLASSES])


def _view(date, book, physical, futures, prices, target, lower, upper, daily_vol, adv, half_spread, config,
          history, swaps, option_value=0.0, option_delta=None) -> DayView:
    nav = float(physical.sum() + book.cash_usd + book.swap_value_usd() + option_value)
    option_delta = np.zeros(len(CLASSES)) if option_delta is None else option_delta
    return DayView(
        date=date, classes=CLASSES, nav_usd=nav, physical_usd=physical.copy(), cash_usd=book.cash_usd,
        overlay_usd=_overlay_by_class(book) + option_delta,
        contracts={n: p.contracts for n, p in book.futures.items() if p.contracts},
        futures=dict(futures), futures_price=prices, target=target, band_lower=lower, band_upper=upper,
        daily_vol=np.asarray(daily_vol, dtype=float), adv_usd=adv, half_spread=half_spread,
        impact_eta=config.impact_eta, max_trade_usd=config.participation * adv, gross_limit=config.gross_limit,
        initial_margin_usd=book.initial_requirement_usd(), history=history, swaps=dict(swaps),
        swap_notional={n: p.notional_usd for n, p in book.swaps.items()}, option_delta_usd=option_delta)


def _meet_margin_call(book, physical, target, daily_vol, adv, half_spread, config, costs, date=None,
                      levels=None, rate=0.0) -> np.ndarray:
    """Meet an open call: cut the overlay (``reduce_overlay``) and/or sell physical until cash
    meets the initial requirement."""
    if config.margin_call_action == "reduce_overlay":
        if book.cash_usd < 0:  # closing futures frees margin, not cash: sell physical up to zero cash first
            physical = _forced_sale(book, physical, target, daily_vol, adv, half_spread, config, costs, floor_usd=0.0)
        _reduce_overlay(book, date, levels, rate)
        if book.cash_usd >= book.initial_requirement_usd():
            return physical
    return _forced_sale(book, physical, target, daily_vol, adv, half_spread, config, costs)


def _reduce_overlay(book: OverlayBook, date, levels, rate: float) -> None:
    """Close futures (whole contracts) and swap notional pro rata, 10% of the position at a time."""
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
            book.trade_swap(date, name, -0.1 * position.notional_usd if abs(position.notional_usd) > 1e6
                            else -position.notional_usd, levels[position.swap.asset_class], rate)


def _forced_sale(book, physical, target, daily_vol, adv, half_spread, config, costs,
                 floor_usd: float | None = None) -> np.ndarray:
    """Forced sale: sell the physical sleeve furthest above target until cash meets the
    initial requirement, or ``floor_usd`` when given (costs paid from the proceeds)."""
    overlay = _overlay_by_class(book)
    nav = float(physical.sum() + book.cash_usd)
    k = int(np.argmax((physical + overlay) / nav - target))
    need = (book.initial_requirement_usd() if floor_usd is None else floor_usd) - book.cash_usd
    sale = 0.0
    for _ in range(50):  # proceeds net of costs must cover the need
        cost = half_spread[k] * sale + config.impact_eta * daily_vol[k] * sale ** 2 / adv[k]
        if sale - cost >= need:
            break
        sale = need + cost + 1.0
    sale = min(sale, physical[k])
    cost = half_spread[k] * sale + config.impact_eta * daily_vol[k] * sale ** 2 / adv[k]
    physical = physical.copy()
    physical[k] -= sale
    book.cash_usd += sale - cost
    costs["forced_sale"] += cost
    return physical


def summarize(result: SimulationResult, nav0_usd: float) -> dict[str, float]:
    """Costs (bps of starting NAV, and per year), tracking error, days out of band, activity."""
    daily = result.daily
    years = max(len(daily) - 1, 1) / 252.0
    total_cost = sum(result.costs_usd.values())
    active = (daily["ret"] - daily["bench_ret"]).iloc[1:]
    return {
        "days": int(len(daily)),
        "cost_bps": total_cost / nav0_usd * 1e4,
        "cost_bps_per_year": total_cost / nav0_usd * 1e4 / years,
        "impact_bps": (result.costs_usd["impact"] + result.costs_usd["forced_sale"]) / nav0_usd * 1e4,
        "futures_bps": (result.costs_usd["futures_trade"] + result.costs_usd["futures_roll"]) / nav0_usd * 1e4,
        "swap_bps": (result.costs_usd["swap_trade"] + result.costs_usd["swap_spread"]) / nav0_usd * 1e4,
        "tracking_error_bps": float(active.std() * np.sqrt(252) * 1e4),
        "days_out_of_band": int(daily["out_of_band_close"].sum()),
        "trigger_days": int(daily["out_of_band_open"].sum()),
        "physical_turnover": float(daily["physical_traded_usd"].sum() / nav0_usd),
        "max_overlay_gross": float(daily["overlay_gross"].max()),
        "margin_calls": len(result.margin_calls),
        "return_pct": float((daily["nav_usd"].iloc[-1] / nav0_usd - 1) * 100),
    }
