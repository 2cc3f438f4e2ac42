"""Per-account tolerance bands in a household (:mod:`optimizer.household`).

Each banded (account, key) row bounds the account's own post-trade exposure to the key as
a fraction of the account: ``lower * share <= M (weight0 + trade) <= upper * share``, where
``M`` sums the account's positions of the key and ``share`` is the account's fraction of
the household (both sides in household NAV fractions). Hard or soft like the household
bands (``Settings.bands``); soft rows are priced at ``band_penalty`` per NAV fraction.
Built only in shapes with ``account_band_rows``.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from optimizer.problem_data import ProblemData, ProblemShape
from optimizer.terms.base import Term, Trade, assign


def row_matrix(shape: ProblemShape) -> sp.csr_matrix:
    """``M`` (banded rows x positions): 1 where a position is the row's account and key."""
    rows, cols = [], []
    for r, (account, key) in enumerate(shape.account_band_rows):
        for p, (a, k) in enumerate(zip(shape.asset_account, shape.asset_keys)):
            if a == account and k == shape.keys[key]:
                rows.append(r)
                cols.append(p)
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(shape.account_band_rows), shape.n_assets))


def violation(data: ProblemData, trade: Trade) -> np.ndarray:
    """Signed distance outside each banded row (household NAV fraction): < 0 below, > 0 above."""
    after = row_matrix(data.shape) @ (data.weight0 + trade.net(data))
    return np.minimum(after - data.account_band_lower, 0.0) + np.maximum(after - data.account_band_upper, 0.0)


class AccountBands(Term):
    name = "account_bands"
    weight_setting = "band_penalty"

    def __init__(self, shape, v):
        super().__init__(shape, v)
        m = len(shape.account_band_rows)
        self.room_below = cp.Parameter(m, name="account_band_room_below")
        self.room_above = cp.Parameter(m, name="account_band_room_above")
        change = row_matrix(shape) @ v.trade
        if shape.soft_bands:
            below = cp.Variable(m, nonneg=True, name="account_band_slack_below")
            above = cp.Variable(m, nonneg=True, name="account_band_slack_above")
            self._constraints = [change + below >= self.room_below, change - above <= self.room_above]
            self.penalty = cp.Parameter(nonneg=True, name="account_band_penalty")
            self._expression = self.penalty * (cp.sum(below) + cp.sum(above))
        else:
            self._constraints = [change >= self.room_below, change <= self.room_above]
            self._expression = None

    def update(self, data: ProblemData, weight: float = 1.0) -> None:
        before = row_matrix(self.shape) @ data.weight0
        assign(self.room_below, data.account_band_lower - before)
        assign(self.room_above, data.account_band_upper - before)
        if self.shape.soft_bands:
            assign(self.penalty, weight)

    def objective(self):
        return self._expression

    def constraints(self):
        return self._constraints

    def price(self, data: ProblemData, trade: Trade) -> float:
        """Total violation (NAV fraction) with soft bands; hard bands price 0."""
        return float(np.abs(violation(data, trade)).sum()) if self.shape.soft_bands else 0.0

    def check(self, data: ProblemData, trade: Trade, tolerance: float) -> str | None:
        if self.shape.soft_bands:
            return None
        outside = np.abs(violation(data, trade))
        if outside.max(initial=0.0) <= tolerance:
            return None
        account, key = self.shape.account_band_rows[int(outside.argmax())]
        return (f"band of account {self.shape.accounts[account]!r} on {self.shape.keys[key]!r} broken by "
                f"{outside.max():.3g}")


def account_bands(shape, v) -> AccountBands | None:
    """The per-account band term, built only in household shapes with banded accounts."""
    return AccountBands(shape, v) if shape.account_band_rows else None
