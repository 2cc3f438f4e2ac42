"""What practitioners do today: buy-and-hold, calendar, tolerance bands, cash-flow routing.

All targets are per asset (NAV fractions; what is left over is cash). Each policy turns
a target *weight* vector into dollar trades at today's NAV; costs are left to the
simulator (which scales buys down if cash runs short, so a trade-to-target lands a
hair under target).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.policies.base import Orders, Policy, Schedule, State
from optimizer.policies.bands import Bands

TRADE_TO = ("target", "edge", "inner")


class BuyAndHold(Policy):
    """Never trades; contributions stay in cash. Its target (for metrics) is the start mix."""

    name = "buy_and_hold"

    def decide(self, date: pd.Timestamp, state: State) -> Orders | None:
        return None


class Calendar(Policy):
    """Trade everything back to target once per period.

    Parameters
    ----------
    frequency:
        ``"M"`` monthly, ``"Q"`` quarterly, ``"S"`` semi-annual, ``"A"`` annual
        (also ``"W"``, ``"D"``).
    when:
        ``"last"`` (default): on the last date of each period of the price calendar;
        ``"first"``: on the first date of the next period. Never on the backtest's first
        date, nor (``"last"``) on its final date; see :class:`Schedule`.
    """

    LABELS = {"D": "daily", "W": "weekly", "M": "monthly", "Q": "quarterly", "S": "semiannual", "A": "annual"}

    def __init__(self, target, frequency: str = "Q", *, when: str = "last"):
        super().__init__(target)
        self.schedule = Schedule(frequency, when)
        self.name = f"calendar_{self.LABELS[frequency]}{when_suffix(when)}"

    def decide(self, date: pd.Timestamp, state: State) -> Orders | None:
        if not self.schedule.due(date, state.next_date):
            return None
        return Orders((self._target - state.weights) * state.nav_usd)


class Threshold(Policy):
    """Trade when any asset leaves its band, checked every ``check`` period.

    Parameters
    ----------
    bands:
        :class:`Bands` (absolute, relative or asymmetric).
    check:
        How often to look: ``"D"`` every date of the data, ``"M"`` monthly, ...
    when:
        For a ``check`` other than ``"D"``: look on the ``"last"`` date of each check
        period (default) or the ``"first"`` date of the next one (see :class:`Schedule`).
    trade_to:
        ``"target"``: everything back to target; ``"edge"``: only assets outside their
        band, back to the nearest edge; ``"inner"``: as edge, to an inner band
        ``inner`` of the way from target to the edge. The cash this frees or needs is
        spread over the in-band assets in proportion to their targets.
    """

    def __init__(self, target, bands: Bands, *, check: str = "D", trade_to: str = "target", inner: float = 0.5,
                 when: str = "last", name: str | None = None):
        super().__init__(target)
        if trade_to not in TRADE_TO:
            raise InputError("trade_to", f"is {trade_to!r}; use one of {TRADE_TO}")
        if not 0 <= inner <= 1:
            raise InputError("inner", f"is {inner!r}; a fraction of the band, 0..1")
        self.bands = bands
        self.schedule = Schedule(check, when)
        self.trade_to = trade_to
        self.inner = inner
        self.name = name or f"threshold_{bands.label().replace(' ', '')}_{check}_{trade_to}{when_suffix(when)}"

    def start(self, assets: tuple[str, ...]) -> None:
        super().start(assets)
        self._lower, self._upper = self.bands.limits(self._target, assets)

    def checking(self, date: pd.Timestamp, state: State) -> bool:
        """True if the bands are looked at on ``date`` (every date for ``check="D"``)."""
        return self.schedule.frequency == "D" or self.schedule.due(date, state.next_date)

    def decide(self, date: pd.Timestamp, state: State) -> Orders | None:
        if not self.checking(date, state):
            return None
        w = state.weights
        out = outside(w, self._lower, self._upper)
        if not out.any():
            return None
        return Orders((self.desired(w, out) - w) * state.nav_usd)

    def desired(self, w: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Post-trade weights for current weights ``w`` with ``out`` outside their bands."""
        t = self._target
        if self.trade_to == "target":
            return t.copy()
        share = 1.0 if self.trade_to == "edge" else self.inner
        lower = t - share * (t - self._lower)
        upper = t + share * (self._upper - t)
        return to_edges(w, out, t, lower, upper)


class CalendarThreshold(Threshold):
    """Look once per ``check`` period (monthly by default); trade only if beyond a band."""

    def __init__(self, target, bands: Bands, *, check: str = "M", trade_to: str = "target", inner: float = 0.5,
                 when: str = "last", name: str | None = None):
        super().__init__(target, bands, check=check, trade_to=trade_to, inner=inner, when=when,
                         name=name or f"cal_threshold_{bands.label().replace(' ', '')}_{check}_{trade_to}"
                                      f"{when_suffix(when)}")


class CashFlowRouting(Threshold):
    """Let cash flows rebalance: inflows buy the most underweight assets, withdrawals sell
    the most overweight (water-filling), then trade only what the flows could not fix
    (assets still outside their bands go to the band edge).

    Idle cash above the target cash weight counts as an inflow, so dividends-in-cash or
    contributions are all routed.
    """

    def __init__(self, target, bands: Bands, *, check: str = "D", min_flow_usd: float = 1.0, when: str = "last",
                 name: str | None = None):
        super().__init__(target, bands, check=check, trade_to="edge", when=when,
                         name=name or f"cash_flow_routing_{bands.label().replace(' ', '')}{when_suffix(when)}")
        self.min_flow_usd = min_flow_usd

    def decide(self, date: pd.Timestamp, state: State) -> Orders | None:
        nav = state.nav_usd
        cash_target = (1.0 - self._target.sum()) * nav
        excess = state.cash_usd - cash_target
        trade = np.zeros(len(state.assets))
        if abs(excess) > self.min_flow_usd:
            deficit = self._target * nav - state.holdings_usd
            if excess > 0:
                trade = water_fill(deficit, excess)
            else:
                trade = -water_fill(-deficit, min(-excess, state.holdings_usd.sum()), cap=state.holdings_usd)
        if self.checking(date, state):
            w = (state.holdings_usd + trade) / nav
            out = outside(w, self._lower, self._upper)
            if out.any():
                trade = trade + (self.desired(w, out) - w) * nav
        if not np.any(np.abs(trade) > self.min_flow_usd):
            return None
        return Orders(trade)


def when_suffix(when: str) -> str:
    """Name suffix for a schedule convention: none for the default ``"last"``."""
    return "" if when == "last" else f"_{when}"


def outside(w: np.ndarray, lower: np.ndarray, upper: np.ndarray, tolerance: float = 1e-9) -> np.ndarray:
    """True where a weight is outside its band."""
    return (w < lower - tolerance) | (w > upper + tolerance)


def to_edges(w: np.ndarray, out: np.ndarray, target: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Move assets in ``out`` to their nearest band edge; spread the difference over the rest.

    The in-band assets with a target absorb the residual in proportion to their targets
    (all assets do if none is in band), so invested weight stays ``target.sum()``.
    """
    desired = w.copy()
    desired[out] = np.clip(w[out], lower[out], upper[out])
    residual = target.sum() - desired.sum()
    takers = ~out & (target > 0)
    if not takers.any():
        takers = target > 0
    desired[takers] += residual * target[takers] / target[takers].sum()
    return np.maximum(desired, 0.0)


def water_fill(need: np.ndarray, amount: float, cap: np.ndarray | None = None) -> np.ndarray:
    """Split ``amount`` >= 0 so the largest needs are filled first, to a common level.

    Returns ``x >= 0`` with ``x_i = max(0, need_i - level)`` and ``sum(x) = amount``
    (``cap`` bounds each ``x_i``, e.g. what can be sold).
    """
    if amount <= 0:
        return np.zeros_like(need)
    if cap is None:
        cap = np.full(len(need), np.inf)
    lo, hi = float(need.min() - amount - 1.0), float(need.max())
    for _ in range(100):
        level = 0.5 * (lo + hi)
        total = np.minimum(np.maximum(need - level, 0.0), cap).sum()
        if total > amount:
            lo = level
        else:
            hi = level
    x = np.minimum(np.maximum(need - hi, 0.0), cap)
    total = x.sum()
    return x * (amount / total) if total > 0 else x
