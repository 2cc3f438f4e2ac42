"""Assemble the terms into one DPP problem per shape; update its parameters and solve.

The objective is expressed in basis points of NAV (``OBJECTIVE_SCALE``) so solver
tolerances act on numbers of order one.
"""

from __future__ import annotations


import cvxpy as cp
import numpy as np

from optimizer.errors import DPPError, InfeasibleError
from optimizer.problem_data import ProblemData, ProblemShape
from optimizer.solvers import ChainOutcome, default_chain, solve_chain
from optimizer.terms import bands, cash, limits
from optimizer.terms.bands import Bands
from optimizer.terms.base import Trade, Variables
from optimizer.terms.cash import Cash
from optimizer.terms.holding import HoldingCost
from optimizer.terms.impact import MarketImpact
from optimizer.terms.limits import TradeLimits
from optimizer.terms.linear_costs import LinearCosts
from optimizer.terms.overlay import OverlayLimits
from optimizer.terms.tax import CapitalGainsTax
from optimizer.terms.tracking import TrackingError

OBJECTIVE_SCALE = 1e4
#: Feasibility tolerance when verifying a solver's answer in numpy (NAV fraction).
VERIFY_TOLERANCE = 1e-6


class Program:
    """The cvxpy problem for one :class:`ProblemShape`, built once and re-solved with new data."""

    def __init__(self, shape: ProblemShape):
        self.shape = shape
        v = self.variables = Variables(shape)
        self.tracking = TrackingError(shape, v)
        self.impact = MarketImpact(shape, v)
        self.costs = LinearCosts(shape, v)
        self.tax = CapitalGainsTax(shape, v)
        self.bands = Bands(shape, v)
        self.cash = Cash(shape, v)
        self.limits = TradeLimits(shape, v)
        self.terms = [self.tracking, self.impact, self.costs, self.tax, self.bands, self.cash, self.limits]
        self.overlay = OverlayLimits(shape, v) if shape.overlays else None
        if self.overlay is not None:
            self.terms.append(self.overlay)
        if shape.holding_costs:
            self.terms.append(HoldingCost(shape, v))
        objective = sum(term.objective() for term in self.terms if term.objective() is not None)
        constraints = v.definitions + [c for term in self.terms for c in term.constraints()]
        self.problem = cp.Problem(cp.Minimize(OBJECTIVE_SCALE * objective), constraints)
        if not self.problem.is_dpp():
            raise DPPError("the assembled rebalance problem is not DPP; a term multiplies two parameters")
        self.solves = 0

    def update(self, data: ProblemData) -> None:
        """Write one decision's numbers into every Parameter."""
        if data.shape != self.shape:
            raise ValueError("data has a different shape from this program; build a new Program")
        s = data.settings
        weights = {self.tracking: 0.5 * s.risk_aversion, self.impact: s.impact_weight, self.costs: s.cost_weight,
                   self.tax: s.tax_weight, self.overlay: s.cost_weight}
        for term in self.terms:
            term.update(data, weights.get(term, 1.0))

    def solve(self, data: ProblemData, chain: tuple[str, ...] | None = None) -> tuple[Trade, ChainOutcome]:
        """Update, solve through the chain, and return the verified trade.

        Raises :class:`InfeasibleError` (with the conflicting constraints) when the
        hard constraints cannot hold, and :class:`SolverError` when no solver answers.
        """
        self.update(data)
        chain = chain or data.settings.solvers or default_chain(self.shape.n_assets + self.shape.n_lots)
        outcome = solve_chain(self.problem, chain, lambda: verify(data, Trade.from_variables(self.variables)),
                              warm_start=True)
        self.solves += 1
        if outcome.infeasible:
            from optimizer.reference import diagnose_infeasible

            raise InfeasibleError(diagnose_infeasible(data), outcome.attempts)
        return Trade.from_variables(self.variables), outcome


def objective_value(data: ProblemData, trade: Trade) -> float:
    """The program's objective for ``trade``, recomputed in numpy (basis points of NAV)."""
    from optimizer.terms import holding, impact, linear_costs, overlay, tax, tracking

    s = data.settings
    value = (0.5 * s.risk_aversion * tracking.price(data, trade)
             + s.impact_weight * impact.price(data, trade)
             + s.cost_weight * (linear_costs.price(data, trade) + overlay.carry(data, trade))
             + s.tax_weight * tax.cost(data, trade)
             + holding.price(data, trade))
    if data.shape.soft_bands:
        value += s.band_penalty * bands.price(data, trade)
    return OBJECTIVE_SCALE * value


def verify(data: ProblemData, trade: Trade, tolerance: float = VERIFY_TOLERANCE) -> str | None:
    """Re-check a trade against every hard rule in numpy; return what is broken, or None."""
    for rule, mask in limits.breaches(data, trade, tolerance).items():
        if mask.any():
            return f"{rule} at position {int(np.argmax(mask))}"
    short = cash.shortfall(data, trade)
    if short > tolerance:
        return f"cash below buffer by {short:.3g} of NAV"
    if not data.shape.soft_bands:
        outside = np.abs(bands.violation(data, trade))
        if outside.max(initial=0.0) > tolerance:
            key = data.shape.keys[int(outside.argmax())]
            return f"band on {key!r} broken by {outside.max():.3g}"
    if len(data.overlay0):
        after = np.abs(data.overlay0 + trade.overlay_trade)
        if after.sum() > data.overlay_gross_limit + tolerance:
            return f"overlay gross {after.sum():.4g} above limit"
        if np.any(after > data.overlay_max + tolerance):
            return f"overlay {data.shape.overlays[int(np.argmax(after - data.overlay_max))]!r} above its limit"
    return None
