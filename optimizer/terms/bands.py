"""Tolerance bands on post-trade exposures: ``band_lower <= e_after <= band_upper`` per key.

Hard bands are plain constraints. Soft bands add non-negative slacks priced at
``band_penalty`` per NAV fraction, so a book that cannot reach its bands still gets the
best trade and the result reports how far outside it stays.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from optimizer.problem_data import ProblemData
from optimizer.terms.base import Term, Trade, assign

#: Violations smaller than this (NAV fraction) count as inside the band.
BAND_TOLERANCE = 1e-6


def violation(data: ProblemData, trade: Trade) -> np.ndarray:
    """Signed distance outside the band per key: negative below, positive above, 0 inside."""
    after = data.exposure0 + trade.exposure_change(data)
    below = np.minimum(after - data.band_lower, 0.0)
    above = np.maximum(after - data.band_upper, 0.0)
    return below + above


def price(data: ProblemData, trade: Trade) -> float:
    """Total band violation, NAV fraction."""
    return float(np.abs(violation(data, trade)).sum())


class Bands(Term):
    name = "bands"
    weight_setting = "band_penalty"   # the price of one NAV fraction outside a band (soft bands only)

    def __init__(self, shape, v):
        super().__init__(shape, v)
        m, q = len(shape.keys), len(shape.overlays)
        self.room_below = cp.Parameter(m, name="band_room_below")  # band_lower - e0 (<= 0 inside)
        self.room_above = cp.Parameter(m, name="band_room_above")  # band_upper - e0 (>= 0 inside)
        change = v.exposure_matrix @ v.trade
        if q:
            self.overlay_exposure = cp.Parameter((m, q), name="overlay_exposure")
            change = change + self.overlay_exposure @ v.overlay_trade
        if shape.soft_bands:
            self.slack_below = cp.Variable(m, nonneg=True, name="band_slack_below")
            self.slack_above = cp.Variable(m, nonneg=True, name="band_slack_above")
            self._constraints = [change + self.slack_below >= self.room_below,
                                 change - self.slack_above <= self.room_above]
            self.penalty = cp.Parameter(nonneg=True, name="band_penalty")
            self._expression = self.penalty * (cp.sum(self.slack_below) + cp.sum(self.slack_above))
        else:
            self._constraints = [change >= self.room_below, change <= self.room_above]
            self._expression = None

    def update(self, data: ProblemData, weight: float = 1.0) -> None:
        e0 = data.exposure0
        assign(self.room_below, data.band_lower - e0)
        assign(self.room_above, data.band_upper - e0)
        if self.shape.soft_bands:
            assign(self.penalty, weight)
        if len(self.shape.overlays):
            assign(self.overlay_exposure, data.overlay_exposure)

    def objective(self):
        return self._expression

    def price(self, data: ProblemData, trade: Trade) -> float:
        """Total band violation (NAV fraction) with soft bands; hard bands are constraints and price 0."""
        return price(data, trade) if self.shape.soft_bands else 0.0

    def constraints(self):
        return self._constraints
