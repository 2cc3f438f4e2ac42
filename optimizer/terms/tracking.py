"""Tracking error of post-trade exposures to the targets under the factor risk model.

With ``d = e_after - target`` (keys), the annual tracking-error variance is
``||R F' d||^2 + ||sqrt(D) * d||^2`` where ``F Omega F' + D`` is the risk model and
``R' R = Omega``. The factor part is dense (factors x assets); the specific part is
elementwise, so no n x n matrix is ever formed.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from optimizer.problem_data import ProblemData
from optimizer.terms.base import Term, Trade, assign


def deviation(data: ProblemData, trade: Trade) -> np.ndarray:
    """Post-trade exposure minus target, per key (NAV fraction)."""
    return data.exposure0 + trade.exposure_change(data) - data.target


def price(data: ProblemData, trade: Trade) -> float:
    """Annual tracking-error variance (NAV fraction squared) after ``trade``."""
    d = deviation(data, trade)
    return float(np.sum((data.factor_root @ d) ** 2) + np.sum((data.specific_sd * d) ** 2))


class TrackingError(Term):
    name = "tracking_error"
    weight_setting = "risk_aversion"
    weight_factor = 0.5

    def __init__(self, shape, v):
        super().__init__(shape, v)
        k, m, n, q = shape.n_factors, len(shape.keys), shape.n_assets, len(shape.overlays)
        self.factor_asset = cp.Parameter((k, n), name="factor_asset")
        self.factor_offset = cp.Parameter(k, name="factor_offset")
        self.specific_sd = cp.Parameter(m, nonneg=True, name="specific_sd")
        self.specific_offset = cp.Parameter(m, name="specific_offset")
        factor = self.factor_asset @ v.trade + self.factor_offset
        specific = cp.multiply(self.specific_sd, v.exposure_matrix @ v.trade) + self.specific_offset
        if q:
            self.factor_overlay = cp.Parameter((k, q), name="factor_overlay")
            self.specific_overlay = cp.Parameter((m, q), name="specific_overlay")
            factor = factor + self.factor_overlay @ v.overlay_trade
            specific = specific + self.specific_overlay @ v.overlay_trade
        self._expression = cp.sum_squares(factor) + cp.sum_squares(specific)

    def update(self, data: ProblemData, weight: float = 1.0) -> None:
        root = np.sqrt(weight)
        factor_root = root * data.factor_root
        specific_sd = root * data.specific_sd
        d0 = data.exposure0 - data.target
        assign(self.factor_asset, factor_root[:, self.shape.asset_key_position])  # = factor_root @ B
        assign(self.factor_offset, factor_root @ d0)
        assign(self.specific_sd, specific_sd)
        assign(self.specific_offset, specific_sd * d0)
        if len(self.shape.overlays):
            assign(self.factor_overlay, factor_root @ data.overlay_exposure)
            assign(self.specific_overlay, specific_sd[:, None] * data.overlay_exposure)

    def objective(self):
        return self._expression

    def price(self, data: ProblemData, trade: Trade) -> float:
        return price(data, trade)
