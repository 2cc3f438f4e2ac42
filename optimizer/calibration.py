"""Tolerance-band calibration: per-asset no-trade half-widths from costs, drift and risk aversion.

The formula (one risky deviation at a time)
-------------------------------------------
Hold target weights ``w`` (NAV fractions; the rest is cash). Asset ``i``'s weight drifts
because its return differs from the portfolio's: ``dw_i = w_i (r_i - r_p) dt``-ish, and
``r_i - r_p = (1 - w_i)(r_i - r_rest,i)`` where ``r_rest,i`` is the return of everything
else at target (cash included, at zero variance). So

* ``s_i^2 = Var(r_i - r_rest,i)`` (annual) is the asset's *tracking variance per unit of
  deviation*: an overweight of ``x`` (funded pro rata from the rest) adds ``x^2 s_i^2`` to
  the tracking-error variance; it depends on the asset's volatility and its correlation
  with the rest of the portfolio;
* ``sigma_x,i^2 = w_i^2 (1 - w_i)^2 s_i^2`` is the annual variance rate of the weight's drift.

With the engine's objective (``0.5 * risk_aversion * TE variance`` per year, plus one-off
costs; see :class:`optimizer.Settings`) and a one-way proportional cost ``c`` per unit of
NAV traded, trading only at the band edges (a reflected deviation) costs per year
``(gamma / 2) s^2 h^2 / 3 + c sigma_x^2 / (2 h)`` for a band ``+/- h``; its minimum is at

    h = (3 c sigma_x^2 / (2 gamma s^2)) ** (1/3)  =  (3 c w^2 (1 - w)^2 / (2 gamma)) ** (1/3)

This is the leading-order no-trade region of Gerhold, Guasoni, Muhle-Karbe and
Schachermayer, "Transaction costs, trading volume, and the liquidity premium", Finance and
Stochastics 18 (2014), eq. for the trading boundaries
``pi_+/- = pi_* +/- (3 / (4 gamma) pi_*^2 (1 - pi_*)^2)^(1/3) eps^(1/3) + O(eps)`` with
``eps`` the relative bid-ask spread (a round trip, ``eps = 2 c``) and ``pi_* = w``; the same
cube-root law is Janecek and Shreve, "Asymptotic analysis for optimal investment and
consumption with transaction costs", Finance and Stochastics 8 (2004), and Rogers, "Why
is the effect of proportional transaction costs O(delta^(2/3))?" (Contemporary Mathematics
351, AMS, 2004; circulated from 2001). The half-width
grows like the cube root of cost x (drift) variance / risk aversion; in this one-deviation
model the asset's volatility and correlation set both the drift variance and the tracking
variance and cancel in the width (the boundaries depend on the market only through
``pi_*``, as GGMS note). They still set how often the band is hit, the expected tracking
error, and the impact term below. Masters (2003, "Rebalancing", Journal of Investing) and
Donohue and Yip (2003, "Optimal portfolio rebalancing with transaction costs", Journal of
Portfolio Management) calibrate bands in practice along the same trade-off.

Impact (quadratic cost, Garleanu and Pedersen 2013, "Dynamic trading with predictable
returns and transaction costs", Journal of Finance): with a quadratic cost alone there is
no band, one trades part of the way at a finite rate. Our band policies trade in discrete
checks (every ``check_years``), so a trade is about the drift of one check,
``delta = sigma_x sqrt(check_years)``; its impact ``lambda delta^2`` is charged as an extra
linear cost ``lambda * delta`` per unit traded, with ``lambda = eta * sigma_daily * NAV /
ADV`` (the engine's impact term in NAV fractions). This linearisation is an approximation
of ours, not a published formula: it widens the band for large accounts in illiquid
assets, whereas continuous-time trading with small impact narrows it (Rej et al. 2015,
arXiv:1511.07359). Say which when you use it.

Asymmetry: a sale that realises a taxable gain, or different spreads, make the two edges
cost differently. To leading order the driftless theory prices a round trip only (the
width depends on the mean of buy and sell cost); we keep that total width and split it in
proportion to the cube roots of the two one-way costs, so the costlier side gets the wider
room (a heuristic, exact when the costs are equal).

Expected tracking error and cost per year (closed form, ``method`` in the result): each
deviation is a reflected Brownian motion on ``[-below, above]``, uniformly distributed,
hitting each edge at rate ``sigma_x^2 / (2 (below + above))``; deviations of different
assets are treated as uncorrelated (``TE^2 = sum_i s_i^2 E[x_i^2]``). Good for narrow
bands; poor for bands wide relative to the weight (a 5-point band on a 5% weight), where
the weight's drift is geometric and the lower edge clipped at zero. For those, estimate by
simulation (:func:`optimizer.backtest.band_calibration.compare_calibrated_vs_fixed`).

Everything above is for the optimal rule, trading back to the band's edge. A policy that
trades all the way back to target when a band is breached (``trade_to="target"``) wants
bands ``4 ** (1/3)`` wider (:func:`no_trade_half_width`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.model import Case, Targets
from optimizer.model._checks import as_series

TRADING_DAYS_PER_YEAR = 252.0
CLOSED_FORM = "closed form: reflected Brownian deviation per asset, deviations uncorrelated"
TABLE_COLUMNS = ("target_weight", "band_lower", "band_upper", "half_width", "half_width_below",
                 "half_width_above", "volatility", "tracking_vol", "drift_vol", "buy_cost", "sell_cost",
                 "impact_coef", "impact_cost", "calibrated")


# ----------------------------------------------------------------------------- the formula


#: Trading rules the formula knows: to the band edge (reflection) or back to target.
TRADE_TO = ("edge", "target")


def no_trade_half_width(cost: np.ndarray | float, weight: np.ndarray | float,
                        risk_aversion: float, trade_to: str = "edge") -> np.ndarray:
    """``(3 c w^2 (1 - w)^2 / (2 gamma)) ** (1/3)``: the leading-order half-width (NAV fraction).

    ``cost`` is the one-way proportional cost (fraction of the value traded), ``weight`` the
    target weight, ``risk_aversion`` the engine's ``gamma`` (objective ``0.5 gamma TE^2``,
    annual). Equals GGMS (2014) ``(3 / (4 gamma) pi^2 (1 - pi)^2 eps)^(1/3)`` with the
    round-trip spread ``eps = 2 c`` (``trade_to="edge"``: the optimal policy).

    ``trade_to="target"`` (the band is a trigger and the whole deviation is traded back):
    the deviation restarts at 0 after each trade, so it sits uniformly-triangularly in the
    band (``E x^2 = h^2 / 6``) and exits every ``h^2 / sigma_x^2`` years; minimising
    ``(gamma/2) s^2 h^2 / 6 + c sigma_x^2 / h`` gives ``h^3 = 6 c w^2 (1 - w)^2 / gamma``,
    ``4 ** (1/3)`` (1.59) times the edge width (our derivation, same model).
    """
    if trade_to not in TRADE_TO:
        raise InputError("trade_to", f"is {trade_to!r}; use one of {TRADE_TO}")
    c = np.asarray(cost, dtype=float)
    w = np.asarray(weight, dtype=float)
    factor = 1.0 if trade_to == "edge" else 4.0
    return np.cbrt(factor * 3.0 * c * w ** 2 * (1.0 - w) ** 2 / (2.0 * risk_aversion))


def split_width(total: np.ndarray, buy_cost: np.ndarray, sell_cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(below, above)``: ``total`` split in proportion to the cube roots of buy and sell cost.

    Below the target one buys back, above one sells, so ``below`` follows the buy cost.
    Equal costs (or both zero) split evenly.
    """
    b, s = np.cbrt(buy_cost), np.cbrt(sell_cost)
    both = b + s
    share_below = np.where(both > 0, b / np.where(both > 0, both, 1.0), 0.5)
    return total * share_below, total * (1.0 - share_below)


# ----------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class BandInputs:
    """Everything the calibration needs, per asset (or exposure key), validated.

    Parameters
    ----------
    target_weight:
        Target NAV fraction per asset, >= 0, summing to at most 1 (the rest is cash).
    covariance:
        Annual covariance of the assets' returns (fraction^2), assets x assets, symmetric.
    buy_cost, sell_cost:
        One-way proportional cost of buying / selling, fraction of the value traded
        (half-spread + commission, plus e.g. the tax a sale realises per dollar sold).
    impact_coef:
        ``lambda``: a trade of ``u`` NAV fractions costs ``lambda u^2`` NAV fractions
        (``eta * daily_vol * NAV / ADV``); 0 for none.
    daily_volatility:
        Daily return volatility per asset (fraction), reported and used by impact.
    check_years:
        Time between band checks, years (1/252 for daily checks).
    calibrate:
        False for assets whose bands are kept as given (nothing tradeable to act on).
    """

    target_weight: pd.Series
    covariance: pd.DataFrame
    buy_cost: pd.Series
    sell_cost: pd.Series
    impact_coef: pd.Series
    daily_volatility: pd.Series
    check_years: float = 1.0 / TRADING_DAYS_PER_YEAR
    calibrate: pd.Series | None = None

    def __post_init__(self) -> None:
        weight = as_series(self.target_weight, "target_weight")
        if weight.empty:
            raise InputError("target_weight", "is empty; give at least one asset")
        if weight.index.duplicated().any():
            raise InputError("target_weight", "names an asset twice", asset=str(weight.index[weight.index.duplicated()][0]))
        _finite_nonnegative(weight, "target_weight")
        if weight.sum() > 1.0 + 1e-9:
            raise InputError("target_weight", f"sums to {weight.sum():.6f}; at most 1 (the rest is cash)")
        assets = list(weight.index)
        cov = self.covariance
        if not isinstance(cov, pd.DataFrame):
            raise InputError("covariance", f"expected a DataFrame (assets x assets), got {type(cov).__name__}")
        for axis, labels in (("rows", cov.index), ("columns", cov.columns)):
            missing = [a for a in assets if a not in set(map(str, labels))]
            if missing:
                raise InputError("covariance", f"has no {axis[:-1]} for this asset", asset=missing[0])
        cov = cov.copy()
        cov.index, cov.columns = cov.index.map(str), cov.columns.map(str)
        cov = cov.loc[assets, assets].astype(float)
        values = cov.to_numpy()
        bad = ~np.isfinite(values)
        if bad.any():
            raise InputError("covariance", "has NaN or infinite entries", asset=assets[int(np.argwhere(bad)[0][0])])
        if not np.allclose(values, values.T, atol=1e-12, rtol=1e-8):
            raise InputError("covariance", "is not symmetric")
        negative = np.diag(values) < 0
        if negative.any():
            raise InputError("covariance", "has a negative variance", asset=assets[int(np.argmax(negative))])
        object.__setattr__(self, "target_weight", weight)
        object.__setattr__(self, "covariance", cov)
        for name in ("buy_cost", "sell_cost", "impact_coef", "daily_volatility"):
            object.__setattr__(self, name, _per_asset(getattr(self, name), assets, name))
        if not (np.isfinite(self.check_years) and self.check_years > 0):
            raise InputError("check_years", f"is {self.check_years!r}; a positive number of years")
        flags = pd.Series(True, index=assets) if self.calibrate is None else self.calibrate.reindex(assets)
        if flags.isna().any():
            raise InputError("calibrate", "has no value", asset=str(flags.index[flags.isna()][0]))
        object.__setattr__(self, "calibrate", flags.astype(bool))

    @property
    def assets(self) -> list[str]:
        return list(self.target_weight.index)

    def tracking_variance(self) -> pd.Series:
        """``s_i^2 = Var(r_i - r_rest,i)`` per asset, annual (fraction^2), cash at zero variance."""
        w = self.target_weight.to_numpy()
        cov = self.covariance.to_numpy()
        out = np.zeros(len(w))
        for i in range(len(w)):
            rest = w.copy()
            rest[i] = 0.0
            if 1.0 - w[i] <= 0:
                continue                       # nothing else to deviate against
            v = -rest / (1.0 - w[i])
            v[i] += 1.0
            out[i] = max(float(v @ cov @ v), 0.0)
        return pd.Series(out, index=self.assets)


def _finite_nonnegative(series: pd.Series, field: str) -> None:
    for name, value in series.items():
        if not np.isfinite(value) or value < 0:
            raise InputError(field, f"is {value!r}; must be finite and non-negative", asset=str(name))


def _per_asset(value, assets: list[str], field: str) -> pd.Series:
    if np.isscalar(value):
        series = pd.Series(float(value), index=assets)
    else:
        series = as_series(value, field)
        series.index = series.index.map(str)
        series = series.reindex(assets)
        if series.isna().any():
            raise InputError(field, "has no value", asset=str(series.index[series.isna()][0]))
    _finite_nonnegative(series, field)
    return series


# ----------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class BandCalibration:
    """Calibrated bands and their expected tracking error and cost next to fixed bands.

    Attributes
    ----------
    table:
        Indexed by asset (or exposure key); columns :data:`TABLE_COLUMNS`: ``target_weight``,
        ``band_lower``/``band_upper`` (NAV fractions), ``half_width`` (the symmetric
        half-width from the mean cost), ``half_width_below``/``half_width_above`` (the
        asymmetric split actually used), ``volatility`` (annual), ``tracking_vol``
        (``s_i``, annual), ``drift_vol`` (``sigma_x``, annual NAV fraction), ``buy_cost``
        and ``sell_cost`` (one-way fractions), ``impact_coef`` (``lambda``), ``impact_cost``
        (its linearised per-unit cost ``lambda * delta``), ``calibrated``.
    expected:
        Rows ``calibrated`` and ``fixed_<width>``; columns ``tracking_error`` (annual
        fraction), ``cost_bps_per_year`` (NAV bps per year), ``turnover`` (one-way NAV
        fraction per year) and ``method``.
    risk_aversion:
        ``gamma`` used (the engine's ``0.5 gamma TE^2`` convention).
    cash_weight:
        NAV fraction outside the assets (targets' ``cash_weight``).
    fixed_width:
        Absolute half-width of the fixed bands compared against (0.05 = five points).
    """

    table: pd.DataFrame
    expected: pd.DataFrame
    risk_aversion: float
    cash_weight: float
    fixed_width: float

    def __repr__(self) -> str:
        cal, fix = self.expected.iloc[0], self.expected.iloc[1]
        return (f"BandCalibration({len(self.table)} assets, risk_aversion={self.risk_aversion:g}: "
                f"TE {cal.tracking_error:.2%} cost {cal.cost_bps_per_year:.2f} bp/yr vs fixed "
                f"+/-{self.fixed_width:g}: TE {fix.tracking_error:.2%} cost {fix.cost_bps_per_year:.2f} bp/yr)")

    def targets(self) -> Targets:
        """The calibrated bands as :class:`optimizer.Targets` (absolute NAV fractions)."""
        t = self.table
        return Targets(t["target_weight"], t["band_lower"], t["band_upper"], cash_weight=self.cash_weight)

    def to_case_targets(self) -> dict:
        """The ``targets:`` block of a case file: ``{cash_weight, keys: {key: {weight, lower, upper}}}``."""
        keys = {str(k): {"weight": float(r.target_weight), "lower": round(float(r.band_lower), 6),
                         "upper": round(float(r.band_upper), 6)} for k, r in self.table.iterrows()}
        return {"cash_weight": round(float(self.cash_weight), 10), "keys": keys}

    def width_below(self) -> pd.Series:
        """Room below each target, NAV fraction (``target - band_lower``), for ``Bands.asymmetric``."""
        return (self.table["target_weight"] - self.table["band_lower"]).clip(lower=0.0)

    def width_above(self) -> pd.Series:
        """Room above each target, NAV fraction (``band_upper - target``)."""
        return (self.table["band_upper"] - self.table["target_weight"]).clip(lower=0.0)


# ----------------------------------------------------------------------------- calibration


def calibrate_inputs(inputs: BandInputs, risk_aversion: float, *, fixed_width: float = 0.05,
                     trade_to: str = "edge", keep_lower: pd.Series | None = None,
                     keep_upper: pd.Series | None = None) -> BandCalibration:
    """Calibrate bands from validated :class:`BandInputs` (see the module docstring for the formula).

    ``trade_to``: ``"edge"`` (default) or ``"target"``, the rule the band policy will follow
    (see :func:`no_trade_half_width`; with ``"target"`` impact costs ``lambda sigma_x^2`` a
    year whatever the width, so it does not move the band). ``keep_lower``/``keep_upper``
    give the bands of assets with ``calibrate=False`` (default: the target itself).
    """
    gamma = _positive(risk_aversion, "risk_aversion")
    fixed = _positive(fixed_width, "fixed_width")
    w = inputs.target_weight.to_numpy()
    s2 = inputs.tracking_variance().to_numpy()
    drift_var = w ** 2 * (1.0 - w) ** 2 * s2
    delta = np.sqrt(drift_var * inputs.check_years)
    if trade_to not in TRADE_TO:
        raise InputError("trade_to", f"is {trade_to!r}; use one of {TRADE_TO}")
    impact_cost = inputs.impact_coef.to_numpy() * delta if trade_to == "edge" else np.zeros(len(w))
    buy = inputs.buy_cost.to_numpy() + impact_cost
    sell = inputs.sell_cost.to_numpy() + impact_cost
    mean_cost = 0.5 * (buy + sell)
    half = np.where(s2 > 0, no_trade_half_width(mean_cost, w, gamma, trade_to), 0.0)
    below, above = split_width(2.0 * half, buy, sell)
    flags = inputs.calibrate.to_numpy()
    lower = np.clip(w - below, 0.0, None)
    upper = np.clip(w + above, None, 1.0)
    if not flags.all():
        kept_lo = w if keep_lower is None else keep_lower.reindex(inputs.assets).fillna(0.0).to_numpy()
        kept_hi = w if keep_upper is None else keep_upper.reindex(inputs.assets).fillna(1.0).to_numpy()
        lower, upper = np.where(flags, lower, kept_lo), np.where(flags, upper, kept_hi)
        half, below, above = (np.where(flags, a, np.nan) for a in (half, below, above))
    table = pd.DataFrame({
        "target_weight": w, "band_lower": lower, "band_upper": upper, "half_width": half,
        "half_width_below": below, "half_width_above": above,
        "volatility": inputs.daily_volatility.to_numpy() * np.sqrt(TRADING_DAYS_PER_YEAR),
        "tracking_vol": np.sqrt(s2), "drift_vol": np.sqrt(drift_var),
        "buy_cost": inputs.buy_cost.to_numpy(), "sell_cost": inputs.sell_cost.to_numpy(),
        "impact_coef": inputs.impact_coef.to_numpy(), "impact_cost": impact_cost, "calibrated": flags,
    }, index=pd.Index(inputs.assets, name="asset"))
    fixed_below = np.minimum(fixed, w)
    fixed_above = np.minimum(fixed, 1.0 - w)
    rows = [expected_tracking_and_cost(inputs, w - lower, upper - w, trade_to),
            expected_tracking_and_cost(inputs, fixed_below, fixed_above, trade_to)]
    expected = pd.DataFrame(rows, index=["calibrated", f"fixed_{fixed:g}"])
    expected["method"] = f"{CLOSED_FORM}; trade to {trade_to}"
    cash = max(1.0 - float(w.sum()), 0.0)
    return BandCalibration(table, expected, gamma, cash, fixed)


def expected_tracking_and_cost(inputs: BandInputs, below: np.ndarray, above: np.ndarray,
                               trade_to: str = "edge") -> dict[str, float]:
    """Closed-form annual tracking error, cost (bps/yr) and turnover of bands ``[w - below, w + above]``.

    ``trade_to="edge"``: per asset the deviation is uniform on the band (``E x^2 = l^2/12 +
    m^2``, ``l = below + above`` the width, ``m`` its centre's offset) and each edge is
    pushed at ``sigma_x^2 / (2 l)`` NAV fractions per year; impact is charged as in the
    calibration (``lambda delta`` per unit traded). ``trade_to="target"``: a Brownian
    deviation from 0 exits ``(-L, U)`` after ``L U / sigma_x^2`` years on average, at ``U``
    with probability ``L / l``; so ``E x^2 = (L^2 - L U + U^2) / 6``, ``sigma_x^2 / l`` is
    traded per year on each side, and impact costs ``lambda sigma_x^2`` a year. Either way a
    band narrower than a check's drift trades every check instead (``sqrt(2/pi) delta /
    check_years`` a year). Only ``calibrate=True`` assets count.
    """
    if trade_to not in TRADE_TO:
        raise InputError("trade_to", f"is {trade_to!r}; use one of {TRADE_TO}")
    flags = inputs.calibrate.to_numpy()
    w = inputs.target_weight.to_numpy()
    s2 = inputs.tracking_variance().to_numpy()
    drift_var = w ** 2 * (1.0 - w) ** 2 * s2
    dt = inputs.check_years
    delta = np.sqrt(drift_var * dt)
    lo, hi = np.asarray(below, dtype=float), np.asarray(above, dtype=float)
    width = lo + hi
    every_check = np.sqrt(2.0 / np.pi) * delta / dt                # traded per year if trading every check
    lam = inputs.impact_coef.to_numpy()
    scale = 1.0 if trade_to == "edge" else 2.0                     # to target: twice the traffic per width
    with np.errstate(divide="ignore", invalid="ignore"):
        at_edges = np.where(width > 0, scale * drift_var / width, np.inf)  # both sides together, per year
    banded = at_edges <= every_check
    traded = np.where(banded, at_edges, every_check)
    per_side = np.where(traded > 0, 0.5 * traded, 0.0)
    linear = per_side * (inputs.buy_cost.to_numpy() + inputs.sell_cost.to_numpy())
    if trade_to == "edge":
        impact = 2.0 * per_side * lam * delta
        ex2_band = width ** 2 / 12.0 + (0.5 * (hi - lo)) ** 2
    else:
        impact = np.where(banded, lam * drift_var, 2.0 * per_side * lam * delta)
        ex2_band = (lo ** 2 - lo * hi + hi ** 2) / 6.0
    cost = linear + impact
    ex2 = np.where(banded, ex2_band, delta ** 2)
    te2 = float((s2 * ex2)[flags].sum())
    return {"tracking_error": float(np.sqrt(te2)), "cost_bps_per_year": float(cost[flags].sum() * 1e4),
            "turnover": float(traded[flags].sum() / 2.0)}


def _positive(value, field: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(field, f"is {value!r}; expected a positive number") from None
    if not (np.isfinite(number) and number > 0):
        raise InputError(field, f"is {value!r}; expected a positive number")
    return number


# ----------------------------------------------------------------------------- front ends


def inputs_from_prices(prices: pd.DataFrame, target_weight: pd.Series | dict, *, half_spread=0.0002,
                       commission=0.0001, buy_extra=0.0, sell_extra=0.0, adv_usd=5e8, nav_usd: float = 1e6,
                       impact_eta: float = 1.0, check_days: float = 1.0) -> BandInputs:
    """:class:`BandInputs` from a price history (dates x assets, total-return prices, > 0).

    Covariance and daily volatility are the sample estimates of simple daily returns,
    annualised with the calendar's observations per year. Cost arguments are scalars or
    per-asset Series (fractions of the value traded; ``adv_usd`` account currency);
    ``impact_coef = impact_eta * daily_vol * nav_usd / adv_usd``. Assets of ``prices``
    without a target weight are ignored; a target without prices raises.
    """
    if not isinstance(prices, pd.DataFrame):
        raise InputError("prices", f"expected a DataFrame (dates x assets), got {type(prices).__name__}")
    weight = as_series(target_weight, "target_weight")
    weight.index = weight.index.map(str)
    frame = prices.copy()
    frame.columns = frame.columns.map(str)
    for asset in weight.index:
        if asset not in frame.columns:
            raise InputError("prices", "has no column for this target", asset=asset)
    frame = frame[list(weight.index)]
    if len(frame) < 3:
        raise InputError("prices", f"has {len(frame)} rows; need at least 3 dates")
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise InputError("prices", "index must be dates (a DatetimeIndex)")
    for asset in frame.columns:
        column = pd.to_numeric(frame[asset], errors="coerce")
        bad = column.isna() | ~np.isfinite(column) | (column <= 0)
        if bad.any():
            raise InputError("prices", f"has a missing, non-numeric or non-positive price on "
                             f"{frame.index[bad.to_numpy()][0].date()}", asset=asset)
        frame[asset] = column
    returns = frame.pct_change().iloc[1:]
    years = max((frame.index[-1] - frame.index[0]).days / 365.25, 1e-9)
    per_year = (len(frame) - 1) / years
    cov = returns.cov() * per_year
    vol = returns.std()
    nav = _positive(nav_usd, "nav_usd")
    eta = float(impact_eta)
    if not (np.isfinite(eta) and eta >= 0):
        raise InputError("impact_eta", f"is {impact_eta!r}; must be finite and non-negative")
    assets = list(weight.index)
    adv = _per_asset(adv_usd, assets, "adv_usd")
    if (adv <= 0).any():
        raise InputError("adv_usd", "must be positive", asset=str(adv.index[adv <= 0][0]))
    spread = _per_asset(half_spread, assets, "half_spread")
    fee = _per_asset(commission, assets, "commission")
    return BandInputs(
        target_weight=weight, covariance=cov,
        buy_cost=spread + fee + _per_asset(buy_extra, assets, "buy_extra"),
        sell_cost=spread + fee + _per_asset(sell_extra, assets, "sell_extra"),
        impact_coef=eta * vol * nav / adv, daily_volatility=vol,
        check_years=_positive(check_days, "check_days") / per_year,
    )


def inputs_from_case(case: Case, *, tax_weight: float | None = None, check_days: float = 1.0) -> BandInputs:
    """:class:`BandInputs` on the case's exposure keys (its targets).

    Per key, from the tradeable assets mapped to it (shares by held value, equal if none
    held): cost = share-weighted half-spread + commission; ``impact_coef = sum share^2
    eta vol NAV / ADV``; sell cost adds ``tax_weight`` (default ``settings.tax_weight``)
    times the value-weighted tax per dollar sold of the key's lots
    (``rate * max(1 - basis / price, 0)``, long-term rate for lots held more than
    ``tax.long_term_days``). Covariance: the case's risk model. Keys with no tradeable
    asset keep their bands (``calibrate=False``).
    """
    if not isinstance(case, Case):
        raise InputError("case", f"expected an optimizer.Case, got {type(case).__name__}")
    market, targets, portfolio = case.market, case.targets, case.portfolio
    weight_tax = case.settings.tax_weight if tax_weight is None else float(tax_weight)
    if not (np.isfinite(weight_tax) and weight_tax >= 0):
        raise InputError("tax_weight", f"is {tax_weight!r}; must be finite and non-negative")
    prices = market.prices
    nav = portfolio.nav_usd(prices)
    if not nav > 0:
        raise InputError("portfolio", f"NAV is {nav!r}; it must be positive to scale impact")
    lots = portfolio.lots
    lot_value = lots["quantity"].to_numpy(dtype=float) * prices.reindex(lots["asset"]).to_numpy(dtype=float)
    held = pd.Series(lot_value, index=lots["asset"].to_numpy()).groupby(level=0).sum()
    gain = 1.0 - lots["cost_basis"].to_numpy(dtype=float) * lots["quantity"].to_numpy(dtype=float) / np.where(
        lot_value > 0, lot_value, 1.0)
    held_days = (market.date - pd.to_datetime(lots["acquired"])).dt.days.to_numpy()
    rate = np.where(held_days > case.tax.long_term_days, case.tax.long_term_rate, case.tax.short_term_rate)
    tax_usd = pd.Series(rate * np.clip(gain, 0.0, None) * lot_value, index=lots["asset"].to_numpy())
    tax_usd = tax_usd.groupby(level=0).sum()
    cov = market.risk.covariance()
    rows = {}
    for key in targets.keys:
        members = [a for a in market.assets if market.asset_class[a] == key]
        if not members:
            rows[key] = (0.0, 0.0, 0.0, 0.0, False)
            continue
        value = held.reindex(members).fillna(0.0)
        share = value / value.sum() if value.sum() > 0 else pd.Series(1.0 / len(members), index=members)
        cost = float((share * (market.half_spread[members] + market.commission[members])).sum())
        lam = float((share ** 2 * case.settings.impact_eta * market.volatility[members] * nav
                     / market.adv_usd[members]).sum())
        tax_per_dollar = float(tax_usd.reindex(members).fillna(0.0).sum() / value.sum()) if value.sum() > 0 else 0.0
        vol = float((share * market.volatility[members]).sum())
        rows[key] = (cost, cost + weight_tax * tax_per_dollar, lam, vol, True)
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["buy", "sell", "lam", "vol", "calibrate"])
    return BandInputs(
        target_weight=targets.weight, covariance=cov, buy_cost=frame["buy"], sell_cost=frame["sell"],
        impact_coef=frame["lam"], daily_volatility=frame["vol"],
        check_years=_positive(check_days, "check_days") / TRADING_DAYS_PER_YEAR, calibrate=frame["calibrate"],
    )


def calibrate_bands(source: Case | pd.DataFrame, target_weight: pd.Series | dict | None = None, *,
                    risk_aversion: float | None = None, fixed_width: float = 0.05, trade_to: str = "edge",
                    **options) -> BandCalibration:
    """Per-asset tolerance bands from volatility, correlation and costs (cube-root law).

    Parameters
    ----------
    source:
        An :class:`optimizer.Case` (bands on its exposure keys; costs, impact at its NAV and
        the tax a sale realises from its market and lots) or a price history (DataFrame,
        dates x assets, total-return prices > 0).
    target_weight:
        Target NAV fraction per asset; required with a price history, not allowed with a case.
    risk_aversion:
        ``gamma`` of the engine's ``0.5 gamma TE^2`` (annual). Default: the case's
        ``settings.risk_aversion``, or 10 with a price history.
    fixed_width:
        Half-width of the fixed absolute bands shown alongside (0.05 = five points).
    trade_to:
        The band policy's rule: ``"edge"`` (trade back to the nearest edge; the optimal
        rule, GGMS's formula) or ``"target"`` (a breach trades all the way back; bands
        ``4 ** (1/3)`` wider, see :func:`no_trade_half_width`).
    **options:
        Passed to :func:`inputs_from_case` (``tax_weight``, ``check_days``) or
        :func:`inputs_from_prices` (``half_spread``, ``commission``, ``buy_extra``,
        ``sell_extra``, ``adv_usd``, ``nav_usd``, ``impact_eta``, ``check_days``).

    Returns
    -------
    BandCalibration
        ``table`` per asset, ``expected`` tracking error and cost per year of the calibrated
        and the fixed bands (closed form; see the module docstring), ``targets()``.

    Raises
    ------
    InputError
        Naming the field and the asset (bad prices, weights, costs or covariance).
    """
    if isinstance(source, Case):
        if target_weight is not None:
            raise InputError("target_weight", "comes from the case's targets; do not pass it with a case")
        inputs = inputs_from_case(source, **options)
        gamma = source.settings.risk_aversion if risk_aversion is None else risk_aversion
        return calibrate_inputs(inputs, gamma, fixed_width=fixed_width, trade_to=trade_to,
                                keep_lower=source.targets.band_lower, keep_upper=source.targets.band_upper)
    if isinstance(source, pd.DataFrame):
        if target_weight is None:
            raise InputError("target_weight", "is required with a price history")
        inputs = inputs_from_prices(source, target_weight, **options)
        return calibrate_inputs(inputs, 10.0 if risk_aversion is None else risk_aversion, fixed_width=fixed_width,
                                trade_to=trade_to)
    raise InputError("source", f"expected an optimizer.Case or a price DataFrame, got {type(source).__name__}")
