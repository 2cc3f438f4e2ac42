"""Per-asset and per-lot trade limits: no lot oversold, no-buy/no-sell/no-trade, shorts, max trade."""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from optimizer.problem_data import ProblemData
from optimizer.terms.base import Term, Trade, assign


def breaches(data: ProblemData, trade: Trade, tolerance: float = 1e-7) -> dict[str, np.ndarray]:
    """Where a trade exceeds a limit (boolean masks), for verification of solver answers."""
    return {
        "lot oversold": trade.sell > data.lot_sell_max + tolerance,
        "buy limit": trade.buy > data.buy_max + tolerance,
        "short limit": trade.short > data.short_max + tolerance,
        "max trade": trade.gross(data) > data.trade_max + tolerance,
        "negative trade": np.concatenate([trade.buy, trade.sell, trade.short]) < -tolerance,
    }


class TradeLimits(Term):
    name = "limits"

    def __init__(self, shape, v):
        super().__init__(shape, v)
        n = shape.n_assets
        self.buy_max = cp.Parameter(n, nonneg=True, name="buy_max")
        self.sell_max = cp.Parameter(shape.n_lots, nonneg=True, name="lot_sell_max")
        self._constraints = [v.buy <= self.buy_max, v.sell <= self.sell_max]
        if shape.shorts:
            self.short_max = cp.Parameter(n, nonneg=True, name="short_max")
            self._constraints.append(v.short <= self.short_max)
        if shape.trade_caps:
            self.trade_max = cp.Parameter(n, nonneg=True, name="trade_max")
            self._constraints.append(v.gross <= self.trade_max)

    def update(self, data: ProblemData, weight: float = 1.0) -> None:
        assign(self.buy_max, data.buy_max)
        assign(self.sell_max, data.lot_sell_max)
        if self.shape.shorts:
            assign(self.short_max, data.short_max)
        if self.shape.trade_caps:
            assign(self.trade_max, data.trade_max)

    def constraints(self):
        return self._constraints
