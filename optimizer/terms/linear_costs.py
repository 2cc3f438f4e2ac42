"""Linear trading costs: half-spread and commission on both sides, per-contract overlay costs."""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from optimizer.problem_data import ProblemData
from optimizer.terms.base import Term, Trade, assign


def charged(rate: np.ndarray, traded: np.ndarray) -> np.ndarray:
    """Linear cost per asset, ``rate * |traded|``, in the units of ``traded``.

    The one formula of spread and commission: the optimizer's price (NAV fractions) and
    the simulator's fills (account currency, :func:`optimizer.backtest.costs.price_trade`)
    both call it.
    """
    return rate * np.abs(traded)


def price_parts(data: ProblemData, trade: Trade) -> dict[str, float]:
    """Spread, commission and overlay cost, NAV fraction each."""
    gross = trade.gross(data)
    return {
        "spread": float(charged(data.half_spread, gross).sum()),
        "commission": float(charged(data.commission, gross).sum()),
        "overlay": float(data.overlay_cost @ np.abs(trade.overlay_trade)),
    }


def price(data: ProblemData, trade: Trade) -> float:
    """All linear costs, NAV fraction."""
    return sum(price_parts(data, trade).values())


def paid_expression(v, linear_cost: cp.Parameter, overlay_cost: cp.Parameter | None) -> cp.Expression:
    """The linear costs as a cvxpy expression (shared by the objective and the cash constraint)."""
    paid = linear_cost @ v.gross
    if overlay_cost is not None:
        paid = paid + overlay_cost @ cp.abs(v.overlay_trade)
    return paid


class LinearCosts(Term):
    name = "linear_costs"
    weight_setting = "cost_weight"

    def __init__(self, shape, v):
        super().__init__(shape, v)
        self.linear_cost = cp.Parameter(shape.n_assets, nonneg=True, name="linear_cost")
        self.overlay_cost = cp.Parameter(len(shape.overlays), nonneg=True, name="overlay_cost") if shape.overlays else None
        self._expression = paid_expression(v, self.linear_cost, self.overlay_cost)

    def update(self, data: ProblemData, weight: float = 1.0) -> None:
        assign(self.linear_cost, weight * data.linear_cost)
        if self.overlay_cost is not None:
            assign(self.overlay_cost, weight * data.overlay_cost)

    def objective(self):
        return self._expression

    def price(self, data: ProblemData, trade: Trade) -> float:
        return price(data, trade)
