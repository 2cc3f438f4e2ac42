"""Overlay limits and carry: ``overlay_gross >= |overlay0 + overlay_trade|``, a cap per
instrument and on their sum, and the cost of carrying the post-trade notional."""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from optimizer.problem_data import ProblemData
from optimizer.terms.base import Term, Trade, assign


def notional_after(data: ProblemData, trade: Trade) -> np.ndarray:
    """Signed overlay notional after the trade, NAV fraction."""
    return data.overlay0 + trade.overlay_trade


def carry(data: ProblemData, trade: Trade) -> float:
    """Cost of holding the post-trade overlay until the next decision, NAV fraction."""
    return float(data.overlay_holding_cost @ np.abs(notional_after(data, trade)))


def margin(data: ProblemData, trade: Trade) -> float:
    """Initial margin required after the trade, NAV fraction."""
    return float(data.overlay_margin @ np.abs(notional_after(data, trade)))


class OverlayLimits(Term):
    name = "overlay"
    weight_setting = "cost_weight"

    def __init__(self, shape, v):
        super().__init__(shape, v)
        q = len(shape.overlays)
        self.overlay0 = cp.Parameter(q, name="overlay0")
        self.gross_limit = cp.Parameter(nonneg=True, name="overlay_gross_limit")
        self.instrument_limit = cp.Parameter(q, nonneg=True, name="overlay_max")
        self.holding_cost = cp.Parameter(q, nonneg=True, name="overlay_holding_cost")
        after = self.overlay0 + v.overlay_trade
        self._constraints = [v.overlay_gross >= after, v.overlay_gross >= -after,
                             v.overlay_gross <= self.instrument_limit,
                             cp.sum(v.overlay_gross) <= self.gross_limit]
        self._expression = self.holding_cost @ v.overlay_gross

    def update(self, data: ProblemData, weight: float = 1.0) -> None:
        assign(self.overlay0, data.overlay0)
        assign(self.gross_limit, data.overlay_gross_limit)
        assign(self.instrument_limit, data.overlay_max)
        assign(self.holding_cost, weight * data.overlay_holding_cost)

    def objective(self):
        return self._expression

    def price(self, data: ProblemData, trade: Trade) -> float:
        return carry(data, trade)

    def constraints(self):
        return self._constraints


def overlay_limits(shape, v) -> OverlayLimits | None:
    """The overlay term, built only in shapes that hold overlay instruments."""
    return OverlayLimits(shape, v) if shape.overlays else None
