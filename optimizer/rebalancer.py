"""The thin API: ``rebalance(...)`` for one decision, ``Rebalancer`` to re-solve cheaply.

A :class:`Rebalancer` keeps one built :class:`Program` per problem shape. Solving another
date, account or set of targets with the same shape only writes new parameter values.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Sequence

import numpy as np

from optimizer.model import Case, Market, OverlayInstrument, Portfolio, Restrictions, Settings, Targets, TaxRules
from optimizer.problem_data import ProblemData, ProblemShape, prepare
from optimizer.program import Program, TermFactory
from optimizer.result import RebalanceResult, build_result
from optimizer.rounding import round_to_whole_units
from optimizer.terms.base import Trade

#: A trade smaller than this (NAV fraction) counts as none when applying the wash-sale rule.
WASH_SALE_TOLERANCE = 1e-7


class Rebalancer:
    """Builds each problem shape once and re-solves it as data changes.

    Parameters
    ----------
    max_programs:
        How many built problems to keep (least recently used are dropped).
    terms:
        User terms added to every problem this rebalancer builds: :class:`optimizer.terms.base.Term`
        subclasses or callables ``(shape, variables) -> Term | None`` (see ARCHITECTURE.md).
    """

    def __init__(self, max_programs: int = 16, terms: Sequence[TermFactory] = ()):
        self.max_programs = max_programs
        self.terms = tuple(terms)
        self._programs: OrderedDict[ProblemShape, Program] = OrderedDict()
        self.builds = 0

    def program(self, shape: ProblemShape) -> Program:
        """The built program for ``shape`` (built now if new)."""
        if shape in self._programs:
            self._programs.move_to_end(shape)
            return self._programs[shape]
        program = Program(shape, self.terms)
        self.builds += 1
        self._programs[shape] = program
        while len(self._programs) > self.max_programs:
            self._programs.popitem(last=False)
        return program

    def rebalance(
        self,
        portfolio: Portfolio,
        targets: Targets,
        market: Market,
        settings: Settings = Settings(),
        *,
        tax: TaxRules = TaxRules(),
        overlays: Sequence[OverlayInstrument] = (),
        restrictions: Restrictions | None = None,
        universe: Sequence[str] | None = None,
        lot_slots: int | None = None,
        whole_units: bool = False,
    ) -> RebalanceResult:
        """Decide one rebalance. See :func:`optimizer.rebalance`."""
        data = prepare(portfolio, targets, market, settings, tax=tax, overlays=overlays,
                       restrictions=restrictions, universe=universe, lot_slots=lot_slots)
        return self.solve(data, whole_units=whole_units)

    def solve_case(self, case: Case, **options) -> RebalanceResult:
        """Solve a :class:`Case` (its options, overridden by ``options``). See :func:`solve_case`."""
        return self.rebalance(case.portfolio, case.targets, case.market, case.settings, **{**case.options(), **options})

    def solve(self, data: ProblemData, *, whole_units: bool = False) -> RebalanceResult:
        """Solve prepared data (a second pass, repeated while needed, when the wash-sale rule bites)."""
        started = time.perf_counter()
        program = self.program(data.shape)
        trade, outcome = program.solve(data)
        attempts = list(outcome.attempts)
        accurate = outcome.accurate
        fixes: list[str] = []
        if data.settings.wash_sale:
            # A re-solve can move a harvest to another asset, so repeat until no asset both buys
            # and sells a loss lot. Each round fixes at least one asset for good, so it ends.
            for _ in range(data.shape.n_assets):
                fixed, new_fixes = wash_sale_fix(data, trade)
                if not new_fixes:
                    break
                fixes += new_fixes
                data = fixed
                trade, outcome = program.solve(data)
                attempts += outcome.attempts
                accurate = accurate and outcome.accurate
        if whole_units:
            trade = round_to_whole_units(data, trade)
        return build_result(data, trade, solver=outcome.solver, accurate=accurate, attempts=attempts,
                            solve_seconds=time.perf_counter() - started, wash_sale_fixes=fixes,
                            whole_units=whole_units, program=program)


def wash_sale_fix(data: ProblemData, trade: Trade) -> tuple[ProblemData, list[str]]:
    """Second pass of the wash-sale method: per asset that both buys and sells loss lots,
    keep the larger side and forbid the other. Returns the tightened data and what was fixed."""
    L = data.shape.lot_slots
    loss = (data.lot_tax < 0).reshape(-1, L)
    loss_sales = (trade.sell.reshape(-1, L) * loss).sum(axis=1)
    both = (trade.buy > WASH_SALE_TOLERANCE) & (loss_sales > WASH_SALE_TOLERANCE)
    if not both.any():
        return data, []
    buy_max = data.buy_max.copy()
    sell_max = data.lot_sell_max.copy().reshape(-1, L)
    fixes = []
    for i in np.nonzero(both)[0]:
        asset = data.shape.assets[i]
        if trade.buy[i] >= loss_sales[i]:
            sell_max[i, loss[i]] = 0.0
            fixes.append(f"{asset}: kept the buy, no loss lots sold")
        else:
            buy_max[i] = 0.0
            fixes.append(f"{asset}: kept the loss sale, no buy")
    return data.with_bounds(buy_max=buy_max, lot_sell_max=sell_max.ravel()), fixes


def rebalance(
    portfolio: Portfolio,
    targets: Targets,
    market: Market,
    settings: Settings = Settings(),
    **options,
) -> RebalanceResult:
    """Decide what to trade for one account on one date.

    Parameters
    ----------
    portfolio, targets, market, settings:
        The validated inputs (see :mod:`optimizer.model`).
    **options:
        ``tax`` (:class:`TaxRules`), ``overlays`` (instruments), ``restrictions``,
        ``universe``, ``lot_slots``, ``whole_units`` (round to whole shares/contracts),
        ``terms`` (user terms, see :class:`Rebalancer`).

    Returns
    -------
    RebalanceResult
        Trades, lot sales, overlay, exposures, costs and diagnostics.

    Raises
    ------
    InputError, InfeasibleError, SolverError
    """
    terms = options.pop("terms", ())
    return Rebalancer(terms=terms).rebalance(portfolio, targets, market, settings, **options)


def solve_case(case: Case, rebalancer: Rebalancer | None = None, **options) -> RebalanceResult:
    """Solve one :class:`Case`, with a shared ``rebalancer`` when given (its built problems are reused).

    ``options`` are those of :func:`rebalance` (e.g. ``whole_units=True``). This lives here,
    not on ``Case``, so the model layer never imports the engine.
    """
    return (rebalancer or Rebalancer()).solve_case(case, **options)
