"""Cash balance: after trades, linear costs and overlay margin, cash stays above the buffer.

``cash0 - sum(net trades) - linear costs >= cash_min + margin``; in a household, one such
row per account over its own positions (cash never moves between accounts). Market impact is an
estimate of price slippage, charged in the objective and in the result's cash, but kept
out of this constraint so the program stays a QP; the result reports cash after impact.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from optimizer.problem_data import ProblemData
from optimizer.terms import impact, linear_costs, overlay
from optimizer.terms.base import Term, Trade, assign


def cash_after(data: ProblemData, trade: Trade, *, with_impact: bool = True) -> float:
    """Cash after the trade and its costs, NAV fraction (overlay margin still counted as cash)."""
    cash = data.cash0 - float(trade.net(data).sum()) - linear_costs.price(data, trade)
    if with_impact:
        cash -= impact.price(data, trade)
    return cash


def account_cash_free_after(data: ProblemData, trade: Trade) -> np.ndarray:
    """Per account of a household: cash above its buffer after the trade and linear costs, NAV fraction."""
    spent = trade.net(data) + data.linear_cost * trade.gross(data)
    return data.account_cash_free - data.shape.account_matrix @ spent


def shortfall(data: ProblemData, trade: Trade) -> float:
    """How far cash (before impact) falls below buffer plus margin, NAV fraction; 0 if it does not
    (in a household: the largest shortfall of any account)."""
    if data.shape.accounts:
        return max(0.0, -float(account_cash_free_after(data, trade).min()))
    free = cash_after(data, trade, with_impact=False) - data.cash_min - overlay.margin(data, trade)
    return max(0.0, -free)


class Cash(Term):
    name = "cash"

    def __init__(self, shape, v):
        super().__init__(shape, v)
        self.linear_cost = cp.Parameter(shape.n_assets, nonneg=True, name="cash_linear_cost")
        if shape.accounts:
            self.available = cp.Parameter(len(shape.accounts), name="account_cash_available")
            spent = shape.account_matrix @ (v.trade + cp.multiply(self.linear_cost, v.gross))
            self._constraints = [spent <= self.available]
            return
        self.available = cp.Parameter(name="cash_available")  # cash0 - cash_min
        self.overlay_cost = cp.Parameter(len(shape.overlays), nonneg=True, name="cash_overlay_cost") if shape.overlays else None
        spent = cp.sum(v.trade) + linear_costs.paid_expression(v, self.linear_cost, self.overlay_cost)
        if shape.overlays:
            self.margin = cp.Parameter(len(shape.overlays), nonneg=True, name="overlay_margin")
            spent = spent + self.margin @ v.overlay_gross
        self._constraints = [spent <= self.available]

    def update(self, data: ProblemData, weight: float = 1.0) -> None:
        assign(self.linear_cost, data.linear_cost)
        if self.shape.accounts:
            assign(self.available, data.account_cash_free)
            return
        assign(self.available, data.cash0 - data.cash_min)
        if self.shape.overlays:
            assign(self.overlay_cost, data.overlay_cost)
            assign(self.margin, data.overlay_margin)

    def constraints(self):
        return self._constraints
