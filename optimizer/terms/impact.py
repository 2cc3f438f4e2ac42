"""Quadratic market impact: trading ``u`` dollars of asset i costs ``eta * vol_i / ADV_i * u^2``.

In NAV fractions (``x = u / NAV``) the cost per NAV is ``impact_i * x^2`` with
``impact_i = eta * vol_i / ADV_i * NAV``: the same dollar trade costs more in a larger book.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from optimizer.problem_data import ProblemData
from optimizer.terms.base import Term, Trade


def price(data: ProblemData, trade: Trade) -> float:
    """Impact cost, NAV fraction."""
    return float(np.sum(data.impact * trade.net(data) ** 2))


class MarketImpact(Term):
    name = "impact"

    def __init__(self, shape, v):
        super().__init__(shape, v)
        self.root = cp.Parameter(shape.n_assets, nonneg=True, name="impact_root")
        self._expression = cp.sum_squares(cp.multiply(self.root, v.trade))

    def update(self, data: ProblemData, weight: float = 1.0) -> None:
        self.root.value = np.sqrt(weight * data.impact)

    def objective(self):
        return self._expression
