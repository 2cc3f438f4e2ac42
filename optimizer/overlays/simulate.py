"""The $5bn stock/bond/cash book with a futures overlay, run on the one simulator.

Compatibility layer: the daily loop, fills, margin calls and derivative life cycle are
those of :class:`optimizer.backtest.Simulator` with an overlay
(:mod:`optimizer.backtest.derivatives`); this module only describes the book
(:class:`BookConfig`), turns :func:`~optimizer.overlays.market_data.daily_market` into
the simulator's inputs (:func:`book_simulator`) and lays a run out as the old daily
table (:func:`simulate`, :class:`SimulationResult`).

The book: a US equity sleeve (S&P 500 total return), a bond sleeve (constant-maturity
10-year Treasury fund) and cash at the 3-month yield; the sleeves are the simulator's
two assets ``US_EQUITY`` and ``BONDS`` (priced as total-return levels, one tax lot per
buy, tax never settled: the book is tax-exempt). Overlay: an equity index future
(``ES``-like, ``F = S exp((r - q) T)`` on the S&P price index with the Shiller dividend
yield) and a bond future written on the 10-year fund's total-return level
(``F = B exp(r T)``, so beta 1 to the bond sleeve; a real 10-year note future would map
by a duration ratio of about 0.7-0.8 and carry basis risk). An equity total-return swap
(``SPX_TRS``) can be added with ``BookConfig(swaps=(SPX_TRS,))``; it is marked daily,
resets monthly and costs its financing spread over the 3-month yield (``swap_spread``).

Physical trades are capped at ``participation * ADV`` per sleeve and cost
``half_spread * |u| + eta * vol * u^2 / ADV`` through the terms' own formulas
(:func:`optimizer.backtest.costs.price_trade`), futures ``cost_per_contract_usd`` per
contract. Liquidity assumption (documented, not measured): $1.5bn a day accessible in
the equity basket, $1.0bn in the 10-year sleeve.

Modelling changes against the former stand-alone overlay simulator (checked on
``benchmarks/results/overlay.csv``: every figure of the table is unchanged; dollar
amounts differ by floating-point rounding, micro-dollars a day for the heuristics and
below $0.08 a day on $5bn for joint optimization, whose solver sees inputs perturbed at
1e-16):

* a policy's buys are scaled down so its fill cannot overdraw cash (the backtest's rule;
  before, an overdraft became a margin call met by a forced sale) -- it never bound in
  the benchmark;
* physical positions are tax lots marked at total-return prices instead of dollar
  amounts grown by the day's return; cash grows by the cash index's ratio; trailing
  volatilities (impact, options) and the joint policy's risk history are computed from
  those prices (the same numbers up to rounding);
* the margin-call sale is a fill through the ledger (HIFO lots), priced by the same
  :func:`~optimizer.backtest.costs.price_trade` as every fill;
* targets and bands belong to the policies (``PhysicalOnly(target, band)`` ...);
  ``BookConfig.band`` only marks the daily table's ``out_of_band_*`` columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from optimizer.backtest.costs import CostModel
from optimizer.backtest.derivatives import OverlayConfig, OverlayMarket
from optimizer.backtest.metrics import out_of_band, overlay_summary
from optimizer.backtest.result import BacktestResult
from optimizer.backtest.simulator import BacktestConfig, Simulator
from optimizer.errors import InputError
from optimizer.overlays.instruments import Future, OptionPosition, TotalReturnSwap
from optimizer.policies.base import Policy

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
        Absolute band half-width around each target (NAV fraction), for the record's
        ``out_of_band_*`` columns (policies carry their own band).
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

    @property
    def target_weights(self) -> dict[str, float]:
        """Target per sleeve (asset), for policies and the initial investment."""
        return dict(zip(CLASSES, self.target))

    def backtest_config(self) -> BacktestConfig:
        """The account in the simulator's terms: tax-exempt, participation-capped, with the overlay."""
        costs = CostModel(half_spread=pd.Series(self.half_spread, index=list(CLASSES)), commission=0.0,
                          adv_usd=pd.Series(self.adv_usd, index=list(CLASSES)), impact_eta=self.impact_eta,
                          vol_window=self.vol_window)
        overlay = OverlayConfig(futures=self.futures, swaps=self.swaps, options=self.options,
                                calendar_spread_usd=self.calendar_spread_usd, gross_limit=self.gross_limit,
                                margin_call_action=self.margin_call_action)
        return BacktestConfig(initial_usd=self.nav_usd, tax_schedule="never", costs=costs,
                              participation=self.participation, overlay=overlay)


@dataclass
class SimulationResult:
    """Daily record and summary of one run (the former simulator's layout)."""

    policy: str
    daily: pd.DataFrame
    costs_usd: dict[str, float]
    margin_calls: list = field(default_factory=list)
    summary: dict[str, float] = field(default_factory=dict)
    backtest: BacktestResult | None = None


def book_inputs(market: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, OverlayMarket]:
    """The simulator's inputs from :func:`~optimizer.overlays.market_data.daily_market`.

    Returns total-return prices of the two sleeves, the cash index and the overlay's
    pricing data. A base row (equity 100, bond level before the first return) is put one
    business day before the first date so that the first row's returns are kept.
    """
    base = market.index[0] - pd.offsets.BDay(1)
    equity = pd.concat([pd.Series([100.0], index=[base]), (1.0 + market["eq_ret"]).cumprod() * 100.0])
    first_bond = market["bond_level"].iloc[0] / (1.0 + market["bond_ret"].iloc[0])
    bonds = pd.concat([pd.Series([first_bond], index=[base]), market["bond_level"]])
    prices = pd.DataFrame({EQUITY: equity, BONDS: bonds})
    cash = pd.concat([pd.Series([1.0], index=[base]), (1.0 + market["cash_ret"]).cumprod()])
    overlay_market = OverlayMarket(underlying=pd.DataFrame({EQUITY: market["spx"], BONDS: market["bond_level"]}),
                                   rate=market["rate"], dividend_yield=pd.DataFrame({EQUITY: market["div_yield"]}))
    return prices, cash, overlay_market


def book_simulator(market: pd.DataFrame, config: BookConfig = BookConfig(), *, start=None,
                   history_days: int = 260) -> Simulator:
    """The unified simulator set up for the book over ``market``.

    ``start`` is the first simulated day (default: the day after ``history_days`` rows of
    ``market``, or its first row when there are fewer); earlier rows are history.
    """
    if start is None:
        start = market.index[min(history_days, len(market) - 1)]
    prices, cash, overlay_market = book_inputs(market)
    return Simulator(prices, config.backtest_config(), cash_index=cash, overlay_market=overlay_market, start=start)


def simulate(market: pd.DataFrame, policy: Policy, config: BookConfig = BookConfig(), *, start=None,
             history_days: int = 260) -> SimulationResult:
    """Run ``policy`` day by day over ``market`` on the unified simulator; the daily table.

    Parameters
    ----------
    market:
        Daily inputs from :func:`~optimizer.overlays.market_data.daily_market`; rows before
        ``start`` only feed trailing volatility and risk models.
    policy:
        A :class:`~optimizer.policies.base.Policy` (e.g. those of
        :mod:`optimizer.overlays.policies`) over the assets ``US_EQUITY`` and ``BONDS``.
    config:
        The account and its trading conditions.
    start:
        First simulated day (see :func:`book_simulator`).
    """
    if not isinstance(policy, Policy):
        raise InputError("policy", "expected an optimizer.policies.base.Policy (decide(date, state))")
    run = book_simulator(market, config, start=start, history_days=history_days).run(
        policy, initial_weights=config.target_weights)
    return SimulationResult(run.policy, daily_table(run, config), costs_usd(run), list(run.overlay.margin_calls),
                            overlay_summary(run, config.band, config.nav_usd), run)


def costs_usd(run: BacktestResult) -> dict[str, float]:
    """Costs over the run by kind (``spread`` includes commissions; ``forced_sale`` margin-call sales)."""
    ov = run.overlay
    return {"spread": float(run.spread_usd.sum() + run.commission_usd.sum()), "impact": float(run.impact_usd.sum()),
            "forced_sale": float(ov.call_cost_usd.sum()), **{k: float(v.sum()) for k, v in ov.costs.items()}}


def daily_table(run: BacktestResult, config: BookConfig) -> pd.DataFrame:
    """The run as one row per day (the former simulator's columns)."""
    ov = run.overlay
    nav = run.nav_usd
    exposure = (run.holdings_usd + ov.exposure_usd) / nav[:, None]
    target = run.target
    asset_returns = np.vstack([np.zeros(len(CLASSES)), run.prices[1:] / run.prices[:-1] - 1.0])
    bench = asset_returns @ target + (1.0 - target.sum()) * (run.cash_growth - 1.0)
    bench[0] = 0.0
    ret = np.r_[0.0, nav[1:] / nav[:-1] - 1.0]
    return pd.DataFrame({
        "nav_usd": nav, "ret": ret, "bench_ret": bench, "eq_exposure": exposure[:, 0], "bond_exposure": exposure[:, 1],
        "cash_weight": run.cash_usd / nav, "overlay_gross": ov.gross_usd / nav, "overlay_gross_usd": ov.gross_usd,
        "swap_notional_usd": ov.swap_notional_usd, "option_value_usd": ov.option_value_usd,
        "option_delta_usd": ov.option_delta_usd, "nav_decision_usd": ov.nav_open_usd,
        "out_of_band_open": out_of_band(ov.exposure_open_usd, ov.nav_open_usd, target, config.band, 1e-12),
        "out_of_band_close": out_of_band(run.holdings_usd + ov.exposure_usd, nav, target, config.band, 1e-9),
        "physical_traded_usd": run.traded_usd.sum(axis=1), "cash_usd": run.cash_usd, "cash_low_usd": ov.cash_low_usd,
        "margin_call": ov.margin_call, "call_contracts_closed": ov.call_contracts_closed,
        "call_physical_sold_usd": ov.call_sold_usd, "contracts_traded": ov.contracts_traded,
    }, index=pd.Index(run.calendar, name="date"))
