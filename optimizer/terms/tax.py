"""Capital-gains tax, lot by lot: selling ``s`` of lot j realizes ``g_j = (1 - basis_j / price) * s``.

The tax due now is ``rate_j * g_j`` (:func:`price`, what the result reports). The objective
charges what the sale is worth (:func:`cost`): ``TaxRules.realization_cost`` per dollar of
gain, the rate now minus the discounted tax the sale avoids later. Loss lots have a
negative gain, so selling them earns a benefit (harvesting).
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from optimizer.problem_data import ProblemData
from optimizer.terms.base import Term, Trade


def realized_gain(data: ProblemData, trade: Trade) -> np.ndarray:
    """Gain realized per lot slot, NAV fraction (negative for losses)."""
    slot_price = np.repeat(data.price, data.shape.lot_slots)
    gain_fraction = np.where(data.lot_ids != "", 1.0 - data.lot_basis / slot_price, 0.0)
    return gain_fraction * trade.sell


def price(data: ProblemData, trade: Trade) -> float:
    """Tax due now on the trade's lot sales, NAV fraction (negative is a benefit)."""
    return float(data.lot_tax @ trade.sell)


def cost(data: ProblemData, trade: Trade) -> float:
    """What the trade's lot sales cost after deferral (the objective's tax part), NAV fraction."""
    return float(data.lot_tax_cost @ trade.sell)


class CapitalGainsTax(Term):
    name = "tax"

    def __init__(self, shape, v):
        super().__init__(shape, v)
        self.lot_tax = cp.Parameter(shape.n_lots, name="lot_tax")
        self._expression = self.lot_tax @ v.sell

    def update(self, data: ProblemData, weight: float = 1.0) -> None:
        self.lot_tax.value = weight * data.lot_tax_cost

    def objective(self):
        return self._expression
