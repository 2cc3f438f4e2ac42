"""Capital-gains tax, lot by lot: selling ``s`` of lot j realizes ``g_j = (1 - basis_j / price) * s``.

The tax due now is ``rate_j * g_j`` (:func:`price`, what the result reports). The objective
charges what the sale is worth (:func:`cost`): ``TaxRules.realization_cost`` per dollar of
gain, the rate now minus the discounted tax the sale avoids later. Loss lots have a
negative gain, so selling them earns a benefit (harvesting).

Netting within the year (a convex approximation): with ``X = lot_tax_cost @ sell +
tax_offset``, where ``tax_offset`` values the year's realized gains so far (plus the
ordinary-income offset still available), the objective charges ``max(X, k X)`` less its
value with no trade, ``k = carry_value``. While ``X > 0`` (losses sold meet gains) every
dollar counts in full; below, losses can only be carried forward and count for ``k``.
With no year-to-date information ``k = 1`` and the charge is linear.

Waiting for long-term: a lot whose ``lot_wait_cost`` (``TaxRules.wait_cost``) exceeds its
``lot_tax_cost`` is charged the difference on top, linearly, outside the netting: the
sale then costs at least the tax saved per year by waiting until it turns long-term.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from optimizer.problem_data import ProblemData
from optimizer.terms.base import Term, Trade, assign


def realized_gain(data: ProblemData, trade: Trade) -> np.ndarray:
    """Gain realized per lot slot, NAV fraction (negative for losses)."""
    return data.lot_gain * trade.sell


def price(data: ProblemData, trade: Trade) -> float:
    """Tax due now on the trade's lot sales, NAV fraction (negative is a benefit)."""
    return float(data.lot_tax @ trade.sell)


def cost(data: ProblemData, trade: Trade) -> float:
    """What the trade's lot sales cost after deferral and netting, plus the premium of selling
    lots soon long-term now (the objective's tax part), NAV fraction."""
    return netted(data, float(data.lot_tax_cost @ trade.sell)) + float(wait_premium(data) @ trade.sell)


def wait_premium(data: ProblemData) -> np.ndarray:
    """Per lot slot, what selling now is charged beyond its valued tax for not waiting until
    the lot turns long-term: ``max(lot_wait_cost - lot_tax_cost, 0)`` per dollar sold where
    the lot has a waiting cost (0 elsewhere)."""
    return np.where(data.lot_wait_cost > 0, np.maximum(data.lot_wait_cost - data.lot_tax_cost, 0.0), 0.0)


def netted(data: ProblemData, valued: float) -> float:
    """``max(X, k X) - max(X0, k X0)`` for ``X = valued + tax_offset`` (see the module docstring)."""
    k, x0 = data.carry_value, data.tax_offset
    x = valued + x0
    return max(x, k * x) - max(x0, k * x0)


class CapitalGainsTax(Term):
    """The tax term: linear ``lot_tax_cost @ sell``, or the netted ``max(X, kX)`` form in shapes
    with ``tax_netting`` (a variable and two rows more, built only where the year to date is known)."""

    name = "tax"
    weight_setting = "tax_weight"

    def __init__(self, shape, v):
        super().__init__(shape, v)
        self.lot_tax = cp.Parameter(shape.n_lots, name="lot_tax")
        self._constraints = []
        if not shape.tax_netting:
            self._expression = self.lot_tax @ v.sell              # valued tax + waiting premium
            return
        self.wait = cp.Parameter(shape.n_lots, nonneg=True, name="lot_wait_premium")
        self.lot_tax_carried = cp.Parameter(shape.n_lots, name="lot_tax_carried")   # k * lot_tax
        self.offset = cp.Parameter(name="tax_offset")
        self.offset_carried = cp.Parameter(name="tax_offset_carried")
        self.at_zero = cp.Parameter(name="tax_at_zero")
        self.charged = cp.Variable(name="tax_charged")
        self._constraints = [self.charged >= self.lot_tax @ v.sell + self.offset,
                             self.charged >= self.lot_tax_carried @ v.sell + self.offset_carried]
        self._expression = self.charged - self.at_zero + self.wait @ v.sell

    def update(self, data: ProblemData, weight: float = 1.0) -> None:
        premium = weight * wait_premium(data)
        if not self.shape.tax_netting:
            assign(self.lot_tax, weight * data.lot_tax_cost + premium)
            return
        assign(self.lot_tax, weight * data.lot_tax_cost)
        assign(self.wait, premium)
        k, x0 = data.carry_value, data.tax_offset
        assign(self.lot_tax_carried, weight * k * data.lot_tax_cost)
        assign(self.offset, weight * x0)
        assign(self.offset_carried, weight * k * x0)
        assign(self.at_zero, weight * max(x0, k * x0))

    def constraints(self):
        return self._constraints

    def objective(self):
        return self._expression

    def price(self, data: ProblemData, trade: Trade) -> float:
        """What the objective charges for the lot sales (:func:`cost`: deferral and netting), not the tax due now."""
        return cost(data, trade)
