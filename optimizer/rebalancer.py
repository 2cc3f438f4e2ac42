"""The thin API: ``rebalance(...)`` for one decision, ``Rebalancer`` to re-solve cheaply.

A :class:`Rebalancer` keeps one built :class:`Program` per problem shape. Solving another
date, account or set of targets with the same shape only writes new parameter values.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from optimizer.direct import DirectProgram
from optimizer.lot_pooling import lots_interchangeable, pool_lots, unpool_sells
from optimizer.model import Case, Market, OverlayInstrument, Portfolio, Restrictions, Settings, Targets, TaxRules
from optimizer.problem_data import ProblemData, ProblemShape, prepare
from optimizer.program import Program, TermFactory
from optimizer.result import RebalanceResult, build_result
from optimizer.rounding import round_to_whole_units
from optimizer.terms.base import Trade
from optimizer.wash_sale import WASH_SALE_TOLERANCE, WashGroups, resolve_conflicts


class Rebalancer:
    """Builds each problem shape once and re-solves it as data changes.

    Parameters
    ----------
    max_programs:
        How many built problems to keep (least recently used are dropped).
    terms:
        User terms added to every problem this rebalancer builds: :class:`optimizer.terms.base.Term`
        subclasses or callables ``(shape, variables) -> Term | None`` (see ARCHITECTURE.md).
    direct:
        Re-solve with PIQP through the program's kept canonical form
        (:class:`optimizer.direct.DirectProgram`, the default) when the chain starts with
        PIQP; False: always through cvxpy and the solver chain. The answers are the same.
    """

    def __init__(self, max_programs: int = 16, terms: Sequence[TermFactory] = (), direct: bool = True):
        self.max_programs = max_programs
        self.terms = tuple(terms)
        self.direct = direct
        self._programs: OrderedDict[ProblemShape, Program] = OrderedDict()
        self._direct: dict[ProblemShape, DirectProgram] = {}
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
            dropped, _ = self._programs.popitem(last=False)
            self._direct.pop(dropped, None)
        return program

    def runner(self, data: ProblemData) -> Program | DirectProgram:
        """What solves ``data``'s shape: its :class:`DirectProgram` (compiled on first use),
        or the program itself when ``direct`` is off."""
        program = self.program(data.shape)
        if not self.direct:
            return program
        runner = self._direct.get(data.shape)
        if runner is None or runner.program is not program:
            runner = self._direct[data.shape] = DirectProgram(program)
        return runner

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
        """Solve prepared data; with the wash-sale rule, resolve same-date conflicts per wash-sale
        group (:func:`optimizer.wash_sale.resolve_conflicts`: relaxed solve, scored decisions,
        one settling re-solve; in problems up to 1,000 trade variables also a certificate of
        never losing to the first version's two-pass method and a local search).
        ``wash_sale_fixes`` lists each decided group and which step decided it."""
        return self.solve_parts(data, whole_units=whole_units)[0]

    def solve_parts(self, data: ProblemData, *, whole_units: bool = False
                    ) -> tuple[RebalanceResult, ProblemData, Trade]:
        """:meth:`solve`, also returning the data the final trade was solved on (the wash-sale
        settling tightens bounds) and that trade (rounded with ``whole_units``)."""
        solved = self.solve_trade(data, whole_units=whole_units)
        result = build_result(solved.data, solved.trade, solver=solved.solver, accurate=solved.accurate,
                              attempts=solved.attempts, solve_seconds=time.perf_counter() - solved.started,
                              wash_sale_fixes=solved.wash_sale_fixes, whole_units=whole_units,
                              program=solved.program)
        return result, solved.data, solved.trade

    def solve_trade(self, data: ProblemData, *, whole_units: bool = False) -> "SolvedTrade":
        """:meth:`solve_parts` without laying out the result (for callers that read the trade
        alone, e.g. a backtest's policy). Same solves, same answer.

        With the wash-sale rule, a relaxed answer without a same-date conflict is
        :func:`~optimizer.wash_sale.resolve_conflicts`' own answer (its first step); it is
        taken as such, without pricing the objective of a search that does not start.
        """
        started = time.perf_counter()
        if not self.terms and lots_interchangeable(data):
            # a tax-exempt account: one pooled sale per asset, handed back to the lots after
            # (optimizer.lot_pooling); no loss lot, so no wash-sale conflict to settle
            pooled_data = pool_lots(data)
            pooled, outcome = self.runner(pooled_data).solve(pooled_data)
            trade, program = unpool_sells(data, pooled), None
            solver, accurate, attempts, fixes = outcome.solver, outcome.accurate, list(outcome.attempts), []
        else:
            runner, program = self.runner(data), self.program(data.shape)
            trade, outcome = runner.solve(data)
            solver, accurate, attempts, fixes = outcome.solver, outcome.accurate, list(outcome.attempts), []
            if data.settings.wash_sale and _may_conflict(data, trade) and len(WashGroups(data).conflicts(trade)):
                solution = resolve_conflicts(_Answered(runner, data, trade, outcome), data)
                data, trade = solution.data, solution.trade
                solver, accurate, attempts = solution.solver, solution.accurate, solution.attempts
                fixes = [decision.describe() for decision in solution.decisions]
        if whole_units:
            trade = round_to_whole_units(data, trade)
        return SolvedTrade(data, trade, solver, accurate, attempts, fixes, program, started)


def _may_conflict(data: ProblemData, trade: Trade) -> bool:
    """False when no wash-sale group can both buy and sell a loss lot in ``trade``: all loss
    lots sold, or all buys, come to at most half of :data:`WASH_SALE_TOLERANCE` (a group's
    share of either is no more; :meth:`WashGroups.conflicts` then finds none)."""
    loss_sold = float(np.maximum(trade.sell, 0.0)[data.lot_tax < 0].sum())
    return loss_sold > 0.5 * WASH_SALE_TOLERANCE and float(np.maximum(trade.buy, 0.0).sum()) > 0.5 * WASH_SALE_TOLERANCE


@dataclass(frozen=True)
class SolvedTrade:
    """What :meth:`Rebalancer.solve_trade` decided: the data the trade was solved on, the trade
    (NAV fractions), who solved it, whether accurately, every attempt, the wash-sale fixes,
    the program (None when pooled) and when the solve started (``time.perf_counter``)."""

    data: ProblemData
    trade: Trade
    solver: str | None
    accurate: bool
    attempts: list
    wash_sale_fixes: list[str]
    program: Program | None
    started: float


class _Answered:
    """A runner whose first solve of ``data`` is already made: hands that answer to
    :func:`~optimizer.wash_sale.resolve_conflicts` (its relaxed step), then solves as ``runner``."""

    def __init__(self, runner, data: ProblemData, trade: Trade, outcome):
        self._runner, self._first = runner, (data, trade, outcome)
        self.terms, self.extra_terms, self.shape = runner.terms, runner.extra_terms, runner.shape

    def solve(self, data: ProblemData, chain=None):
        first, self._first = self._first, None
        if first is not None and data is first[0] and chain is None:
            return first[1], first[2]
        return self._runner.solve(data, chain)


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
