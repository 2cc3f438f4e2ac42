"""What every term shares: the decision variables, a numpy trade, and the term interface.

A term owns its cvxpy Parameters (created once per problem shape), writes new values
into them per decision (``update``), contributes an objective part and/or constraints,
and prices any trade in plain numpy (``price``) so tests, the result and the
backtester all charge exactly what the optimizer saw.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import cvxpy as cp
import numpy as np

from optimizer.problem_data import ProblemData, ProblemShape

#: The objective is stated in basis points of NAV (NAV fractions times this), so solver
#: tolerances act on numbers of order one.
OBJECTIVE_SCALE = 1e4


def assign(parameter: cp.Parameter, value) -> None:
    """Write ``value`` into ``parameter`` without cvxpy's per-assignment projection check.

    ``parameter.value = value`` re-checks the parameter's attributes (sign, symmetry) with a
    projection on every write, a large share of a small problem's update time; the values
    here come from :func:`optimizer.problem_data.prepare`, which checked them once. Only the
    shape is checked. User terms may keep using ``.value``.
    """
    array = np.asarray(value, dtype=float)
    if array.shape != parameter.shape:
        raise ValueError(f"parameter {parameter.name()!r} expects shape {parameter.shape}, got {array.shape}")
    parameter.save_value(array)


class Variables:
    """Decision variables of one problem shape, all in NAV fractions.

    ``buy`` (assets) and ``sell`` (lot slots) are non-negative, ``short`` opens short
    positions (only in shapes that allow shorts), ``overlay_trade`` changes overlay
    notionals (signed) and ``overlay_gross`` bounds the absolute post-trade overlay
    notionals. ``trade`` is the net trade per asset, a variable of its own tied to the
    others by ``definitions``: the dense factor rows then multiply n trade entries
    instead of every lot slot, which keeps the solver's matrices sparse.
    """

    def __init__(self, shape: ProblemShape):
        n, q = shape.n_assets, len(shape.overlays)
        self.shape = shape
        self.buy = cp.Variable(n, nonneg=True, name="buy")
        self.sell = cp.Variable(shape.n_lots, nonneg=True, name="sell")
        self.short = cp.Variable(n, nonneg=True, name="short") if shape.shorts else None
        self.overlay_trade = cp.Variable(q, name="overlay_trade") if q else None
        self.overlay_gross = cp.Variable(q, nonneg=True, name="overlay_gross") if q else None
        self.lot_matrix = shape.lot_matrix
        self.exposure_matrix = shape.exposure_matrix
        sold = self.lot_matrix @ self.sell
        self.trade = cp.Variable(n, name="trade")
        net = self.buy - sold - self.short if self.short is not None else self.buy - sold
        self.gross = self.buy + sold + self.short if self.short is not None else self.buy + sold
        self.definitions = [self.trade == net]


@dataclass(frozen=True)
class Trade:
    """A solved (or hand-made) trade in NAV fractions, shaped like :class:`Variables`."""

    buy: np.ndarray
    sell: np.ndarray
    short: np.ndarray
    overlay_trade: np.ndarray

    @classmethod
    def zero(cls, shape: ProblemShape) -> "Trade":
        return cls(np.zeros(shape.n_assets), np.zeros(shape.n_lots), np.zeros(shape.n_assets),
                   np.zeros(len(shape.overlays)))

    @classmethod
    def from_variables(cls, v: Variables) -> "Trade":
        def value(var):
            return np.zeros(0) if var is None else np.asarray(var.value, dtype=float).copy()

        short = value(v.short) if v.short is not None else np.zeros(v.shape.n_assets)
        return cls(value(v.buy), value(v.sell), short, value(v.overlay_trade))

    def sold(self, data: ProblemData) -> np.ndarray:
        """Sales per asset (sum over its lots)."""
        return self.sell.reshape(-1, data.shape.lot_slots).sum(axis=1)

    def net(self, data: ProblemData) -> np.ndarray:
        """Signed trade per asset: buys minus lot sales minus shorts."""
        return self.buy - self.sold(data) - self.short

    def gross(self, data: ProblemData) -> np.ndarray:
        """Traded value per asset, both sides."""
        return self.buy + self.sold(data) + self.short

    def exposure_change(self, data: ProblemData) -> np.ndarray:
        """Change of exposure per key from holdings and overlay."""
        by_key = np.bincount(data.shape.asset_key_position, weights=self.net(data), minlength=len(data.shape.keys))
        return by_key + data.overlay_exposure @ self.overlay_trade  # = B @ net + A @ overlay


class Term(ABC):
    """One cost or constraint of the program: its cvxpy part, its per-decision update and its numpy price.

    A term is built once per problem shape as ``TermClass(shape, variables)``: it creates
    its cvxpy Parameters (and any auxiliary Variables) and its expression there. Per
    decision, :meth:`update` writes numbers into the Parameters. :meth:`price` evaluates
    the same objective part in plain numpy for any trade, so results, tests and the
    simulator's fills charge what the optimizer saw; the parity tests check
    ``objective().value == weight(settings) * price(data, trade)`` for every term.

    To add a term, subclass this and pass the class (or any callable
    ``(shape, variables) -> Term | None``) to ``Rebalancer(terms=[...])``; nothing in
    :mod:`optimizer.program` changes. See ARCHITECTURE.md for a worked example.

    Class attributes
    ----------------
    name:
        Label of the term (result keys, error messages).
    weight_setting:
        Name of the :class:`optimizer.Settings` field that weights the objective part,
        or ``None`` for weight 1 (a user term usually carries its own weight).
    weight_factor:
        Multiplies that setting (0.5 for ``0.5 * risk_aversion * variance``).
    """

    name: str = "term"
    weight_setting: str | None = None
    weight_factor: float = 1.0

    def __init__(self, shape: ProblemShape, v: Variables):
        self.shape = shape
        self.v = v

    def weight(self, settings) -> float:
        """The objective weight this decision's settings give the term (folded into its Parameters)."""
        if self.weight_setting is None:
            return self.weight_factor
        return self.weight_factor * float(getattr(settings, self.weight_setting))

    @abstractmethod
    def update(self, data: ProblemData, weight: float = 1.0) -> None:
        """Write this decision's numbers into the term's Parameters.

        ``weight`` scales the objective part. It is folded into the Parameters (not a
        Parameter of its own) because DPP forbids a parameter times a parametrized term.
        """

    def objective(self) -> cp.Expression | None:
        """The term's weighted cost in NAV fractions, or None for a pure constraint."""
        return None

    def constraints(self) -> list[cp.Constraint]:
        return []

    def price(self, data: ProblemData, trade: Trade) -> float:
        """The objective part for ``trade`` before its weight, in plain numpy (NAV fraction); 0 for a pure constraint."""
        return 0.0

    def check(self, data: ProblemData, trade: Trade, tolerance: float) -> str | None:
        """What of this term's hard constraints ``trade`` breaks (beyond ``tolerance``), or None.

        The program re-checks every solver answer with this before accepting it. The
        built-in rules are checked by :func:`optimizer.program.verify`; a user term with
        constraints should override this.
        """
        return None
