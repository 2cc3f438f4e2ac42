"""Tactical timing: momentum-filtered trims, volatility-paced buys, risk-triggered trades.

Three heuristic policies (behind :class:`optimizer.policies.base.Policy`) and two options
of :class:`optimizer.policies.OptimizerPolicy` (``tactics=(...)``) built on the same parts:

* :class:`MomentumFilteredBands`: tolerance bands whose trims of an asset above its upper
  band wait while the asset's trend is strong (:class:`TrendSignal`: 12-1 month return,
  or price above a moving average), resume when the trend fades, and never wait longer
  than ``max_delay_days`` (:class:`TrimDelay`). :class:`MomentumTilt` is the optimizer's
  version: a bounded target tilt toward the asset's current weight while the trend holds.
* :class:`VolatilityPacedBands`: tolerance bands whose buys into a falling asset (one
  ``min_drawdown`` below its trailing peak) are paced by a volatility signal
  (:class:`VolatilitySignal`: an external level such as the VIX, each asset's realized
  volatility, or its drawdown): each check buys ``slow`` of the remaining gap while the
  signal rises, ``fast`` once it stops rising, all of it after ``max_days``. The sales that
  fund the buys are paced with them. :class:`VolatilityPacing` is the optimizer's version:
  a per-decision buy limit of ``slow`` times the gap while volatility rises.
* :class:`RiskTriggered`: rebalances when the ex-ante tracking error of the book against
  its target, from the risk model, exceeds a threshold; optionally also on band and
  calendar triggers, recording which trigger fired.

Every signal reads ``State.history`` (prices up to today) or an external series up to
today (:mod:`optimizer.policies.signals`): no look-ahead. Weights are NAV fractions,
trades dollars, delays calendar days.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.model import RiskModel
from optimizer.policies import signals
from optimizer.policies.bands import Bands
from optimizer.policies.base import Orders, Policy, Schedule, State, period_key
from optimizer.policies.heuristics import Threshold, outside, to_edges, when_suffix

TREND_KINDS = ("momentum", "moving_average")
VOLATILITY_KINDS = ("level", "realized", "drawdown")
#: A buy or sale smaller than this NAV fraction is noise, not a trade (pacing bookkeeping).
WEIGHT_TOLERANCE = 1e-6


def _fraction(value: float, field: str, *, low: float = 0.0, high: float = 1.0, open_low: bool = False) -> float:
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool) and np.isfinite(value)
    if not ok or value > high or value < low or (open_low and value == low):
        raise InputError(field, f"is {value!r}; a number in {'(' if open_low else '['}{low:g}, {high:g}]")
    return float(value)


def _days(value: int, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InputError(field, f"is {value!r}; a whole number of calendar days >= 0")
    return int(value)


def _tail(history: np.ndarray, rows: int) -> pd.DataFrame:
    """The last ``rows`` rows of a price history (dates x assets) as a frame."""
    return pd.DataFrame(history[-rows:])


# --------------------------------------------------------------------------- signals


@dataclass(frozen=True)
class TrendSignal:
    """Is an asset's trend strong? (per asset, from prices up to today).

    Parameters
    ----------
    kind:
        ``"momentum"``: the 12-1 return (:func:`signals.momentum` with ``lookback`` and
        ``skip`` rows) is above ``threshold``; ``"moving_average"``: the price is more than
        ``threshold`` above its ``window``-row moving average (:func:`signals.moving_average_gap`).
    threshold:
        Fraction; 0 means "any positive trend".

    Too little history means "not strong" (the trim is not delayed).
    """

    kind: str = "momentum"
    lookback: int = signals.MOMENTUM_LOOKBACK
    skip: int = signals.MOMENTUM_SKIP
    window: int = 200
    threshold: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in TREND_KINDS:
            raise InputError("trend.kind", f"is {self.kind!r}; use one of {TREND_KINDS}")
        signals.momentum(pd.Series([1.0]), self.lookback, self.skip)          # validates
        signals.moving_average_gap(pd.Series([1.0]), self.window)
        if not np.isfinite(self.threshold):
            raise InputError("trend.threshold", f"is {self.threshold!r}; a finite fraction")

    def values(self, history: np.ndarray) -> np.ndarray:
        """The trend per asset on the last row of ``history`` (fraction; NaN: too little history)."""
        if self.kind == "momentum":
            frame = signals.momentum(_tail(history, self.lookback + 1), self.lookback, self.skip)
        else:
            frame = signals.moving_average_gap(_tail(history, self.window), self.window)
        return frame.iloc[-1].to_numpy(dtype=float)

    def strong(self, history: np.ndarray) -> np.ndarray:
        """True per asset where the trend is above ``threshold``."""
        values = self.values(history)
        return np.where(np.isnan(values), False, values > self.threshold)


@dataclass(frozen=True)
class VolatilitySignal:
    """Is volatility (or the fall) still rising? (per asset, from data up to today).

    Parameters
    ----------
    kind:
        ``"level"``: an external date-indexed ``level`` (e.g. the VIX close) above the mean
        of its previous ``lag`` values (:func:`signals.level_rising`), the same for every
        asset; ``"realized"``: each asset's ``window``-row realized volatility above the
        mean of its previous ``lag`` values; ``"drawdown"``: each asset's drawdown (from
        its ``window``-row peak) deeper than the mean of its previous ``lag`` values.
    level:
        The external series for ``kind="level"`` (DatetimeIndex, sorted).

    Too little history means "not rising" (buys go at the fast pace).
    """

    kind: str = "realized"
    level: pd.Series | None = None
    window: int = 21
    lag: int = 5

    def __post_init__(self) -> None:
        if self.kind not in VOLATILITY_KINDS:
            raise InputError("volatility.kind", f"is {self.kind!r}; use one of {VOLATILITY_KINDS}")
        if self.kind == "level":
            level = self.level
            if not isinstance(level, pd.Series) or not isinstance(level.index, pd.DatetimeIndex):
                raise InputError("volatility.level", "kind 'level' needs a Series indexed by date (e.g. the VIX)")
            if not level.index.is_monotonic_increasing or not np.all(np.isfinite(level.to_numpy(dtype=float))):
                raise InputError("volatility.level", "must have sorted dates and finite values")
        signals.rising(pd.Series([1.0]), self.lag)                # validates
        signals.realized_volatility(pd.Series([1.0]), self.window)

    def rising(self, date: pd.Timestamp, history: np.ndarray, periods_per_year: float) -> np.ndarray:
        """True per asset where the signal is rising on ``date`` (the last row of ``history``)."""
        n = history.shape[1]
        if self.kind == "level":
            return np.full(n, signals.level_rising(self.level, date, self.lag))
        if self.kind == "realized":
            vol = signals.realized_volatility(_tail(history, self.window + self.lag + 1), self.window,
                                              periods_per_year)
            return signals.rising(vol, self.lag).iloc[-1].to_numpy(dtype=bool)
        depth = -signals.drawdown(_tail(history, self.window + self.lag), self.window)
        return signals.rising(depth, self.lag).iloc[-1].to_numpy(dtype=bool)


def falling(history: np.ndarray, min_drawdown: float, window: int) -> np.ndarray:
    """True per asset whose price is at least ``min_drawdown`` below its ``window``-row peak."""
    return signals.drawdown(_tail(history, window), window).iloc[-1].to_numpy(dtype=float) <= -min_drawdown


# --------------------------------------------------------------------------- state machines


class TrimDelay:
    """Which overweight assets may wait, per asset: at most ``max_delay_days`` per episode.

    An episode starts on the first date an asset is a *candidate* (e.g. above its upper
    band) with a strong trend; the asset is held back while both hold and fewer than
    ``max_delay_days`` calendar days have passed since that date. On the date the cap is
    reached the asset is released (traded) and stays released until the episode ends: it
    stops being a candidate or its trend fades. State: ``since`` (asset -> start date) and
    ``expired`` (released assets).
    """

    def __init__(self, max_delay_days: int):
        self.max_delay_days = _days(max_delay_days, "max_delay_days")
        self.since: dict[int, pd.Timestamp] = {}
        self.expired: set[int] = set()

    def reset(self) -> None:
        self.since, self.expired = {}, set()

    def update(self, date: pd.Timestamp, candidate: np.ndarray, strong: np.ndarray) -> np.ndarray:
        """Held-back mask for ``date`` (call once per check date, in calendar order)."""
        held = np.zeros(len(candidate), dtype=bool)
        for i in range(len(candidate)):
            if not (candidate[i] and strong[i]):
                self.since.pop(i, None)
                self.expired.discard(i)
                continue
            if i in self.expired:
                continue
            start = self.since.setdefault(i, date)
            if (date - start).days >= self.max_delay_days:
                del self.since[i]
                self.expired.add(i)
                continue
            held[i] = True
        return held

    def state_dict(self) -> dict:
        return {"since": dict(self.since), "expired": set(self.expired)}

    def load_state_dict(self, state: dict) -> None:
        self.since = dict(state.get("since", {}))
        self.expired = set(state.get("expired", set()))


class BuyPacer:
    """Pace of buys into falling assets: ``slow`` while volatility rises, ``fast`` otherwise.

    ``since`` (asset -> first paced date) caps an episode at ``max_days`` calendar days,
    after which the asset is bought at pace 1.
    """

    def __init__(self, volatility: VolatilitySignal, slow: float, fast: float, max_days: int):
        if not isinstance(volatility, VolatilitySignal):
            raise InputError("volatility", "must be a VolatilitySignal")
        self.volatility = volatility
        self.slow = _fraction(slow, "slow", open_low=True)
        self.fast = _fraction(fast, "fast", open_low=True)
        if self.fast < self.slow:
            raise InputError("fast", f"is {fast!r}; at least slow ({slow!r})")
        self.max_days = _days(max_days, "max_days")
        self.since: dict[int, pd.Timestamp] = {}

    def pace(self, date: pd.Timestamp, state: State, paced: np.ndarray) -> np.ndarray:
        """Fraction of the gap to buy today per asset (1 where not ``paced``); updates ``since``."""
        for i in list(self.since):
            if not paced[i]:
                del self.since[i]
        out = np.ones(len(paced))
        if not paced.any():
            return out
        rising = self.volatility.rising(date, state.history, state.periods_per_year)
        for i in np.nonzero(paced)[0]:
            start = self.since.setdefault(int(i), date)
            if (date - start).days >= self.max_days:
                out[i] = 1.0
            else:
                out[i] = self.slow if rising[i] else self.fast
        return out


# --------------------------------------------------------------------------- heuristic policies


def held_targets(w: np.ndarray, held: np.ndarray, target: np.ndarray, lower: np.ndarray,
                 upper: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Targets and bands for the rest of the book while ``held`` assets keep their weight ``w``.

    A held asset's target and both band edges become its weight. The other targeted
    assets share what is left of the invested total (``target.sum() - w[held].sum()``) in
    proportion to their targets; their bands move with their targets (same widths, lower
    edge floored at 0). So the rest of the book is rebalanced around the held asset, and
    is in band again after it trades (no churn while the asset waits).
    """
    t = target.copy()
    free = ~held & (target > 0)
    base = target[free].sum()
    if base > 0:
        t[free] = target[free] * max(target.sum() - w[held].sum(), 0.0) / base
    t[held] = w[held]
    shift = t - target
    lo, hi = np.maximum(lower + shift, 0.0), upper + shift
    lo[held] = hi[held] = w[held]
    return t, lo, hi


def desired_weights(w: np.ndarray, out: np.ndarray, target: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                    trade_to: str, inner: float) -> np.ndarray:
    """:meth:`optimizer.policies.Threshold.desired` for the given targets and bands."""
    if trade_to == "target":
        return target.copy()
    share = 1.0 if trade_to == "edge" else inner
    return to_edges(w, out, target, target - share * (target - lower), target + share * (upper - target))


class MomentumFilteredBands(Threshold):
    """Tolerance bands whose trims wait while the asset's trend is strong.

    An asset above its upper band with a strong trend (:class:`TrendSignal`) is not
    trimmed; while it waits, the rest of the book is rebalanced around it (targets of the
    other assets scaled to what it leaves, bands moved with them: :func:`held_targets`). The trim happens on the first check date the trend is
    no longer strong, or ``max_delay_days`` calendar days after the first delayed check,
    or at once if the asset is more than ``max_overweight`` above its target.

    Parameters
    ----------
    target, bands, check, trade_to, inner, when:
        As :class:`optimizer.policies.Threshold`.
    trend:
        The trend rule (12-1 momentum by default; ``TrendSignal("moving_average", window=200)``).
    max_delay_days:
        Longest delay of one trim, calendar days.
    max_overweight:
        Optional NAV fraction above target beyond which no trim waits.
    """

    def __init__(self, target, bands: Bands, *, trend: TrendSignal = TrendSignal(), max_delay_days: int = 182,
                 max_overweight: float | None = None, check: str = "D", trade_to: str = "target",
                 inner: float = 0.5, when: str = "last", name: str | None = None):
        if not isinstance(trend, TrendSignal):
            raise InputError("trend", "must be a TrendSignal")
        if max_overweight is not None:
            _fraction(max_overweight, "max_overweight")
        self.trend = trend
        self.delay = TrimDelay(max_delay_days)
        self.max_overweight = max_overweight
        super().__init__(target, bands, check=check, trade_to=trade_to, inner=inner, when=when,
                         name=name or f"momentum_filter_{trend.kind}_{bands.label().replace(' ', '')}_{check}_{trade_to}"
                                      f"_cap{max_delay_days}d{when_suffix(when)}")
        #: (date, asset) of every trim that waited on a check date
        self.delays: list[tuple[pd.Timestamp, str]] = []

    def start(self, assets: tuple[str, ...]) -> None:
        super().start(assets)
        self.delay.reset()
        self.delays = []

    def held_back(self, date: pd.Timestamp, state: State) -> np.ndarray:
        """Assets above their upper band whose trim waits today (updates the delay state)."""
        w = state.weights
        candidate = w > self._upper + 1e-9
        if self.max_overweight is not None:
            candidate &= w <= self._target + self.max_overweight
        strong = self.trend.strong(state.history) if candidate.any() else np.zeros(len(w), dtype=bool)
        held = self.delay.update(date, candidate, strong)
        self.delays.extend((date, state.assets[i]) for i in np.nonzero(held)[0])
        return held

    def decide(self, date: pd.Timestamp, state: State) -> Orders | None:
        if not self.checking(date, state):
            return None
        w = state.weights
        held = self.held_back(date, state)
        target, lower, upper = self._target, self._lower, self._upper
        if held.any():
            target, lower, upper = held_targets(w, held, target, lower, upper)
        moving = outside(w, lower, upper) & ~held
        if not moving.any():
            return None
        desired = desired_weights(w, moving | held, target, lower, upper, self.trade_to, self.inner)
        return Orders((desired - w) * state.nav_usd)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "_delay": self.delay.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        state = dict(state)
        self.delay.load_state_dict(state.pop("_delay", {}))
        super().load_state_dict(state)


class VolatilityPacedBands(Threshold):
    """Tolerance bands whose buys into a falling asset are paced by a volatility signal.

    When the bands trigger, an asset to be bought that is at least ``min_drawdown`` below
    its ``drawdown_window``-row peak is bought ``slow`` of the way to its desired weight
    while the signal rises, ``fast`` of the way when it does not, and all the way
    ``max_days`` calendar days after its first paced buy. Until then it stays "catching
    up": every check date buys the next installment, even inside the band. Sales that fund
    the buys are scaled by the same share of the buying (paced buys, paced sales), so the
    book moves toward the same target at the slower pace instead of piling up cash.

    Parameters
    ----------
    target, bands, check, trade_to, inner, when:
        As :class:`optimizer.policies.Threshold`.
    volatility:
        The signal (:class:`VolatilitySignal`; e.g. ``VolatilitySignal("level", level=vix)``).
    slow, fast:
        Fractions of the remaining gap bought per check date, ``0 < slow <= fast <= 1``.
    min_drawdown, drawdown_window:
        What counts as a falling asset (fraction below its peak over that many rows).
    max_days:
        Longest pacing of one asset, calendar days.
    """

    def __init__(self, target, bands: Bands, *, volatility: VolatilitySignal = VolatilitySignal(),
                 slow: float = 0.25, fast: float = 1.0, min_drawdown: float = 0.05, drawdown_window: int = 252,
                 max_days: int = 60, check: str = "D", trade_to: str = "target", inner: float = 0.5,
                 when: str = "last", name: str | None = None):
        self.pacer = BuyPacer(volatility, slow, fast, max_days)
        self.min_drawdown = _fraction(min_drawdown, "min_drawdown")
        signals.drawdown(pd.Series([1.0]), drawdown_window)        # validates
        self.drawdown_window = drawdown_window
        super().__init__(target, bands, check=check, trade_to=trade_to, inner=inner, when=when,
                         name=name or f"vol_paced_{volatility.kind}_{bands.label().replace(' ', '')}_{check}_"
                                      f"{trade_to}_slow{slow:g}{when_suffix(when)}")
        #: (date, asset, pace) of every paced buy below full speed
        self.paced: list[tuple[pd.Timestamp, str, float]] = []

    def start(self, assets: tuple[str, ...]) -> None:
        super().start(assets)
        self.pacer.since = {}
        self.paced = []

    def decide(self, date: pd.Timestamp, state: State) -> Orders | None:
        if not self.checking(date, state):
            return None
        w = state.weights
        catching = np.zeros(len(w), dtype=bool)
        catching[list(self.pacer.since)] = True
        moving = outside(w, self._lower, self._upper) | catching
        if not moving.any():
            return None
        trade = self.desired(w, moving) - w
        buys = trade > WEIGHT_TOLERANCE
        paced = buys & moving & falling(state.history, self.min_drawdown, self.drawdown_window)
        pace = self.pacer.pace(date, state, paced)
        for i in np.nonzero(pace < 1.0)[0]:
            self.paced.append((date, state.assets[i], float(pace[i])))
        done = [i for i in self.pacer.since if pace[i] >= 1.0]
        for i in done:                       # bought in full today: the episode ends
            del self.pacer.since[i]
        full_buys = trade[buys].sum()
        trade[buys] *= pace[buys]
        sells = trade < 0
        if full_buys > 0 and sells.any():
            trade[sells] *= trade[buys].sum() / full_buys
        if not np.any(np.abs(trade) > WEIGHT_TOLERANCE):
            return None
        return Orders(trade * state.nav_usd)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "_pacing": dict(self.pacer.since)}

    def load_state_dict(self, state: dict) -> None:
        state = dict(state)
        self.pacer.since = dict(state.pop("_pacing", {}))
        super().load_state_dict(state)


def tracking_error(weights: np.ndarray, target: np.ndarray, covariance: np.ndarray) -> float:
    """Ex-ante tracking error ``sqrt((w - w*)' Sigma (w - w*))`` (annual fraction for an
    annualised ``Sigma``); cash is riskless, so only the asset deviations count."""
    d = weights - target
    return float(np.sqrt(max(d @ covariance @ d, 0.0)))


class RiskTriggered(Policy):
    """Rebalance when the ex-ante tracking error to the target exceeds ``te_threshold``.

    The tracking error ``sqrt((w - w*)' Sigma (w - w*))`` uses ``risk`` (a fixed
    :class:`optimizer.RiskModel` on the assets, or an annualised covariance frame) or,
    without it, a risk model estimated from the trailing ``lookback`` returns (Ledoit-Wolf
    shrunk, all principal components kept) and re-estimated once per ``risk_every`` period.
    ``bands`` and ``calendar`` add the usual triggers beside it; ``triggers`` records, per
    trade, which fired (``"risk"``, ``"band"``, ``"calendar"``) and ``te_history`` every
    (date, tracking error) looked at.

    Parameters
    ----------
    te_threshold:
        Annual tracking error (fraction; 0.01 = 1%) above which the book is rebalanced.
    check:
        How often the tracking error (and bands) are looked at (``"D"``: every date).
    trade_to:
        ``"target"``: all the way; ``"inner"``: only far enough that the tracking error
        falls to ``inner_te`` (TE is linear along the way to target, so trade the share
        ``1 - inner_te / TE`` of every deviation). A band or calendar trigger always trades
        to target.
    """

    def __init__(self, target, te_threshold: float = 0.01, *, check: str = "D", trade_to: str = "target",
                 inner_te: float | None = None, bands: Bands | None = None, calendar: str | None = None,
                 risk: RiskModel | pd.DataFrame | None = None, lookback: int = 504, risk_every: str = "M",
                 when: str = "last", name: str | None = None):
        super().__init__(target)
        self.te_threshold = _fraction(te_threshold, "te_threshold", open_low=True)
        if trade_to not in ("target", "inner"):
            raise InputError("trade_to", f"is {trade_to!r}; use 'target' or 'inner'")
        if trade_to == "inner":
            if inner_te is None:
                raise InputError("inner_te", "trade_to='inner' needs the tracking error to trade down to")
            _fraction(inner_te, "inner_te", high=self.te_threshold)
        if risk is not None and not isinstance(risk, (RiskModel, pd.DataFrame)):
            raise InputError("risk", "must be a RiskModel, an annualised covariance DataFrame, or None")
        if lookback < 21:
            raise InputError("lookback", f"is {lookback!r}; at least 21 rows of prices")
        period_key(pd.Timestamp("2000-01-03"), risk_every)      # validates
        self.trade_to, self.inner_te = trade_to, inner_te
        self.bands = bands
        self.check = Schedule(check, when)
        self.calendar = None if calendar is None else Schedule(calendar, when)
        self.risk, self.lookback, self.risk_every = risk, lookback, risk_every
        self.name = name or (f"risk_triggered_te{te_threshold:g}_{check}_{trade_to}"
                             + (f"_bands{bands.label().replace(' ', '')}" if bands is not None else "")
                             + (f"_cal{calendar}" if calendar else "") + when_suffix(when))
        self.triggers: list[tuple[pd.Timestamp, tuple[str, ...]]] = []
        self.te_history: list[tuple[pd.Timestamp, float]] = []
        self._cov: np.ndarray | None = None
        self._cov_key: tuple | None = None

    def start(self, assets: tuple[str, ...]) -> None:
        super().start(assets)
        self._lower, self._upper = (None, None) if self.bands is None else self.bands.limits(self._target, assets)
        self._cov, self._cov_key = None, None
        if self.risk is not None:
            cov = self.risk.covariance() if isinstance(self.risk, RiskModel) else self.risk
            missing = [a for a in assets if a not in cov.index or a not in cov.columns]
            if missing:
                raise InputError("risk", "has no row for an asset of the price history", asset=missing[0])
            self._cov = cov.loc[list(assets), list(assets)].to_numpy(dtype=float)
        self.triggers, self.te_history = [], []

    def covariance(self, date: pd.Timestamp, state: State) -> np.ndarray | None:
        """Annualised covariance for ``date`` (None: too little history to estimate one)."""
        if self.risk is not None:
            return self._cov
        key = period_key(date, self.risk_every)
        if self._cov is not None and key == self._cov_key:
            return self._cov
        history = state.history[-(self.lookback + 1):]
        if len(history) < 21:
            return None
        returns = pd.DataFrame(history[1:] / history[:-1] - 1.0, columns=list(state.assets))
        model = RiskModel.from_returns(returns, len(state.assets), state.periods_per_year, shrink=True)
        self._cov = model.covariance().to_numpy(dtype=float)
        self._cov_key = key
        return self._cov

    def decide(self, date: pd.Timestamp, state: State) -> Orders | None:
        calendar_due = self.calendar is not None and self.calendar.due(date, state.next_date)
        if not (self.check.frequency == "D" or self.check.due(date, state.next_date)):
            if not calendar_due:
                return None
            fired, te = ("calendar",), None
        else:
            w = state.weights
            cov = self.covariance(date, state)
            te = None if cov is None else tracking_error(w, self._target, cov)
            if te is not None:
                self.te_history.append((date, te))
            fired = tuple(name for name, hit in (
                ("risk", te is not None and te > self.te_threshold),
                ("band", self.bands is not None and outside(w, self._lower, self._upper).any()),
                ("calendar", calendar_due)) if hit)
        if not fired:
            return None
        self.triggers.append((date, fired))
        deviation = self._target - state.weights
        share = 1.0
        if fired == ("risk",) and self.trade_to == "inner":
            share = 1.0 - self.inner_te / te
        return Orders(share * deviation * state.nav_usd)

    def state_dict(self) -> dict:
        return {"check": self.check.last, "calendar": None if self.calendar is None else self.calendar.last,
                "cov": self._cov, "cov_key": self._cov_key}

    def load_state_dict(self, state: dict) -> None:
        self.check.last = state.get("check")
        if self.calendar is not None:
            self.calendar.last = state.get("calendar")
        if self.risk is None:
            self._cov, self._cov_key = state.get("cov"), state.get("cov_key")


# --------------------------------------------------------------------------- optimizer options


@dataclass(frozen=True)
class TacticalView:
    """What a tactic changes in one optimizer decision.

    ``target``: tactical target weights per asset (NAV fractions, summing to the
    strategic total); ``buy_limit``: largest buy per asset this decision (NAV fraction;
    ``inf`` = no limit), or ``None``.
    """

    target: np.ndarray
    buy_limit: np.ndarray | None = None


class Tactic:
    """An option of :class:`optimizer.policies.OptimizerPolicy`: adjusts one decision's
    target or buy limits. Subclasses implement :meth:`adjust`; the policy calls
    :meth:`start` before the first date and :meth:`adjust` on every decision date."""

    def start(self, assets: tuple[str, ...]) -> None:
        """Forget any state (called before the first date)."""

    def adjust(self, date: pd.Timestamp, state: State, target: np.ndarray) -> TacticalView:
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class MomentumTilt(Tactic):
    """Optimizer option: let an overweight asset in a strong trend keep its overweight.

    On each decision, an asset more than ``min_overweight`` above its target with a strong
    trend (:class:`TrendSignal`) has its target raised toward its current weight, by at
    most ``max_tilt`` (NAV fraction); the other targeted assets give up the same total in
    proportion to their targets, so the invested total is unchanged. The program then has
    no reason to trim it (up to ``max_tilt``). A tilt lasts while the trend holds, at most
    ``max_delay_days`` calendar days per episode (:class:`TrimDelay`).
    """

    def __init__(self, trend: TrendSignal = TrendSignal(), *, max_tilt: float = 0.05, max_delay_days: int = 182,
                 min_overweight: float = 0.0):
        if not isinstance(trend, TrendSignal):
            raise InputError("trend", "must be a TrendSignal")
        self.trend = trend
        self.max_tilt = _fraction(max_tilt, "max_tilt")
        self.min_overweight = _fraction(min_overweight, "min_overweight")
        self.delay = TrimDelay(max_delay_days)

    def start(self, assets: tuple[str, ...]) -> None:
        self.delay.reset()

    def adjust(self, date: pd.Timestamp, state: State, target: np.ndarray) -> TacticalView:
        w = state.weights
        candidate = (w - target > self.min_overweight) & (target > 0)
        strong = self.trend.strong(state.history) if candidate.any() else np.zeros(len(w), dtype=bool)
        held = self.delay.update(date, candidate, strong)
        return TacticalView(tilted_target(target, w, held, self.max_tilt))

    def state_dict(self) -> dict:
        return self.delay.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.delay.load_state_dict(state)


def tilted_target(target: np.ndarray, w: np.ndarray, held: np.ndarray, max_tilt: float) -> np.ndarray:
    """``target`` raised toward ``w`` on ``held`` assets by at most ``max_tilt`` each, the total
    taken from the other targeted assets in proportion to their targets (never below 0)."""
    tilt = np.zeros(len(target))
    tilt[held] = np.clip(w[held] - target[held], 0.0, max_tilt)
    givers = ~held & (target > 0)
    total = tilt.sum()
    if total <= 0 or not givers.any():
        return target.copy()
    total = min(total, target[givers].sum())
    tilt[held] *= total / tilt.sum()
    tilt[givers] -= total * target[givers] / target[givers].sum()
    return np.maximum(target + tilt, 0.0)


class VolatilityPacing(Tactic):
    """Optimizer option: while volatility rises, buy a falling underweight asset slowly.

    On each decision, an asset below its target that is at least ``min_drawdown`` below its
    ``drawdown_window``-row peak may be bought at most ``slow`` times its gap to target
    (NAV fraction) while the :class:`VolatilitySignal` rises; no limit when it does not,
    nor ``max_days`` calendar days after its first paced decision. Only the buys are
    limited: the program still chooses the sales, so the cash they free may wait for the
    next installment (the heuristic :class:`VolatilityPacedBands` paces its sales too).
    """

    def __init__(self, volatility: VolatilitySignal = VolatilitySignal(), *, slow: float = 0.25,
                 min_drawdown: float = 0.05, drawdown_window: int = 252, max_days: int = 60):
        self.pacer = BuyPacer(volatility, slow, 1.0, max_days)
        self.min_drawdown = _fraction(min_drawdown, "min_drawdown")
        signals.drawdown(pd.Series([1.0]), drawdown_window)        # validates
        self.drawdown_window = drawdown_window

    def start(self, assets: tuple[str, ...]) -> None:
        self.pacer.since = {}

    def adjust(self, date: pd.Timestamp, state: State, target: np.ndarray) -> TacticalView:
        w = state.weights
        gap = target - w
        paced = (gap > WEIGHT_TOLERANCE) & falling(state.history, self.min_drawdown, self.drawdown_window)
        pace = self.pacer.pace(date, state, paced)
        limit = np.where(pace < 1.0, pace * np.maximum(gap, 0.0), np.inf)
        return TacticalView(target.copy(), limit if np.isfinite(limit).any() else None)

    def state_dict(self) -> dict:
        return {"since": dict(self.pacer.since)}

    def load_state_dict(self, state: dict) -> None:
        self.pacer.since = dict(state.get("since", {}))
