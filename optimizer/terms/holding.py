"""A cost per year of holding a position, linear in its weight: e.g. the tax drag of income
(interest, dividends) taxed every year in a taxable account, which is what makes asset
location matter in a household (:mod:`optimizer.household`).

The objective charges the change the trade makes, ``holding_cost @ net`` (NAV fraction
per year), so a book that does not trade pays nothing here. Built only in shapes with
``holding_costs``.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from optimizer.problem_data import ProblemData
from optimizer.terms.base import Term, Trade, assign


def price(data: ProblemData, trade: Trade) -> float:
    """Change of the yearly holding cost the trade makes, NAV fraction (negative: it saves)."""
    if not len(data.holding_cost):
        return 0.0
    return float(data.holding_cost @ trade.net(data))


def held(data: ProblemData, trade: Trade) -> float:
    """Yearly holding cost of the book after the trade, NAV fraction."""
    if not len(data.holding_cost):
        return 0.0
    return float(data.holding_cost @ (data.weight0 + trade.net(data)))


class HoldingCost(Term):
    """Built by :func:`holding_cost` only in shapes with ``holding_costs``; weight 1 (the costs
    come priced per year, like the tracking error)."""

    name = "holding_cost"

    def __init__(self, shape, v):
        super().__init__(shape, v)
        self.cost = cp.Parameter(shape.n_assets, name="holding_cost")
        self._expression = self.cost @ v.trade

    def update(self, data: ProblemData, weight: float = 1.0) -> None:
        assign(self.cost, weight * np.asarray(data.holding_cost, dtype=float))

    def objective(self):
        return self._expression

    def price(self, data: ProblemData, trade: Trade) -> float:
        return price(data, trade)


def holding_cost(shape, v) -> HoldingCost | None:
    """The holding-cost term, built only in shapes where some position costs something to hold."""
    return HoldingCost(shape, v) if shape.holding_costs else None
