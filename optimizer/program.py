"""Assemble the terms into one DPP problem per shape; update its parameters and solve.

The objective is expressed in basis points of NAV (``OBJECTIVE_SCALE``) so solver
tolerances act on numbers of order one.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable, Sequence

import cvxpy as cp
import numpy as np

from optimizer.errors import DPPError, InfeasibleError
from optimizer.problem_data import ProblemData, ProblemShape
from optimizer.reference import diagnose_infeasible
from optimizer.solvers import ChainOutcome, default_chain, solve_chain
from optimizer.terms import bands, cash, limits
from optimizer.terms.bands import Bands
from optimizer.terms.base import OBJECTIVE_SCALE, Term, Trade, Variables
from optimizer.terms.cash import Cash
from optimizer.terms.account_bands import account_bands
from optimizer.terms.holding import holding_cost
from optimizer.terms.impact import MarketImpact
from optimizer.terms.limits import TradeLimits
from optimizer.terms.linear_costs import LinearCosts
from optimizer.terms.overlay import overlay_limits
from optimizer.terms.tax import CapitalGainsTax
from optimizer.terms.tracking import TrackingError

#: Feasibility tolerance when verifying a solver's answer in numpy (NAV fraction).
VERIFY_TOLERANCE = 1e-6

#: Above this many trade variables (assets + lot slots) the program is compiled afresh for
#: each solve, without DPP (``solve_chain(ignore_dpp=True)``): cvxpy's DPP compilation
#: builds a table of variables x objective parameters that needs 167 GiB at 10,000 assets x
#: 5 lots, while a fresh compile there takes 0.3 s (``benchmarks/results/solve_speed_10000.csv``).
#: 2,000 assets x 5 lots (12,000) compile with DPP in 3.6 s and re-solve warm.
DPP_MAX_TRADE_VARIABLES = 12_000


#: What builds a term: a :class:`Term` subclass or any callable ``(shape, variables) -> Term | None``
#: (``None``: the term has nothing to do in this shape).
TermFactory = Callable[[ProblemShape, Variables], "Term | None"]

#: The built-in terms, in build order. User terms come after them (``Program(shape, extra_terms)``).
DEFAULT_TERMS: tuple[TermFactory, ...] = (TrackingError, MarketImpact, LinearCosts, CapitalGainsTax, Bands, Cash,
                                          TradeLimits, overlay_limits, holding_cost, account_bands)


class Program:
    """The cvxpy problem for one :class:`ProblemShape`, built once and re-solved with new data.

    ``extra_terms`` are user terms (see :class:`optimizer.terms.base.Term`), built after the
    built-in ones; the program sums every term's objective part, stacks every term's
    constraints, weights each term with ``term.weight(settings)`` and prices trades with
    ``term.price``: adding a term never touches this module.
    """

    def __init__(self, shape: ProblemShape, extra_terms: Sequence[TermFactory] = ()):
        self.shape = shape
        v = self.variables = Variables(shape)
        built_in = [make(shape, v) for make in DEFAULT_TERMS]
        extra = [make(shape, v) for make in extra_terms]
        #: The user terms of this shape (``extra_terms`` that built one), priced in the result.
        self.extra_terms: list[Term] = [term for term in extra if term is not None]
        self.terms: list[Term] = [term for term in built_in if term is not None] + self.extra_terms
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
        for term in self.terms:
            term.update(data, term.weight(data.settings))

    def objective_value(self, data: ProblemData, trade: Trade) -> float:
        """This program's objective for ``trade``, recomputed in numpy (basis points of NAV)."""
        return objective_value(data, trade, self.terms)

    def solve(self, data: ProblemData, chain: tuple[str, ...] | None = None) -> tuple[Trade, ChainOutcome]:
        """Update, solve through the chain, and return the verified trade.

        Raises :class:`InfeasibleError` (with the conflicting constraints) when the
        hard constraints cannot hold, and :class:`SolverError` when no solver answers.
        """
        self.update(data)
        size = self.shape.n_assets + self.shape.n_lots
        chain = chain or data.settings.solvers or default_chain(size)
        outcome = solve_chain(self.problem, chain,
                              lambda: verify(data, Trade.from_variables(self.variables), extra_terms=self.terms),
                              warm_start=True, n_variables=size, ignore_dpp=size > DPP_MAX_TRADE_VARIABLES)
        self.solves += 1
        if outcome.infeasible:
            raise InfeasibleError(diagnose_infeasible(data), outcome.attempts)
        return Trade.from_variables(self.variables), outcome


def objective_value(data: ProblemData, trade: Trade, terms: Sequence[Term] | None = None) -> float:
    """The objective for ``trade``, recomputed in numpy (basis points of NAV).

    ``terms`` are built terms (a :class:`Program`'s ``terms``); by default the built-in
    terms of ``data``'s shape (built once per shape and kept for the last few shapes).
    """
    if terms is None:
        terms = _built_in_terms(data.shape)
    return OBJECTIVE_SCALE * sum(term.weight(data.settings) * term.price(data, trade) for term in terms)


@lru_cache(maxsize=8)
def _built_in_terms(shape: ProblemShape) -> tuple[Term, ...]:
    """The built-in terms of ``shape``, built once per shape (only their numpy prices are used)."""
    return tuple(Program(shape).terms)


def verify(data: ProblemData, trade: Trade, tolerance: float = VERIFY_TOLERANCE,
           extra_terms: Sequence[Term] = ()) -> str | None:
    """Re-check a trade against every hard rule in numpy (the core rules below, then each of
    ``extra_terms``' :meth:`Term.check`, e.g. a program's terms); return what is broken, or None."""
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
    for term in extra_terms:
        broken = term.check(data, trade, tolerance)
        if broken:
            return f"{term.name}: {broken}"
    return None
