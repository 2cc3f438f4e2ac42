"""Tactical timing and execution on real data, each effect with a block-bootstrap interval.

Comparisons (issue 14, item 8), one table row per comparison x data x window x metric:

* ``momentum_filter``: momentum-filtered bands vs the same mechanical bands;
* ``volatility_paced``: volatility-paced bands vs the same plain bands, in 2008 and 2020;
* ``calibrated_bands``: bands from :func:`optimizer.calibrate_bands` vs fixed 5% bands;
* ``risk_triggered``: rebalance on ex-ante tracking error vs on bands;
* ``vol_targeting``: a volatility target reached with an index-futures overlay vs by
  physical trades;
* ``execution``: a $5bn sale executed by an optimal schedule vs TWAP vs all at once.

Backtest metrics (every policy pair runs on one :class:`optimizer.backtest.Simulator`, a
tax-exempt $100m account without flows, default :class:`CostModel` (2 bp half spread, 1 bp
commission, impact eta 1 on a $500m ADV); the pair shares the calendar, so the daily series
pair up; each run starts a warm-up period early (signals need a year of prices; calibration
and risk thresholds use only the warm-up) and only the measured span counts):

* ``tracking_error``: annualised sd of the daily active return ``r_t - r*_t`` against the
  frictionless target rebalanced daily (``optimizer.backtest.metrics``); lower is better;
* ``cost_bps``: spread + commission + impact per day over that day's NAV, x 252-ish
  (the data's periods per year) x 1e4: bp per year, as ``trading_cost_bps``; lower is better;
* ``net_return``: mean daily net return x periods per year (arithmetic, annual fraction,
  after trading costs); higher is better.

Each row gives ``a`` and ``b`` (variant_a's and variant_b's value), ``diff = a - b`` and
the 95% interval of ``diff`` from the circular moving-block bootstrap of the paired daily
series (:func:`optimizer.backtest.bootstrap.paired_difference_ci`: Politis-White block
length, 2000 resamples, seed 0; for ``tracking_error`` the statistic is the difference of
the two standard deviations, resampled on the same blocks). ``significant`` is True when
the interval excludes 0; otherwise the note says "no gain claimed". A comparison whose
pieces are not on main gives NaN rows whose note says what is missing.

Execution (``execution`` rows): the arrival-day setup of ``benchmarks/execution.py`` (the
S&P 500 basket, sigma, ADV and a weekday volume profile from the 60 days before arrival,
the paper's impact rules of thumb with an assumed 2 bp spread), but the cost is
**simulated on realised data**, not the model's expectation: for every arrival day in
2013-2018 (every ``--execution-step``-th trading day) the schedule planned on the forecast
is filled at each day's typical price ``(high + low + close) / 3`` (a VWAP proxy), less
temporary impact priced with that day's *realised* volume, less permanent impact and the
half spread; the shortfall against the previous close, in bp of the notional. Metrics:
``shortfall_bp`` (mean) and ``shortfall_sd_bp`` (its sd over arrival days: the risk); the
interval bootstraps arrival days in blocks (consecutive arrivals share execution days).

Writes ``--out``/tactical.csv and tactical.md (default ``benchmarks/results``; ``--quick`` writes to a
temporary folder and uses short windows and fewer resamples).

Run: ``.venv/bin/python benchmarks/tactical.py [--quick] [--out DIR] [--only NAME ...]``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.backtest import BacktestConfig, CostModel, Simulator
from optimizer.backtest.bootstrap import paired_difference_ci
from optimizer.backtest.compare import MULTI_ASSET_CLASS_TARGET, class_targets_to_assets
from optimizer.backtest.metrics import period_returns, target_returns
from optimizer.backtest.result import BacktestResult
from optimizer.errors import InputError
from optimizer.model import TaxRules
from optimizer.policies import Bands, Policy, Threshold

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
QUICK_OUT = Path(tempfile.gettempdir()) / "tactical_quick"

COLUMNS = ["comparison", "data", "window", "variant_a", "variant_b", "metric", "a", "b", "diff", "ci_low", "ci_high",
           "significant", "note"]
BACKTEST_METRICS = ("tracking_error", "cost_bps", "net_return")
EXECUTION_METRICS = ("shortfall_bp", "shortfall_sd_bp")
#: metric -> True if lower is better
LOWER_IS_BETTER = {"tracking_error": True, "cost_bps": True, "net_return": False, "shortfall_bp": True,
                   "shortfall_sd_bp": True}
NO_GAIN = "no gain claimed (interval spans 0)"

INITIAL_USD = 1e8                # $100m: a 5-point trade is ~1% of the default $500m ADV
FIXED_BAND = 0.05               # the mechanical / fixed bands: +/- 5 percentage points
LEVEL = 0.95
RESAMPLES = 2000
QUICK_RESAMPLES = 300
SEED = 0


class Missing(Exception):
    """A comparison's pieces are not available (not on main yet, or an API that differs)."""


@dataclass(frozen=True)
class Settings:
    """Bootstrap settings shared by every row."""

    n_resamples: int = RESAMPLES
    level: float = LEVEL
    seed: int = SEED
    quick: bool = False


@dataclass(frozen=True)
class Window:
    """One backtest setting: prices (total-return levels, dates x assets) and the strategic target.

    The backtest runs on every date of ``prices``; the comparison is measured on dates
    from ``measure_from`` on (the earlier dates are a warm-up: signals such as 12-1
    momentum need a year of prices, and calibrations and risk estimates use only the
    warm-up, so the measured span is out of sample). ``stress`` is a date-indexed stress
    level (VIX points or realized volatility in percent) for the stressed cost model;
    ``costs`` the base (calm-market) cost model; ``bands`` the mechanical bands.
    """

    data: str
    prices: pd.DataFrame
    target: pd.Series
    measure_from: pd.Timestamp
    label: str = ""
    cash_index: pd.Series | None = None
    costs: CostModel = field(default_factory=CostModel)
    bands: Bands = field(default_factory=lambda: Bands.absolute(FIXED_BAND))
    stress: pd.Series | None = None
    stress_name: str = ""

    @property
    def window(self) -> str:
        """The measured span (and label), e.g. ``2008: 2008-01-02..2009-06-30 (warm-up from 2007-01-03)``."""
        measured = self.prices.index[self.prices.index >= self.measure_from]
        text = f"{measured[0].date()}..{measured[-1].date()} (warm-up from {self.prices.index[0].date()})"
        return f"{self.label}: {text}" if self.label else text

    @property
    def warm_up(self) -> pd.DataFrame:
        """Prices before ``measure_from`` (for calibrations and risk estimates)."""
        return self.prices.loc[self.prices.index < self.measure_from]

    def simulator(self, costs: CostModel | None = None) -> Simulator:
        config = BacktestConfig(initial_usd=INITIAL_USD, tax=TaxRules.none(), tax_schedule="never",
                                costs=costs or self.costs)
        return Simulator(self.prices, config, cash_index=self.cash_index)


@dataclass(frozen=True)
class Pair:
    """Two policies (and the cost model, or the simulator, they both run on) on one window."""

    variant_a: str
    policy_a: Policy
    variant_b: str
    policy_b: Policy
    costs: CostModel | None = None
    note: str = ""
    simulator: Simulator | None = None      # e.g. one with an overlay market; default: the window's


@dataclass(frozen=True)
class Comparison:
    """A named comparison: the windows it runs on and how to build its pair on each.

    ``build(window, settings)`` returns a :class:`Pair` or raises :class:`Missing`.
    ``labels`` are the variant names used for NaN rows when it is missing.
    """

    name: str
    windows: Callable[[Settings], list[Window]]
    build: Callable[[Window, Settings], Pair]
    labels: tuple[str, str]


# ----------------------------------------------------------------------------- rows


def effect_note(metric: str, diff: float, significant: bool, variant_a: str = "a", variant_b: str = "b") -> str:
    """``no gain claimed`` unless the interval excludes 0; else which variant is better on ``metric``."""
    if not np.isfinite(diff):
        return ""
    if not significant:
        return NO_GAIN
    better_a = (diff < 0) if LOWER_IS_BETTER[metric] else (diff > 0)
    return f"{variant_a if better_a else variant_b} better (interval excludes 0)"


def row(comparison: str, data: str, window: str, variant_a: str, variant_b: str, metric: str, a: float, b: float,
        ci=None, note: str = "") -> dict:
    """One table row; ``ci`` is a :class:`optimizer.backtest.bootstrap.BootstrapInterval` or None (NaN)."""
    if ci is None:
        diff = low = high = float("nan")
        significant = False
    else:
        diff, low, high, significant = ci.estimate, ci.low, ci.high, ci.significant
    text = "; ".join(part for part in (effect_note(metric, diff, significant, variant_a, variant_b), note) if part)
    return {"comparison": comparison, "data": data, "window": window, "variant_a": variant_a,
            "variant_b": variant_b, "metric": metric, "a": a, "b": b, "diff": diff, "ci_low": low, "ci_high": high,
            "significant": bool(significant), "note": text}


def missing_rows(comparison: str, data: str, window: str, labels: tuple[str, str], metrics, reason: str,
                 prefix: str = "not available") -> list[dict]:
    """NaN rows for a comparison that could not run, with the reason in the note."""
    text = reason if reason.startswith(prefix) else f"{prefix}: {reason}"
    return [row(comparison, data, window, labels[0], labels[1], m, float("nan"), float("nan"), note=text)
            for m in metrics]


def daily_series(result: BacktestResult, measure_from: pd.Timestamp | None = None) -> dict[str, np.ndarray]:
    """Per-date series behind the backtest metrics, on dates after the first (and from ``measure_from``).

    ``active``: net return minus the frictionless target's return (fraction);
    ``cost``: spread + commission + impact (+ the overlay's costs) paid that date over that date's NAV (fraction);
    ``net``: time-weighted net return (fraction).
    """
    net = period_returns(result)
    paid = result.spread_usd + result.commission_usd + result.impact_usd
    if result.overlay is not None:   # futures commissions and rolls, swap fees and financing, margin-call sales
        paid = paid + sum(result.overlay.costs.values()) + result.overlay.call_cost_usd
    cost = paid[1:] / result.nav_usd[1:]
    keep = np.ones(len(net), dtype=bool) if measure_from is None else result.calendar[1:] >= measure_from
    return {"active": (net - target_returns(result))[keep], "cost": cost[keep], "net": net[keep]}


def backtest_rows(comparison: str, window: Window, pair: Pair, settings: Settings) -> list[dict]:
    """Run both policies on ``window`` and compare them on the three backtest metrics."""
    simulator = pair.simulator or window.simulator(pair.costs)
    result_a = simulator.run(pair.policy_a)
    result_b = simulator.run(pair.policy_b)
    return compare_results(comparison, window.data, window.window, pair.variant_a, result_a, pair.variant_b,
                           result_b, settings, note=pair.note, measure_from=window.measure_from)


def compare_results(comparison: str, data: str, window: str, variant_a: str, result_a: BacktestResult,
                    variant_b: str, result_b: BacktestResult, settings: Settings, note: str = "",
                    measure_from: pd.Timestamp | None = None) -> list[dict]:
    """Three rows (tracking error, cost bp/yr, net return) for two runs on one calendar.

    Only dates from ``measure_from`` on count (None: all after the first).
    """
    if not result_a.calendar.equals(result_b.calendar):
        raise ValueError(f"{comparison}: the two runs are not on one calendar")
    ppy = result_a.periods_per_year
    sa, sb = daily_series(result_a, measure_from), daily_series(result_b, measure_from)
    kwargs = dict(level=settings.level, n_resamples=settings.n_resamples, seed=settings.seed)
    te = paired_difference_ci(sa["active"], sb["active"], statistic="std", scale=np.sqrt(ppy), **kwargs)
    cost = paired_difference_ci(sa["cost"], sb["cost"], scale=ppy * 1e4, **kwargs)
    net = paired_difference_ci(sa["net"], sb["net"], scale=ppy, **kwargs)
    measured = np.ones(len(result_a.calendar), dtype=bool) if measure_from is None else \
        result_a.calendar >= measure_from
    events = f"trade dates a/b: {int(result_a.events[measured].sum())}/{int(result_b.events[measured].sum())}"
    extra = "; ".join(p for p in (note, events, f"blocks {te.block_length}/{cost.block_length}/{net.block_length} d")
                      if p)
    return [
        row(comparison, data, window, variant_a, variant_b, "tracking_error", sa["active"].std(ddof=1) * np.sqrt(ppy),
            sb["active"].std(ddof=1) * np.sqrt(ppy), te, extra),
        row(comparison, data, window, variant_a, variant_b, "cost_bps", sa["cost"].mean() * ppy * 1e4,
            sb["cost"].mean() * ppy * 1e4, cost, extra),
        row(comparison, data, window, variant_a, variant_b, "net_return", sa["net"].mean() * ppy,
            sb["net"].mean() * ppy, net, extra),
    ]


def comparison_rows(comparison: Comparison, settings: Settings) -> list[dict]:
    """Every row of one comparison; NaN rows with the reason where a piece is missing."""
    try:
        windows = comparison.windows(settings)
    except Missing as reason:
        return missing_rows(comparison.name, "", "", comparison.labels, BACKTEST_METRICS, str(reason))
    rows: list[dict] = []
    for window in windows:
        started = time.perf_counter()
        try:
            pair = comparison.build(window, settings)
        except Missing as reason:
            rows += missing_rows(comparison.name, window.data, window.window, comparison.labels, BACKTEST_METRICS,
                                 str(reason))
            continue
        except InputError as error:          # a piece refused this window: say so in the row, run the rest
            rows += missing_rows(comparison.name, window.data, window.window, comparison.labels, BACKTEST_METRICS,
                                 f"failed: {error}", prefix="failed")
            continue
        rows += backtest_rows(comparison.name, window, pair, settings)
        print(f"  {comparison.name} {window.data} {window.window}: {time.perf_counter() - started:.1f} s",
              flush=True)
    return rows


# ----------------------------------------------------------------------------- pieces from main


def piece(module: str, name: str):
    """``module.name`` if it is on main, else :class:`Missing` naming it."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as error:
        raise Missing(f"{module}.{name} not on main ({type(error).__name__})") from None


def mechanical(window: Window, name: str = "bands_5pct") -> Threshold:
    """The mechanical bands a tactical policy is measured against: the window's bands, checked daily, to target."""
    return Threshold(window.target, window.bands, check="D", trade_to="target", name=name)


# ----------------------------------------------------------------------------- data


def etf_window(settings: Settings) -> Window:
    """Daily multi-asset ETFs/indices 2014-2020, measured 2015-2020 (quick: 2019-2020, measured 2020).

    Targets: ``MULTI_ASSET_CLASS_TARGET`` split equally within each class (8.3% per equity
    asset, 15% UST2Y, 15% each UST10Y and UST30Y, 5% cash). Mechanical bands +/- 20% of each
    target (8.3% +/- 1.7 points): fixed 5-point bands on these weights traded on one date in
    six years, which leaves a tactical rule nothing to change.
    """
    from optimizer.datasets import multi_asset_classes, multi_asset_daily

    start, measure = ("2019-01-02", "2020-01-02") if settings.quick else ("2014-01-02", "2015-01-02")
    prices = multi_asset_daily(start=start, end="2020-12-31")
    target = class_targets_to_assets(MULTI_ASSET_CLASS_TARGET, multi_asset_classes()).reindex(prices.columns)
    return Window("etf_daily", prices.drop(columns="CASH"), target.drop("CASH"), pd.Timestamp(measure),
                  cash_index=prices["CASH"], bands=Bands.relative_to_target(0.20),
                  stress=realized_vol_percent(prices["SP500"]), stress_name="S&P 500 realized vol (21 d, %)")


def stocks20_window(settings: Settings) -> Window:
    """20 S&P 500 stocks, adjusted closes, 2004-2020 measured 2005-2020 (quick: 2019-2020, measured 2020).

    98% equal weight, 2% cash (earning nothing); mechanical bands +/- 25% of each target
    (4.9% +/- 1.2 points: a 5-point band on a 4.9% weight would almost never trade).
    """
    from optimizer.datasets import stocks_daily

    start, measure = ("2019-01-02", "2020-01-02") if settings.quick else ("2004-01-02", "2005-01-03")
    prices = stocks_daily(start=start, end="2020-12-31")
    target = pd.Series(0.98 / prices.shape[1], index=prices.columns)
    return Window("stocks20_daily", prices, target, pd.Timestamp(measure), bands=Bands.relative_to_target(0.25),
                  stress=realized_vol_percent(prices.mean(axis=1)), stress_name="equal-weight realized vol (%)")


def stock_bond_daily(start: str, end: str) -> tuple[pd.DataFrame, pd.Series]:
    """Daily levels of ``SP500`` (price index + Shiller dividend yield), ``UST10Y``, ``UST2Y``, and cash.

    Built with the helpers :func:`optimizer.datasets.multi_asset_daily` uses for those
    columns, on the S&P 500's calendar (1990-2020), so 2008 is covered. Treasury levels
    are forward-filled onto exchange days the bond market was closed.
    """
    from optimizer import datasets as ds

    sp500 = ds.load_sp500_index()["SP500"]
    level = ds._levels(ds._sp500_total_returns_daily(sp500, ds.load_shiller()), sp500.index[0])
    bonds = ds._treasury_levels(ds.load_treasury_par_curve())
    calendar = sp500.index[(sp500.index >= pd.Timestamp(start)) & (sp500.index <= pd.Timestamp(end))]
    frame = pd.DataFrame({"SP500": level.reindex(calendar)}, index=calendar)
    for name in ("UST10Y", "UST2Y", "CASH"):
        frame[name], _ = ds._forward_fill_onto(bonds[name], calendar)
    frame = frame / frame.iloc[0] * 100.0
    return frame.drop(columns="CASH"), frame["CASH"]


def realized_vol_percent(level: pd.Series, window: int = 21) -> pd.Series:
    """Annualised realized volatility of ``level``'s daily returns over ``window`` days, percent (causal).

    The first ``window`` dates borrow the first estimate (a cost scale needs a value on day one).
    """
    vol = level.pct_change().rolling(window, min_periods=window).std() * np.sqrt(252) * 100
    return vol.bfill().rename("realized_vol_pct")


#: label -> (warm-up start, measured start, end)
STRESS_WINDOWS = {"2008": ("2007-01-03", "2008-01-02", "2009-06-30"),
                  "2020": ("2019-01-02", "2020-01-02", "2020-12-31")}
QUICK_STRESS_WINDOWS = {"2008": ("2008-03-03", "2008-09-02", "2008-12-31"),
                        "2020": ("2019-09-03", "2020-02-03", "2020-05-29")}
STOCK_BOND_TARGET = pd.Series({"SP500": 0.60, "UST10Y": 0.30, "UST2Y": 0.08})   # 2% cash
STRESS_REFERENCE = 15.0        # realized vol (%) at and below which costs are the calm ones


def stress_windows(settings: Settings) -> list[Window]:
    """60/30/8 S&P 500 / 10y / 2y (2% cash) in 2008 (to mid-2009) and 2020; realized vol as stress.

    The VIX file covers 2014-2019 only, so the stress level here is the S&P 500's 21-day
    realized volatility (percent), computed on the history from 2006 (causal).
    """
    spans = QUICK_STRESS_WINDOWS if settings.quick else STRESS_WINDOWS
    full, _ = stock_bond_daily("2006-01-03", "2020-12-31")
    vol = realized_vol_percent(full["SP500"])
    out = []
    for label, (start, measure, end) in spans.items():
        prices, cash = stock_bond_daily(start, end)
        out.append(Window("stock_bond_daily", prices, STOCK_BOND_TARGET, pd.Timestamp(measure), label=label,
                          cash_index=cash, stress=vol.loc[:end], stress_name="S&P 500 realized vol (21 d, %)"))
    return out


def stressed_costs(window: Window) -> tuple[CostModel, str]:
    """The window's cost model with spreads and impact scaled by its stress level, if the model supports it."""
    if window.stress is None:
        return window.costs, "calm costs"
    if not hasattr(window.costs, "with_stress"):
        return window.costs, "calm costs (stressed cost model not on main)"
    costs = window.costs.with_stress(window.stress, reference=STRESS_REFERENCE)
    return costs, f"stressed costs ({window.stress_name}, reference {STRESS_REFERENCE:g})"


def band_breach_te(window: Window) -> float:
    """Ex-ante tracking error of a band breach: median over assets of the TE of being one band edge over.

    Each asset ``i`` overweight by its upper band width, funded pro rata from the other
    assets, priced with the warm-up covariance (annualised): the tracking error at which a
    single band edge is reached (band breaches usually come with other deviations, so a
    risk trigger at this level fires earlier than the bands).
    """
    returns = window.warm_up.pct_change().dropna()
    cov = returns.cov().to_numpy() * 252
    target = window.target.reindex(window.prices.columns).fillna(0.0).to_numpy()
    _, upper = window.bands.limits(target, tuple(window.prices.columns))
    values = []
    for i in range(len(target)):
        width = upper[i] - target[i]
        rest = target.copy()
        rest[i] = 0.0
        deviation = -width * rest / rest.sum()
        deviation[i] = width
        values.append(float(np.sqrt(deviation @ cov @ deviation)))
    return float(np.median(values))


# ----------------------------------------------------------------------------- comparisons


def build_momentum(window: Window, settings: Settings) -> Pair:
    cls = piece("optimizer.policies", "MomentumFilteredBands")
    policy = cls(window.target, window.bands, check="D", trade_to="target", name="momentum_filtered")
    return Pair("momentum_filtered", policy, "bands", mechanical(window, "bands"),
                note="12-1 momentum > 0 delays a trim, at most 182 days")


def build_vol_paced(window: Window, settings: Settings) -> Pair:
    cls = piece("optimizer.policies", "VolatilityPacedBands")
    signal = piece("optimizer.policies", "VolatilitySignal")
    costs, note = stressed_costs(window)
    policy = cls(window.target, window.bands, volatility=signal("realized"), check="D", trade_to="target",
                 name="volatility_paced")
    return Pair("volatility_paced", policy, "bands", mechanical(window, "bands"), costs=costs,
                note=f"{note}; paced by each asset's 21-d realized vol rising (slow 0.25, fast 1, 60 d max)")


def build_calibrated(window: Window, settings: Settings) -> Pair:
    """Calibrated vs fixed 5-point bands, both trading back to target on a daily check.

    :func:`optimizer.backtest.band_calibration.compare_calibrated_vs_fixed` calibrates on the
    warm-up only (its in-sample pick of the risk aversion: the cheapest calibrated bands
    whose warm-up tracking error is at most the fixed bands'); the measured span is out of
    sample. Its own out-of-sample verdict (``calibrated_wins``) goes into the note.
    """
    compare = piece("optimizer.backtest.band_calibration", "compare_calibrated_vs_fixed")
    prices, cash_column = window.prices, None
    if window.cash_index is not None:
        prices, cash_column = window.prices.assign(CASH=window.cash_index), "CASH"
    result = compare(prices, window.target, split=window.measure_from, costs=window.costs, initial_usd=INITIAL_USD,
                     fixed_width=FIXED_BAND, trade_to="target", check="D", cash_column=cash_column,
                     tax=TaxRules.none(), name=window.data)
    calibration = result.calibration
    below = calibration.width_below().reindex(window.target.index)
    above = calibration.width_above().reindex(window.target.index)
    calibrated = Threshold(window.target, Bands.asymmetric(below, above), check="D", trade_to="target",
                           name="calibrated_bands")
    fixed = Threshold(window.target, Bands.absolute(FIXED_BAND), check="D", trade_to="target", name="fixed_5pct")
    note = (f"calibrated on the warm-up (compare_calibrated_vs_fixed, trade_to=target; risk aversion "
            f"{calibration.risk_aversion:g} picked in sample); half-widths {above.min():.3f}..{above.max():.3f}; "
            f"its verdict calibrated_wins={result.summary['calibrated_wins']}")
    return Pair("calibrated_bands", calibrated, "fixed_5pct", fixed, note=note)


def build_risk_triggered(window: Window, settings: Settings) -> Pair:
    cls = piece("optimizer.policies", "RiskTriggered")
    threshold = band_breach_te(window)
    policy = cls(window.target, threshold, check="D", trade_to="target", name="risk_triggered")
    return Pair("risk_triggered", policy, "bands", mechanical(window, "bands"),
                note=f"TE threshold {threshold:.4f} (median TE of one band breach, warm-up covariance); "
                     "risk model re-estimated monthly from trailing 504 d")


def optimizer_pair(window: Window, tactic, label: str, costs: CostModel | None = None) -> tuple[Policy, Policy]:
    """Weekly :class:`OptimizerPolicy` with ``tactic`` and without (defaults otherwise, tax-exempt)."""
    from optimizer.policies import OptimizerPolicy

    costs = costs or window.costs
    common = dict(costs=costs, tax=TaxRules.none(), every="W")
    return (OptimizerPolicy(window.target, tactics=(tactic,), name=f"optimizer_{label}", **common),
            OptimizerPolicy(window.target, name="optimizer", **common))


def build_momentum_optimizer(window: Window, settings: Settings) -> Pair:
    tilt = piece("optimizer.policies", "MomentumTilt")
    with_tilt, plain = optimizer_pair(window, tilt(), "momentum_tilt")
    return Pair("optimizer_momentum_tilt", with_tilt, "optimizer", plain,
                note="weekly OptimizerPolicy (risk aversion 100); tilt toward a trending overweight, at most 5 points "
                     "and 182 days")


def build_vol_paced_optimizer(window: Window, settings: Settings) -> Pair:
    pacing = piece("optimizer.policies", "VolatilityPacing")
    signal = piece("optimizer.policies", "VolatilitySignal")
    costs, note = stressed_costs(window)
    with_pacing, plain = optimizer_pair(window, pacing(signal("realized")), "vol_pacing", costs)
    return Pair("optimizer_vol_pacing", with_pacing, "optimizer", plain, costs=costs,
                note=f"{note}; weekly OptimizerPolicy (risk aversion 100); buys of a falling asset capped at 0.25 of "
                     "the gap while its realized vol rises")


VOL_TARGET_LOOKBACK = 60         # trading days behind the volatility estimate


def build_vol_targeting(window: Window, settings: Settings) -> Pair:
    """The equity sleeve scaled toward a volatility target: one S&P future vs physical trades.

    Both runs share one simulator whose account may hold an E-mini-like future written on
    the ``SP500`` total-return level (cost of carry at the 3-month Treasury yield; one
    contract worth $50 x the S&P 500 index at the window's start, $8.25 a contract, 6% / 5.5%
    margin from cash, gross overlay <= 50% of NAV). The target is the
    strategic book's volatility over the warm-up (no look-ahead), so the scale averages
    about 1; both scale the equity assets' exposure by ``clip(target / vol, 0.25, 1.5)``
    from the trailing 60-day covariance, acting beyond 2 points of NAV: the overlay with
    the future alone (a proxy hedge of the equity funds), the physical variant by trading
    the equity funds (no leverage: cash limits the scale above 1).
    """
    from optimizer import datasets
    from optimizer.backtest.derivatives import OverlayConfig, OverlayMarket
    from optimizer.overlays.instruments import Future
    from optimizer.overlays.policies import VolatilityTarget

    classes = datasets.multi_asset_classes()
    equity = tuple(a for a in window.target.index if classes.get(a) == "US_EQUITY")
    if "SP500" not in equity:
        raise Missing("vol_targeting needs an SP500 column for the index future")
    warm = window.prices.loc[window.prices.index < window.measure_from].pct_change().dropna()
    weights = window.target.reindex(warm.columns).to_numpy(dtype=float)
    vol_target = float(np.sqrt(252.0 * weights @ warm.cov().to_numpy() @ weights))
    curve = datasets.load_treasury_par_curve()["3m"] / 100.0
    calendar = window.prices.index
    rate = curve.reindex(curve.index.union(calendar)).ffill().reindex(calendar)
    # the SP500 column is a level starting near 100: scale the multiplier so one contract is worth
    # what an E-mini was at the window's start ($50 x the S&P 500 price index)
    spx = datasets.load_sp500_index()["SP500"]
    first = calendar[0]
    multiplier = 50.0 * float(spx.loc[:first].iloc[-1]) / float(window.prices["SP500"].iloc[0])
    es = Future("ES", "SP500", multiplier=multiplier, initial_margin=0.06, maintenance_margin=0.055,
                cost_per_contract_usd=8.25, roll_days_before_expiry=5)
    config = BacktestConfig(initial_usd=INITIAL_USD, tax=TaxRules.none(), tax_schedule="never", costs=window.costs,
                            overlay=OverlayConfig(futures=(es,), calendar_spread_usd=(("ES", 6.25),), gross_limit=0.5))
    simulator = Simulator(window.prices, config, cash_index=window.cash_index,
                          overlay_market=OverlayMarket(underlying=window.prices[["SP500"]], rate=rate))
    common = dict(scaled=equity, lookback=VOL_TARGET_LOOKBACK, min_scale=0.25, max_scale=1.5, tolerance=0.02)
    overlay = VolatilityTarget(window.target, vol_target, instrument="futures", future="ES", **common)
    physical = VolatilityTarget(window.target, vol_target, instrument="physical", **common)
    return Pair("overlay", overlay, "physical", physical, simulator=simulator,
                note=f"vol target {vol_target:.4f} (strategic book over the warm-up); equity sleeve scaled "
                     "0.25..1.5 on a 60-d covariance; overlay: one ES future on SP500 (margin from cash, rolls "
                     "charged), physical: the equity funds traded (no leverage)")


def two_data_sets(settings: Settings) -> list[Window]:
    return [etf_window(settings), stocks20_window(settings)]


COMPARISONS: dict[str, Comparison] = {
    "momentum_filter": Comparison("momentum_filter", two_data_sets, build_momentum, ("momentum_filtered", "bands")),
    "volatility_paced": Comparison("volatility_paced", stress_windows, build_vol_paced, ("volatility_paced", "bands")),
    "calibrated_bands": Comparison("calibrated_bands", two_data_sets, build_calibrated,
                                   ("calibrated_bands", "fixed_5pct")),
    "risk_triggered": Comparison("risk_triggered", two_data_sets, build_risk_triggered, ("risk_triggered", "bands")),
    "momentum_filter_optimizer": Comparison("momentum_filter", lambda s: [etf_window(s)], build_momentum_optimizer,
                                            ("optimizer_momentum_tilt", "optimizer")),
    "volatility_paced_optimizer": Comparison("volatility_paced", stress_windows, build_vol_paced_optimizer,
                                             ("optimizer_vol_pacing", "optimizer")),
    "vol_targeting": Comparison("vol_targeting", lambda s: [etf_window(s)], build_vol_targeting,
                                ("overlay", "physical")),
}


# ----------------------------------------------------------------------------- execution

NOTIONAL_USD = 5e9
EXECUTION_HORIZON = 5              # trading days
EXECUTION_URGENCY = 1.0            # nominal kappa * T of the optimal schedule
EXECUTION_LIQUIDITY = {"sp500_basket": 1.0, "large_cap_2pct": 0.02}


def load_execution_benchmark():
    """``benchmarks/execution.py`` as a module (its market setup is reused, not copied)."""
    path = HERE / "execution.py"
    spec = importlib.util.spec_from_file_location("execution_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class ExecutionMarket:
    """Daily bars for the execution rows (USD; dates in order, one calendar).

    ``bars``: the S&P 500 basket, columns ``High``, ``Low``, ``Close`` (index points) and
    ``volume_usd`` (dollars traded in its members). ``stocks``: optional per-stock frames
    ``{"high", "low", "close", "volume_usd"}`` (dates x symbols) of the 100-stock file, on
    the same calendar.
    """

    bars: pd.DataFrame
    stocks: dict[str, pd.DataFrame] | None = None


def execution_market() -> ExecutionMarket:
    """The S&P 500 index bars with dollar volume and the 100 stocks' bars, 2013-02-08..2018-02-07.

    Stocks without a bar on every date, and the five with spin-offs or special dividends
    (their unadjusted drops are not trading costs), are left out of the stock basket.
    """
    from optimizer.datasets import SP500_100_SPIN_OFFS, load_sp500_100_ohlcv

    bench = load_execution_benchmark()
    raw = pd.read_csv(bench.SHARED_DATA_DIR / "sp500_ohlcv_daily.csv.gz")
    bars = raw.set_index(pd.to_datetime(raw["Date"], format="%m/%d/%Y"))[["High", "Low", "Close", "Volume"]]
    bars = bars.astype(float).sort_index()
    price = bench.member_price_per_share()
    bars["volume_usd"] = bars["Volume"] * price.reindex(bars.index)
    bars = bars.drop(columns="Volume").dropna()
    long = load_sp500_100_ohlcv()
    long = long.assign(volume_usd=long["volume"] * long["close"])
    stocks = {name: long.pivot(index="date", columns="symbol", values=name).reindex(bars.index)
              for name in ("high", "low", "close", "volume_usd")}
    complete = [c for c in stocks["close"].columns
                if c not in SP500_100_SPIN_OFFS and all(frame[c].notna().all() and (frame[c] > 0).all()
                                                         for frame in stocks.values())]
    return ExecutionMarket(bars, {name: frame[complete] for name, frame in stocks.items()})


def plan_market(bars: pd.DataFrame, position: int, horizon: int, share: float, window: int = 60) -> dict:
    """Arrival-day inputs from the ``window`` days before bar ``position`` (no look-ahead)."""
    before = bars.iloc[position - window:position]
    close = float(before["Close"].iloc[-1])
    returns = np.log(before["Close"]).diff().dropna()
    adv_usd = float(before["volume_usd"].mean()) * share
    history = bars.iloc[max(0, position - 252):position]
    weekday = history["volume_usd"].groupby(history.index.day_of_week).mean()
    weekday = weekday / weekday.mean()
    days = bars.index[position:position + horizon]
    forecast_usd = adv_usd * weekday.reindex(days.day_of_week).fillna(1.0).to_numpy()
    return {"close": close, "sigma": float(returns.std()) * close, "adv_units": adv_usd / close,
            "volume_units": forecast_usd / close}


def execution_costs(bars: pd.DataFrame, position: int, horizon: int, share: float, spread_bp: float,
                    urgency: float) -> dict[str, float]:
    """Realised shortfall (bp of notional) of a sale arriving before bar ``position``, per strategy.

    Planned on forecasts (:func:`plan_market`), filled at each day's typical price
    ``(H + L + C) / 3`` less the half spread, less temporary impact ``eta_k n_k`` with
    ``eta_k = spread / (0.01 V_k)`` from the day's **realised** volume, less the
    permanent impact of the shares already sold (``gamma``, the paper's rule); against
    the arrival price (the previous close).
    """
    from optimizer.execution import ScheduleInputs, ScheduleProgram, twap

    m = plan_market(bars, position, horizon, share)
    units = NOTIONAL_USD / m["close"]
    spread_usd = spread_bp * 1e-4 * m["close"]
    eta_plan = spread_usd / (0.01 * m["volume_units"])
    gamma = spread_usd / (0.1 * m["adv_units"])
    inputs = ScheduleInputs.build(units, horizon, volume=m["volume_units"], sigma=m["sigma"], eta=eta_plan,
                                  gamma=gamma, spread=spread_usd / 2)
    eta_tilde = float(np.mean(eta_plan)) - gamma / 2
    lam = 2 * (np.cosh(urgency / horizon) - 1) * eta_tilde / m["sigma"] ** 2
    paths = {"schedule": ScheduleProgram(inputs).solve(lam).holdings.to_numpy(dtype=float),
             "twap": twap(units, horizon).to_numpy(dtype=float),
             "all_at_once": np.r_[units, np.zeros(horizon)]}
    days = bars.iloc[position:position + horizon]
    typical = ((days["High"] + days["Low"] + days["Close"]) / 3).to_numpy()
    realised_units = (days["volume_usd"].to_numpy() * share) / days["Close"].to_numpy()
    eta_real = spread_usd / (0.01 * realised_units)
    out = {}
    for name, path in paths.items():
        trades = path[:-1] - path[1:]
        sold_before = units - path[:-1]
        fill = typical - spread_usd / 2 - eta_real * trades - gamma * sold_before
        shortfall_usd = float(trades @ (m["close"] - fill))
        out[name] = shortfall_usd / NOTIONAL_USD * 1e4
    return out


STOCK_SPREAD_BP = 5.0              # assumed full bid-ask spread of a single large-cap stock


def urgency_shape(horizon: int, urgency: float) -> np.ndarray:
    """Almgren-Chriss holdings fractions ``x_j / X`` (j = 0..horizon) at urgency ``kappa T`` (closed form).

    The optimal trajectory depends on the market only through ``kappa``; with ``tau = 1``
    day, ``sigma = eta = 1``, ``gamma = 0`` the risk aversion ``2 (cosh(kappa) - 1)`` gives
    ``kappa T = urgency``.
    """
    from optimizer.execution import almgren_chriss

    lam = 2 * (np.cosh(urgency / horizon) - 1)
    return almgren_chriss(1.0, float(horizon), horizon, 1.0, 1.0, 0.0, lam).to_numpy(dtype=float)


def basket_costs(stocks: dict[str, pd.DataFrame], position: int, horizon: int, spread_bp: float,
                 urgency: float, window: int = 60) -> dict[str, float]:
    """Realised shortfall (bp of $5bn) of selling a stock basket arriving before bar ``position``.

    The $5bn is split over the stocks in proportion to their ``window``-day mean dollar
    volume before arrival (every stock sells the same fraction of its ADV). Per stock, as
    :func:`execution_costs`: ``eta_k = spread / (0.01 V_k)`` with the day's realised volume,
    ``gamma = spread / (0.1 ADV)``, fills at ``(H + L + C) / 3`` less half the spread;
    the optimal schedule is the closed-form trajectory at urgency ``kappa T`` (one shape
    for every stock).
    """
    close_before = stocks["close"].iloc[position - 1].to_numpy()
    adv_usd = stocks["volume_usd"].iloc[position - window:position].mean().to_numpy()
    notional = NOTIONAL_USD * adv_usd / adv_usd.sum()
    units = notional / close_before
    spread_usd = spread_bp * 1e-4 * close_before
    gamma = spread_usd / (0.1 * adv_usd / close_before)
    span = slice(position, position + horizon)
    typical = ((stocks["high"].iloc[span] + stocks["low"].iloc[span] + stocks["close"].iloc[span]) / 3).to_numpy()
    realised_units = stocks["volume_usd"].iloc[span].to_numpy() / stocks["close"].iloc[span].to_numpy()
    eta_real = spread_usd / (0.01 * realised_units)
    shapes = {"schedule": urgency_shape(horizon, urgency), "twap": np.linspace(1.0, 0.0, horizon + 1),
              "all_at_once": np.r_[1.0, np.zeros(horizon)]}
    out = {}
    for name, shape in shapes.items():
        path = shape[:, None] * units[None, :]                      # (horizon + 1) x stocks
        trades = path[:-1] - path[1:]
        sold_before = units[None, :] - path[:-1]
        fill = typical - spread_usd / 2 - eta_real * trades - gamma * sold_before
        out[name] = float((trades * (close_before[None, :] - fill)).sum()) / NOTIONAL_USD * 1e4
    return out


EXECUTION_PAIRS = (("schedule", "twap"), ("schedule", "all_at_once"), ("twap", "all_at_once"))


def execution_pair_rows(data: str, costs: pd.DataFrame, span: str, note: str, settings: Settings) -> list[dict]:
    """Mean and sd rows of each strategy pair, bootstrapping arrival days in blocks."""
    kwargs = dict(level=settings.level, n_resamples=settings.n_resamples, seed=settings.seed)
    rows = []
    for a, b in EXECUTION_PAIRS:
        ca, cb = costs[a].to_numpy(), costs[b].to_numpy()
        mean = paired_difference_ci(ca, cb, **kwargs)
        sd = paired_difference_ci(ca, cb, statistic="std", **kwargs)
        rows.append(row("execution", data, span, a, b, "shortfall_bp", ca.mean(), cb.mean(), mean,
                        f"{note}; block {mean.block_length} arrivals"))
        rows.append(row("execution", data, span, a, b, "shortfall_sd_bp", ca.std(ddof=1), cb.std(ddof=1), sd,
                        f"{note}; block {sd.block_length} arrivals"))
    return rows


def execution_rows(market: ExecutionMarket, settings: Settings, *, step: int, spread_bp: float = 2.0,
                   horizon: int = EXECUTION_HORIZON, urgency: float = EXECUTION_URGENCY) -> list[dict]:
    """Rows of the ``execution`` comparison: mean and sd of the realised shortfall over arrival days."""
    bars = market.bars
    positions = list(range(252, len(bars) - horizon + 1, step))
    index = bars.index[positions]
    span = f"arrivals {index[0].date()}..{index[-1].date()} every {step} d ({len(index)}), {horizon} d horizon"
    common = "$5bn sale; realised fills at (H+L+C)/3 with impact from realised volume"
    rows = []
    for data, share in EXECUTION_LIQUIDITY.items():
        started = time.perf_counter()
        costs = pd.DataFrame([execution_costs(bars, p, horizon, share, spread_bp, urgency) for p in positions],
                             index=index)
        liquidity = "the index basket's volume" if share == 1 else f"{share:.0%} of the basket's volume"
        note = (f"{common} ({liquidity}); assumed {spread_bp:g} bp spread; schedule = Almgren-Chriss program on "
                f"forecast volume at urgency kappa*T={urgency:g}")
        rows += execution_pair_rows(data, costs, span, note, settings)
        print(f"  execution {data}: {len(costs)} arrivals, {time.perf_counter() - started:.1f} s", flush=True)
    if market.stocks is not None:
        started = time.perf_counter()
        costs = pd.DataFrame([basket_costs(market.stocks, p, horizon, STOCK_SPREAD_BP, urgency) for p in positions],
                             index=index)
        count = market.stocks["close"].shape[1]
        note = (f"{common} of each of {count} stocks, split by 60-d ADV; assumed {STOCK_SPREAD_BP:g} bp spread; "
                f"schedule = closed-form Almgren-Chriss shape at urgency kappa*T={urgency:g}")
        rows += execution_pair_rows(f"stocks{count}_basket", costs, span, note, settings)
        print(f"  execution stock basket: {len(costs)} arrivals, {time.perf_counter() - started:.1f} s", flush=True)
    return rows


# ----------------------------------------------------------------------------- main


def build_table(comparisons: list[Comparison], settings: Settings, *,
                execution_market_fn: Callable[[], ExecutionMarket] | None = execution_market,
                execution_step: int = 1) -> pd.DataFrame:
    """The whole table: every comparison's rows, then the execution rows."""
    rows: list[dict] = []
    for comparison in comparisons:
        rows += comparison_rows(comparison, settings)
    if execution_market_fn is not None:
        rows += execution_rows(execution_market_fn(), settings, step=execution_step)
    return pd.DataFrame(rows, columns=COLUMNS)


def fmt(metric: str, value: float) -> str:
    """A value in the metric's display unit: % for tracking error and return, bp otherwise."""
    if not np.isfinite(value):
        return "n/a"
    if metric in ("tracking_error", "net_return"):
        return f"{value * 100:.2f}%"
    return f"{value:.2f}"


def verdict(row_: pd.Series) -> str:
    if not np.isfinite(row_["diff"]):
        return "not available"
    if not row_["significant"]:
        return "no gain claimed"
    better_a = (row_["diff"] < 0) if LOWER_IS_BETTER[row_["metric"]] else (row_["diff"] > 0)
    return f"{row_['variant_a'] if better_a else row_['variant_b']} better"


def markdown(table: pd.DataFrame, *, command: str, commit: str, seconds: float) -> str:
    """``tactical.md``: how the table was made, every row in display units, and what is missing."""
    lines = [
        "# Tactical timing and execution: effects with block-bootstrap intervals",
        "",
        f"Command: `{command}` at commit `{commit}` ({seconds:.0f} s). Table: `tactical.csv`; method and "
        "definitions: the docstring of `benchmarks/tactical.py`.",
        "",
        "Each effect is `a - b` with a 95% circular moving-block bootstrap interval over the paired daily series "
        "(arrival days for execution; Politis-White block length, seeded). Where the interval spans 0 no gain is "
        "claimed. Units: tracking error and net return in % per year, costs in bp of NAV per year, shortfall in "
        "bp of the $5bn notional.",
        "",
        "| comparison | data | window | a vs b | metric | a | b | a - b [95% CI] | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in table.iterrows():
        m = r["metric"]
        interval = "n/a" if not np.isfinite(r["diff"]) else \
            f"{fmt(m, r['diff'])} [{fmt(m, r['ci_low'])}, {fmt(m, r['ci_high'])}]"
        window = str(r["window"]).split(" (warm-up")[0]
        lines.append(f"| {r['comparison']} | {r['data']} | {window} | {r['variant_a']} vs {r['variant_b']} | {m} | "
                     f"{fmt(m, r['a'])} | {fmt(m, r['b'])} | {interval} | {verdict(r)} |")
    missing = table[table["diff"].isna()].drop_duplicates(["comparison", "data", "window"])
    lines += ["", "## Missing", ""]
    if missing.empty:
        lines.append("Nothing: every comparison ran.")
    for _, r in missing.iterrows():
        lines.append(f"- {r['comparison']} ({r['data'] or 'no data'}): {r['note']}")
    return "\n".join(lines) + "\n"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short windows, few resamples, temp output")
    parser.add_argument("--out", type=Path, default=None, help="output folder")
    parser.add_argument("--only", nargs="*", default=None,
                        help=f"comparisons to run (of {list(COMPARISONS)} and 'execution')")
    parser.add_argument("--resamples", type=int, default=None)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--execution-step", type=int, default=None, help="trading days between arrivals")
    parser.add_argument("--commit", default=None,
                        help="commit to name in tactical.md (default: git HEAD, +dirty if tracked files differ)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    args = parse(argv)
    settings = Settings(n_resamples=args.resamples or (QUICK_RESAMPLES if args.quick else RESAMPLES),
                        seed=args.seed, quick=args.quick)
    names = args.only if args.only is not None else [*COMPARISONS, "execution"]
    unknown = [n for n in names if n not in COMPARISONS and n != "execution"]
    if unknown:
        raise SystemExit(f"unknown comparison(s) {unknown}; use {list(COMPARISONS)} or 'execution'")
    step = args.execution_step or (20 if args.quick else 1)
    started = time.perf_counter()
    table = build_table([COMPARISONS[n] for n in names if n in COMPARISONS], settings,
                        execution_market_fn=execution_market if "execution" in names else None,
                        execution_step=step)
    out = args.out or (QUICK_OUT if args.quick else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "tactical.csv", index=False, float_format="%.6g")
    command = " ".join([".venv/bin/python benchmarks/tactical.py", *(argv if argv is not None else sys.argv[1:])])
    (out / "tactical.md").write_text(markdown(table, command=command, commit=args.commit or current_commit(),
                                              seconds=time.perf_counter() - started))
    print(f"wrote {out / 'tactical.csv'} ({len(table)} rows) and tactical.md")
    return table


def current_commit() -> str:
    """Short hash of HEAD (``+dirty`` if tracked files differ from it), or ``unknown``."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=HERE,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


if __name__ == "__main__":
    result = main()
    with pd.option_context("display.width", 250, "display.max_rows", 200, "display.max_colwidth", 40):
        print(result.drop(columns="note").round(4).to_string(index=False))
