"""Calibrated vs fixed tolerance bands, out of sample, with the band heuristic in the simulator.

:func:`compare_calibrated_vs_fixed` calibrates per-asset bands
(:func:`optimizer.calibration.calibrate_bands`) on an earlier window of a price history,
scales them (one common factor, through the risk aversion) so that, *in sample*, the
calibrated bands track no worse than fixed absolute bands, and then backtests both with the
same :class:`optimizer.policies.Threshold` policy on the later window. Tracking error and
costs come from the simulator (:mod:`optimizer.backtest.metrics`), not from the closed form.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.backtest.simulator import BacktestConfig, Simulator
from optimizer.calibration import BandCalibration, calibrate_inputs, inputs_from_prices
from optimizer.errors import InputError
from optimizer.model import TaxRules
from optimizer.model.costs import CostModel
from optimizer.policies import Bands, Threshold

#: Metrics copied from each backtest into the comparison table.
METRICS = ("tracking_error", "trading_cost_bps", "total_cost_bps", "spread_bps", "commission_bps", "impact_bps",
           "turnover", "rebalance_events", "drift_mean")
#: A tax-free account: the comparison is about trading costs.
NO_TAX = TaxRules(short_term_rate=0.0, long_term_rate=0.0)


@dataclass(frozen=True)
class BandComparison:
    """Result of :func:`compare_calibrated_vs_fixed`.

    Attributes
    ----------
    table:
        One row per (``window``, ``bands``): window ``in_sample`` / ``out_of_sample``, bands
        ``fixed`` / ``calibrated``; columns :data:`METRICS` (annual fractions, bps per year
        of NAV, counts), ``start``, ``end``, ``risk_aversion`` and ``name``.
    calibration:
        The calibrated bands (fitted on the in-sample window).
    summary:
        Out-of-sample verdict: ``cost_ratio`` (calibrated / fixed trading cost),
        ``cost_saved_bps``, ``te_difference`` (calibrated - fixed, annual fraction),
        ``calibrated_wins`` (cheaper at equal or lower tracking error, 1e-4 slack).
    """

    table: pd.DataFrame
    calibration: BandCalibration
    summary: dict


def _policy(target: pd.Series, below, above, trade_to: str, check: str, name: str) -> Threshold:
    return Threshold(target, Bands.asymmetric(below, above), trade_to=trade_to, check=check, name=name)


def _run(prices: pd.DataFrame, policy: Threshold, config: BacktestConfig, cash_column: str | None) -> dict:
    cash = prices[cash_column] if cash_column else None
    metrics = Simulator(prices, config, cash_index=cash).run(policy).metrics()
    return {k: float(metrics[k]) for k in METRICS}


def compare_calibrated_vs_fixed(prices: pd.DataFrame, target_weight: pd.Series, *, split: str | pd.Timestamp,
                                costs: CostModel = CostModel(), initial_usd: float = 1e6,
                                fixed_width: float = 0.05, trade_to: str = "edge", check: str = "D",
                                risk_aversion: float | None = None, cash_column: str | None = None,
                                tax: TaxRules = NO_TAX, name: str = "", frontier: bool = False,
                                gammas: tuple[float, ...] | None = None,
                                fixed_grid: tuple[float, ...] | None = None) -> BandComparison:
    """Backtest calibrated bands against fixed ``+/- fixed_width`` bands, calibrating before ``split``.

    Parameters
    ----------
    prices:
        Total-return prices, dates x assets (> 0, no gaps).
    target_weight:
        Target NAV fraction per asset (the rest is simulator cash).
    split:
        First date of the out-of-sample window; the calibration window is every date before.
    costs:
        The simulator's cost model; the calibration uses the same half-spread, commission,
        ADV and impact coefficient, at ``initial_usd``.
    fixed_width:
        Absolute half-width of the fixed bands (0.05 = five points; lower edges clip at 0).
    trade_to, check:
        Of the :class:`Threshold` policy used for both band sets (``"edge"``: the rule the
        cube-root formula is derived for; ``check="D"`` daily).
    risk_aversion:
        ``None`` (default): the value of :data:`GAMMA_GRID` whose calibrated bands, backtested
        on the calibration window, cost least with a tracking error at most the fixed bands'
        (all widths scale as ``risk_aversion ** (-1/3)``, so this picks one common scale;
        the shape across assets is the formula's). A number: used as given.
    cash_column:
        Column of ``prices`` that idle cash earns (e.g. ``"CASH"``), or ``None``.
    tax:
        Tax rules of the account (default tax-free: the comparison is about trading costs).
    frontier:
        Also backtest, out of sample, the calibrated bands at every risk aversion of
        :data:`GAMMA_GRID` and uniform fixed bands at every width of :data:`FIXED_GRID`
        (rows ``window="oos_frontier"``, ``setting`` = gamma or width), and report the
        calibrated frontier's cost interpolated at the fixed bands' out-of-sample tracking
        error (``summary["frontier_cost_saved_bps"]``). A diagnostic of the bands' *shape*:
        it uses the out-of-sample window to place the point, so it is not a trading rule.
    gammas, fixed_grid:
        Replace :data:`GAMMA_GRID` / :data:`FIXED_GRID` (e.g. shorter grids in tests).

    Returns
    -------
    BandComparison
    """
    if not isinstance(prices, pd.DataFrame) or not isinstance(prices.index, pd.DatetimeIndex):
        raise InputError("prices", "expected a DataFrame indexed by dates")
    split = pd.Timestamp(split)
    before, after = prices[prices.index < split], prices[prices.index >= split]
    if len(before) < 60 or len(after) < 60:
        raise InputError("split", f"leaves {len(before)} dates before and {len(after)} after {split.date()}; "
                         "need at least 60 on each side")
    target = pd.Series(target_weight, dtype=float)
    target.index = target.index.map(str)
    config = BacktestConfig(initial_usd=initial_usd, tax=tax, costs=costs)
    assets = list(target.index)
    inputs = inputs_from_prices(before, target, half_spread=_as_input(costs.half_spread, assets),
                                commission=_as_input(costs.commission, assets),
                                adv_usd=_as_input(costs.adv_usd, assets), nav_usd=initial_usd,
                                impact_eta=costs.impact_eta, check_days=1.0)
    full_target = target.reindex(prices.columns).fillna(0.0)
    fixed = _policy(full_target, fixed_width, fixed_width, trade_to, check, f"fixed_{fixed_width:g}")
    fixed_in = _run(before, fixed, config, cash_column)

    def calibrated(gamma: float) -> tuple[BandCalibration, Threshold]:
        result = calibrate_inputs(inputs, gamma, fixed_width=fixed_width, trade_to=trade_to)
        below = result.width_below().reindex(prices.columns).fillna(0.0)
        above = result.width_above().reindex(prices.columns).fillna(0.0)
        return result, _policy(full_target, below, above, trade_to, check, "calibrated")

    gammas = GAMMA_GRID if gammas is None else tuple(float(g) for g in gammas)
    fixed_grid = FIXED_GRID if fixed_grid is None else tuple(float(f) for f in fixed_grid)
    if risk_aversion is None:
        gamma = _select_risk_aversion(lambda g: _run(before, calibrated(g)[1], config, cash_column), fixed_in,
                                      gammas)
    else:
        gamma = float(risk_aversion)
    calibration, policy = calibrated(gamma)
    rows = []
    for window, frame in (("in_sample", before), ("out_of_sample", after)):
        for label, pol in (("fixed", fixed), ("calibrated", policy)):
            metrics = fixed_in if (window == "in_sample" and label == "fixed") else _run(frame, pol, config,
                                                                                         cash_column)
            rows.append({"name": name, "window": window, "bands": label, **metrics,
                         "start": frame.index[0].date().isoformat(), "end": frame.index[-1].date().isoformat(),
                         "risk_aversion": gamma})
    if frontier:
        for g in gammas:
            rows.append({"name": name, "window": "oos_frontier", "bands": "calibrated", "setting": g,
                         **_run(after, calibrated(g)[1], config, cash_column)})
        for width in fixed_grid:
            rows.append({"name": name, "window": "oos_frontier", "bands": "fixed", "setting": width,
                         **_run(after, _policy(full_target, width, width, trade_to, check, f"fixed_{width:g}"),
                                config, cash_column)})
    table = pd.DataFrame(rows)
    oos = table[table["window"] == "out_of_sample"].set_index("bands")
    cal_cost, fix_cost = oos.at["calibrated", "trading_cost_bps"], oos.at["fixed", "trading_cost_bps"]
    te_diff = float(oos.at["calibrated", "tracking_error"] - oos.at["fixed", "tracking_error"])
    summary = {"name": name, "cost_ratio": float(cal_cost / fix_cost) if fix_cost > 0 else float("nan"),
               "cost_saved_bps": float(fix_cost - cal_cost), "te_difference": te_diff,
               "calibrated_wins": bool(cal_cost < fix_cost and te_diff <= 1e-4), "risk_aversion": gamma}
    if frontier:
        curve = table[(table["window"] == "oos_frontier") & (table["bands"] == "calibrated")]
        at_te = cost_at_tracking_error(curve, float(oos.at["fixed", "tracking_error"]))
        summary["frontier_cost_at_fixed_te_bps"] = at_te
        summary["frontier_cost_saved_bps"] = float(fix_cost - at_te)
    return BandComparison(table, calibration, summary)


#: Uniform fixed half-widths of the out-of-sample frontier (NAV fractions).
FIXED_GRID = (0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08)


def cost_at_tracking_error(curve: pd.DataFrame, tracking_error: float) -> float:
    """Trading cost (bps/yr) of a frontier interpolated linearly at ``tracking_error``.

    ``curve`` has ``tracking_error`` and ``trading_cost_bps`` columns. Each point's cost is
    the cheapest of the points at its tracking error or below (the lower envelope), so a
    noisy, non-monotone curve gives the cost one can have at equal or lower tracking error.
    NaN outside the curve's range.
    """
    points = curve.sort_values("tracking_error")
    te = points["tracking_error"].to_numpy(dtype=float)
    cost = np.minimum.accumulate(points["trading_cost_bps"].to_numpy(dtype=float))
    if len(te) == 0 or tracking_error < te[0] or tracking_error > te[-1]:
        return float("nan")
    return float(np.interp(tracking_error, te, cost))


#: Risk aversions tried in sample (half a decade apart): widths scale as gamma ** (-1/3).
GAMMA_GRID = tuple(float(10 ** (k / 2)) for k in range(-6, 11))


def _select_risk_aversion(run, fixed_in: dict, gammas: tuple[float, ...] = GAMMA_GRID) -> float:
    """The grid's risk aversion whose in-sample run is cheapest with tracking error <= the fixed bands'.

    Ties in cost (e.g. several that never trade) go to the narrowest bands (largest
    gamma). Raises InputError if none tracks as closely as the fixed bands.
    """
    best = None
    for gamma in gammas:
        metrics = run(gamma)
        if metrics["tracking_error"] > fixed_in["tracking_error"] + 1e-12:
            continue
        key = (round(metrics["trading_cost_bps"], 9), -gamma)
        if best is None or key < best[0]:
            best = (key, gamma)
    if best is None:
        raise InputError("risk_aversion", f"no risk aversion in {min(gammas):g}..{max(gammas):g} tracks as "
                         "closely as the fixed bands in sample; pass one explicitly")
    return best[1]


def _as_input(value, assets: list[str]):
    """A CostModel field as the calibration expects it (scalar, or a Series over ``assets``)."""
    if isinstance(value, pd.Series):
        return value.reindex(assets)
    return float(value) if np.isscalar(value) else value
