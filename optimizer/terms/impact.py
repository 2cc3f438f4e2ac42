"""Quadratic market impact: trading ``u`` dollars of asset i costs ``eta * vol_i / ADV_i * u^2``.

In NAV fractions (``x = u / NAV``) the cost per NAV is ``impact_i * x^2`` with
``impact_i = eta * vol_i / ADV_i * NAV``: the same dollar trade costs more in a larger book.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from optimizer.problem_data import ProblemData
from optimizer.terms.base import Term, Trade, assign


def coefficient_per_usd(impact_eta: float, volatility: np.ndarray, adv_usd: np.ndarray) -> np.ndarray:
    """Impact cost per dollar traded squared, ``eta * vol / ADV`` (1 / account currency).

    ``ProblemData.impact`` is this times NAV (cost per NAV fraction squared); it is
    computed in :mod:`optimizer.problem_data`, which sits below the terms.
    """
    return impact_eta * volatility / adv_usd


def charged(coefficient: np.ndarray, trade: np.ndarray) -> np.ndarray:
    """Impact per asset, ``coefficient * trade^2``: the one formula of market impact.

    NAV fractions with ``ProblemData.impact`` (the optimizer's price), or account
    currency with :func:`coefficient_per_usd` (the simulator's fills).
    """
    return coefficient * trade ** 2


def price(data: ProblemData, trade: Trade) -> float:
    """Impact cost, NAV fraction."""
    return float(np.sum(charged(data.impact, trade.net(data))))


class MarketImpact(Term):
    name = "impact"
    weight_setting = "impact_weight"

    def __init__(self, shape, v):
        super().__init__(shape, v)
        self.root = cp.Parameter(shape.n_assets, nonneg=True, name="impact_root")
        self._expression = cp.sum_squares(cp.multiply(self.root, v.trade))

    def update(self, data: ProblemData, weight: float = 1.0) -> None:
        assign(self.root, np.sqrt(weight * data.impact))

    def objective(self):
        return self._expression

    def price(self, data: ProblemData, trade: Trade) -> float:
        return price(data, trade)
