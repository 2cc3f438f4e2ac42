"""Tracking error of post-trade exposures to the targets under the factor risk model.

With ``d = e_after - target`` (keys), the annual tracking-error variance is
``||R F' d||^2 + ||sqrt(D) * d||^2`` where ``F Omega F' + D`` is the risk model and
``R' R = Omega``. The factor part is dense (factors x assets); the specific part is
elementwise, so no n x n matrix is ever formed. When each key holds one asset (and no
overlay trades), the specific part is written on the trade variable itself, expanded into
``sd^2 t^2 + 2 sd^2 d0 t + (sd d0)^2``: the solver then sees a diagonal quadratic on the
trades instead of one auxiliary variable and one equality row per key.
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


def diagonal_specific(shape) -> bool:
    """Whether every key of ``shape`` holds exactly one asset (``B`` is a permutation)."""
    return len(shape.keys) == shape.n_assets and len(set(shape.asset_key_position.tolist())) == shape.n_assets


class TrackingError(Term):
    name = "tracking_error"
    weight_setting = "risk_aversion"
    weight_factor = 0.5

    def __init__(self, shape, v):
        super().__init__(shape, v)
        k, m, n, q = shape.n_factors, len(shape.keys), shape.n_assets, len(shape.overlays)
        self.factor_asset = cp.Parameter((k, n), name="factor_asset")
        self.factor_offset = cp.Parameter(k, name="factor_offset")
        factor = self.factor_asset @ v.trade + self.factor_offset
        if q:
            self.factor_overlay = cp.Parameter((k, q), name="factor_overlay")
            factor = factor + self.factor_overlay @ v.overlay_trade
        #: True when each key holds exactly one asset and there is no overlay: the specific part
        #: is then a weighted sum of squares of the trade itself, a diagonal in the solver's
        #: quadratic form (no auxiliary variable and row per key).
        self.diagonal = not q and diagonal_specific(shape)
        if self.diagonal:
            self.specific_variance = cp.Parameter(n, nonneg=True, name="specific_variance")
            self.specific_slope = cp.Parameter(n, name="specific_slope")
            self.specific_constant = cp.Parameter(name="specific_constant")
            specific = (cp.sum(cp.multiply(self.specific_variance, cp.square(v.trade)))
                        + self.specific_slope @ v.trade + self.specific_constant)
        else:
            self.specific_sd = cp.Parameter(m, nonneg=True, name="specific_sd")
            self.specific_offset = cp.Parameter(m, name="specific_offset")
            residual = cp.multiply(self.specific_sd, v.exposure_matrix @ v.trade) + self.specific_offset
            if q:
                self.specific_overlay = cp.Parameter((m, q), name="specific_overlay")
                residual = residual + self.specific_overlay @ v.overlay_trade
            specific = cp.sum_squares(residual)
        self._expression = cp.sum_squares(factor) + specific

    def update(self, data: ProblemData, weight: float = 1.0) -> None:
        root = np.sqrt(weight)
        factor_root = root * data.factor_root
        specific_sd = root * data.specific_sd
        d0 = data.exposure0 - data.target
        at = self.shape.asset_key_position
        assign(self.factor_asset, factor_root[:, at])  # = factor_root @ B
        assign(self.factor_offset, factor_root @ d0)
        if self.diagonal:
            # sum over assets of (sd * (trade + d0))^2, expanded: sd^2 t^2 + 2 sd^2 d0 t + (sd d0)^2
            variance = specific_sd[at] ** 2
            assign(self.specific_variance, variance)
            assign(self.specific_slope, 2.0 * variance * d0[at])
            assign(self.specific_constant, float(np.sum((specific_sd * d0) ** 2)))
            return
        assign(self.specific_sd, specific_sd)
        assign(self.specific_offset, specific_sd * d0)
        if len(self.shape.overlays):
            assign(self.factor_overlay, factor_root @ data.overlay_exposure)
            assign(self.specific_overlay, specific_sd[:, None] * data.overlay_exposure)

    def objective(self):
        return self._expression

    def price(self, data: ProblemData, trade: Trade) -> float:
        return price(data, trade)
