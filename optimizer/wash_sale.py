"""Same-date wash-sale conflicts: per wash-sale group, buy or sell loss lots, never both.

The rule (:class:`TaxRules.identical_groups`; an asset not listed is its own group): in one
decision a group may not both buy (any member) and sell a loss lot (any member, a slot with
``lot_tax < 0``). That makes the program a choice per group between two convex
sub-problems, "keep the buy" (no loss lot of the group is sold) and "keep the loss sale" (no
member buys). Both are expressed by tightening bounds (``buy_max``, ``lot_sell_max``), so
every candidate is a warm re-solve of the one built program.

Method (chosen by measurement, ``benchmarks/wash_sale_conflicts.py``):

1. **Relaxed solve** (no rule): its objective is a lower bound of the exact optimum; the
   groups that both buy and sell loss lots in it are the conflicts.
2. **Score both options per conflicting group** from the relaxed trade, holding every other
   asset's trade fixed (a coordinate estimate, :func:`estimate_options`): per member asset
   the objective is a convex piecewise-quadratic function of its own net trade (tracking
   error and impact quadratic; soft-band penalty, linear costs and the tax of lots sold
   cheapest-tax-first piecewise linear), minimised exactly over what each option allows:
   "keep the buy" (buy up to ``buy_max``, or sell non-loss lots), "keep the loss sale" (no
   buy; sell any lots). The option with the smaller estimated increase wins. The band
   penalty matters most: without it the estimate missed which assets must keep buying to
   stay inside their bands, and gave up 20-300% on 20-asset books.
3. **Settle every group and re-solve once**: the conflicts as scored, and the groups that
   could conflict but did not as the relaxed answer has them (harvest only: no buy; buy
   only: no loss sale). Without the latter a re-solve moves harvests into new conflicts
   and needs 2-3 more rounds at 500 assets; if one still arises it is scored and fixed too.
4. **Never worse than the two-pass method** (the first version: keep the larger side, re-solve,
   repeat): its first re-solve is a relaxation of its answer, so when ours is no worse than
   that one solve, it is no worse than the two-pass answer (a certificate); otherwise the
   two-pass method runs to the end and the better answer is kept. Made by default up to
   1,000 trade variables (assets plus lot slots); above, it would cost the time target
   (``check_two_pass``).
5. **Local search** while the solve budget lasts (:func:`default_max_solves`: 8 solves up
   to 1,000 trade variables, 2 above, i.e. none beyond steps 1-3 there, to stay within 3x
   one plain solve): re-score every decision at the current answer, flip all those
   predicted to gain at once (then half of them, ...), re-solve, keep a flip that lowers the
   objective; when no flip is predicted to gain, try the closest call.

Objectives are compared with :func:`optimizer.program.objective_value` (numpy, basis
points of NAV), the same price the result reports. The exact optimum (the oracle of the
tests and the benchmark) enumerates the ``2^k`` decisions (:func:`enumerate_optimum`) or
solves a mixed-integer program (``benchmarks/wash_sale_conflicts.py``).

The coordinate score plays the part of the estimates branch-and-bound codes use to pick a
branching direction (pseudo-costs; Achterberg, Koch and Martin, "Branching rules
revisited", Oper. Res. Lett. 33, 2005), computed here exactly for the one-dimensional
sub-problem instead of learnt; the flip rounds are a plain 1-opt local search.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from itertools import product
from typing import TYPE_CHECKING, Iterator

import numpy as np

from optimizer.errors import InfeasibleError, SolveAttempt
from optimizer.problem_data import ProblemData
from optimizer.terms import tracking
from optimizer.terms.base import Trade

if TYPE_CHECKING:
    from optimizer.program import Program

#: A trade smaller than this (NAV fraction) counts as none when applying the wash-sale rule.
WASH_SALE_TOLERANCE = 1e-7
#: Solves after which the local search stops (relaxed, fixing and two-pass solves included), for
#: small problems and for large ones (:func:`default_max_solves`).
DEFAULT_MAX_SOLVES = 8
LARGE_MAX_SOLVES = 2
#: Problems with more trade variables (assets plus lot slots) get ``LARGE_MAX_SOLVES``.
SMALL_TRADE_VARIABLES = 1_000

#: An answer replaces the current one only when lower by more than this (bps of NAV; solver accuracy,
#: so that solvers of different precision take the same decisions).
IMPROVEMENT_BPS = 1e-4
#: A flip is tried when the estimate predicts it lowers the objective by more than this (bps of NAV).
FLIP_GAIN_BPS = 1e-6

KEEP_BUY = "buy"
KEEP_LOSS_SALE = "loss_sale"


def _other(side: str) -> str:
    return KEEP_LOSS_SALE if side == KEEP_BUY else KEEP_BUY


@dataclass(frozen=True)
class GroupDecision:
    """What was decided for one wash-sale group.

    ``keep`` is ``"buy"`` (no loss lot of the group sold) or ``"loss_sale"`` (no member
    buys); ``how`` says which step decided it: ``"estimate"``, ``"local search"`` or
    ``"two-pass"``; ``estimate_bps`` is the estimated objective increase of (keep the buy,
    keep the loss sale), basis points of NAV, from the trade the group conflicted in.
    """

    group: int
    assets: tuple[str, ...]
    keep: str
    how: str
    estimate_bps: tuple[float, float] = (np.nan, np.nan)

    def describe(self) -> str:
        """One line for :attr:`RebalanceResult.wash_sale_fixes`."""
        members = ", ".join(self.assets)
        if self.keep == KEEP_BUY:
            return f"{members}: kept the buy, no loss lots sold ({self.how})"
        return f"{members}: kept the loss sale, no buy ({self.how})"


@dataclass(frozen=True)
class ConflictSolution:
    """The answer of :func:`resolve_conflicts` (and of the oracles): the trade, the bounded
    data it solves, the decisions, and every solver attempt made on the way.

    Objectives are basis points of NAV (:func:`optimizer.program.objective_value`):
    ``relaxed_objective_bps`` is the relaxed solve's (a lower bound of the exact optimum),
    ``two_pass_objective_bps`` the two-pass method's first re-solve (a lower bound of its
    answer) or its answer when it had to run to the end (NaN when not computed);
    ``history`` lists ``(step, objective_bps)`` per solve.
    """

    trade: Trade
    data: ProblemData
    objective_bps: float
    decisions: list[GroupDecision]
    solver: str | None
    accurate: bool
    attempts: list[SolveAttempt] = field(default_factory=list)
    solves: int = 0
    relaxed_objective_bps: float = np.nan
    two_pass_objective_bps: float = np.nan
    history: list[tuple[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class ConflictSearch:
    """How much :func:`resolve_conflicts` searches when its caller does not say (the defaults are
    the library's; a nightly batch may choose less, :func:`conflict_search`).

    ``certificate``: make step 4, the two-pass certificate, where the library makes it (up to
    :data:`SMALL_TRADE_VARIABLES` trade variables). ``False`` skips that one solve and keeps
    the local search's own budget (:func:`default_max_solves` less the skipped solve), so an
    answer differs from the library's only where the two-pass method would have been run to
    the end (its first re-solve beat the fixed answer). On the 10,000 accounts of
    ``benchmarks/batch_throughput.py``: 3 decisions changed (one account 0.039 bp of NAV
    worse, one 0.016 bp better, one equal), every other objective within 1e-13 bp.

    ``closest_call``: when the local search predicts no flip to gain, try the closest call
    anyway (step 5). ``False`` ends the search there: the search is then a prefix of the
    library's, one solve shorter in most accounts, and loses that solve's gains (on 2,000
    benchmark accounts 245 answers worse, by 0.004 bp of NAV on average and at most 0.28 bp).
    """

    certificate: bool = True
    closest_call: bool = True


#: The library's search (every step made where the module docstring says).
LIBRARY_SEARCH = ConflictSearch()
_SEARCH: ContextVar[ConflictSearch] = ContextVar("wash_sale_search", default=LIBRARY_SEARCH)


@contextmanager
def conflict_search(search: ConflictSearch) -> Iterator[None]:
    """Within the block, :func:`resolve_conflicts` calls that leave ``check_two_pass`` and
    ``max_solves`` unset follow ``search`` (this thread or task only)."""
    token = _SEARCH.set(search)
    try:
        yield
    finally:
        _SEARCH.reset(token)


class WashGroups:
    """Which slots are loss lots and which assets form each wash-sale group, for one decision."""

    def __init__(self, data: ProblemData):
        self.data = data
        L = data.shape.lot_slots
        self.lot_slots = L
        self.loss = (data.lot_tax < 0).reshape(-1, L)                   # assets x slots
        self.group = np.asarray(data.wash_group, dtype=int)
        self.codes = np.unique(self.group)
        self.position = np.searchsorted(self.codes, self.group)         # per asset: its group's place in codes
        self._members: dict[int, tuple[str, ...]] | None = None
        self._risk: tuple | None = None

    def risk_columns(self, data: ProblemData) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(key, col, sd2, quad)`` of :class:`_CoordinateModel`: per asset its exposure key's
        position, the factor root's columns of those keys, the squared specific risk and the
        tracking curvature along the asset's own trade. They depend on the risk model and the
        risk aversion only, so they are made once per decision (bounded variants share them)."""
        made = self._risk
        if made is None or made[0] is not data.factor_root or made[1] is not data.specific_sd \
                or made[2] != data.settings.risk_aversion:
            key = data.shape.asset_key_position
            sd2 = data.specific_sd ** 2
            col = data.factor_root[:, key]
            half_gamma = 0.5 * data.settings.risk_aversion
            quad = half_gamma * ((col ** 2).sum(axis=0) + sd2[key])
            made = (data.factor_root, data.specific_sd, data.settings.risk_aversion, (key, col, sd2, quad))
            self._risk = made
        return made[3]

    def members(self, group: int) -> np.ndarray:
        return np.nonzero(self.group == group)[0]

    def assets(self, group: int) -> tuple[str, ...]:
        if self._members is None:  # every group's names at once (asset order kept within a group)
            names = self.data.shape.assets
            order = np.argsort(self.position, kind="stable")
            bounds = np.searchsorted(self.position[order], np.arange(len(self.codes) + 1))
            self._members = {int(code): tuple(names[i] for i in order[bounds[k]:bounds[k + 1]])
                             for k, code in enumerate(self.codes)}
        return self._members.get(int(group), ())

    def sides(self, trade: Trade) -> tuple[np.ndarray, np.ndarray]:
        """Per group code (``self.codes`` order): amount bought and amount of loss lots sold, NAV fraction."""
        loss_sold = (trade.sell.reshape(-1, self.lot_slots) * self.loss).sum(axis=1)
        bought = np.bincount(self.position, weights=np.maximum(trade.buy, 0.0), minlength=len(self.codes))
        sold = np.bincount(self.position, weights=np.maximum(loss_sold, 0.0), minlength=len(self.codes))
        return bought, sold

    def conflicts(self, trade: Trade) -> np.ndarray:
        """Group codes that both buy and sell a loss lot in ``trade``."""
        bought, sold = self.sides(trade)
        return self.codes[(bought > WASH_SALE_TOLERANCE) & (sold > WASH_SALE_TOLERANCE)]

    def choosable(self, data: ProblemData) -> np.ndarray:
        """Group codes where a conflict can arise at all: some member may buy and some loss lot may be sold."""
        can_buy = np.bincount(self.position, weights=(data.buy_max > 0).astype(float),
                              minlength=len(self.codes)) > 0
        can_sell = (data.lot_sell_max.reshape(-1, self.lot_slots) * self.loss).sum(axis=1) > 0
        can_sell = np.bincount(self.position, weights=can_sell.astype(float), minlength=len(self.codes)) > 0
        return self.codes[can_buy & can_sell]

    def bounded(self, data: ProblemData, keep: dict[int, str]) -> ProblemData:
        """``data`` with each decided group's other side forbidden."""
        if not keep:
            return data
        asked = np.fromiter(keep, dtype=int, count=len(keep))
        decided = np.minimum(np.searchsorted(self.codes, asked), len(self.codes) - 1)
        buys = np.fromiter((side == KEEP_BUY for side in keep.values()), dtype=bool, count=len(keep))
        known = self.codes[decided] == asked                            # a code of no asset bounds nothing
        decided, buys = decided[known], buys[known]
        keeps_buy = np.zeros(len(self.codes), dtype=bool)
        keeps_sale = np.zeros(len(self.codes), dtype=bool)
        keeps_buy[decided[buys]] = True
        keeps_sale[decided[~buys]] = True
        buy_max = data.buy_max.copy()
        sell_max = data.lot_sell_max.copy().reshape(-1, self.lot_slots)
        sell_max[keeps_buy[self.position][:, None] & self.loss] = 0.0
        buy_max[keeps_sale[self.position]] = 0.0
        return data.with_bounds(buy_max=buy_max, lot_sell_max=sell_max.ravel())


# --------------------------------------------------------------------------------------
# the coordinate estimate of each option
# --------------------------------------------------------------------------------------

def estimate_options(data: ProblemData, trade: Trade, groups: WashGroups,
                     codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Estimated objective increase (basis points of NAV) of "keep the buy" and "keep the
    loss sale" for each group in ``codes``, every asset outside the group held at ``trade``.

    Per member asset the objective along its own net trade ``u`` is tracking error and
    impact (quadratic in ``u``), the band penalty (piecewise linear), linear costs and the
    lot-ordered tax (piecewise linear); it is minimised exactly over what the option allows
    (see the module docstring). Members are independent (each sees the others at
    ``trade``); the netted tax is taken at its slope at ``trade``.
    """
    from optimizer.program import OBJECTIVE_SCALE

    model = _CoordinateModel(data, trade, groups)
    per_group = len(groups.codes)
    wanted = np.searchsorted(groups.codes, codes)
    asked = np.zeros(per_group, dtype=bool)                 # only the asked groups' assets are scored
    found = wanted < per_group
    asked[wanted[found][groups.codes[wanted[found]] == np.asarray(codes)[found]]] = True
    members = np.nonzero(asked[groups.position])[0]
    model.restrict(members)
    keep_buy, keep_sale = model.options()
    position = groups.position[members]
    keep_buy = np.bincount(position, weights=keep_buy, minlength=per_group)[wanted]
    keep_sale = np.bincount(position, weights=keep_sale, minlength=per_group)[wanted]
    return OBJECTIVE_SCALE * keep_buy, OBJECTIVE_SCALE * keep_sale


#: Band penalty used in the estimate when bands are hard (a breach is not an option).
HARD_BAND_PENALTY = 1e3


class _CoordinateModel:
    """The objective along each asset's own net trade with every other asset held at ``trade``
    (vectorised over assets: arrays are assets x points)."""

    def __init__(self, data: ProblemData, trade: Trade, groups: WashGroups):
        s = data.settings
        L = groups.lot_slots
        self.loss = groups.loss
        key, col, sd2, quad = groups.risk_columns(data)
        d = tracking.deviation(data, trade)
        factor = data.factor_root @ d
        half_gamma = 0.5 * s.risk_aversion
        self.quad = quad
        self.slope = half_gamma * 2.0 * (col.T @ factor + sd2[key] * d[key])
        self.impact = s.impact_weight * data.impact
        self.linear = s.cost_weight * data.linear_cost
        self.penalty = s.band_penalty if data.shape.soft_bands else HARD_BAND_PENALTY
        exposure = data.target + d
        self.room_below = (data.band_lower - exposure)[key]   # per asset: moves below this breach the band
        self.room_above = (data.band_upper - exposure)[key]
        self.lot_cost = (s.tax_weight * _netting_slope(data, trade) * data.lot_tax_cost).reshape(-1, L)
        self.sell = trade.sell.reshape(-1, L)
        self.buy = trade.buy
        self.sell_max = data.lot_sell_max.reshape(-1, L)
        self.buy_max = np.minimum(data.buy_max, data.cash0 + float(data.lot_value.sum()))
        self.u0 = trade.net(data)

    def restrict(self, rows: np.ndarray) -> None:
        """Keep only the assets at positions ``rows`` (each asset is scored on its own)."""
        for name in ("loss", "quad", "slope", "impact", "linear", "room_below", "room_above", "lot_cost", "sell",
                     "buy", "sell_max", "buy_max", "u0"):
            setattr(self, name, getattr(self, name)[rows])

    def options(self) -> tuple[np.ndarray, np.ndarray]:
        """Per asset (keep the buy, keep the loss sale): least objective change under each option.

        Along the asset's net trade ``u``: buying costs the linear cost per dollar, selling
        takes the allowed lots cheapest tax first. "Keep the buy": ``u`` between minus the
        sellable non-loss lots and ``buy_max``; "keep the loss sale": no buy, ``u`` down to
        minus every sellable lot. Both are measured from the current trade (NAV fractions).
        Both options are scored in one pass (their rows stacked: each row is its own problem).
        """
        n = len(self.u0)
        current = self.linear * (self.buy + self.sell.sum(axis=1)) + (self.lot_cost * self.sell).sum(axis=1)
        buy_max = np.concatenate([self.buy_max, np.zeros_like(self.buy_max)])
        sellable = np.concatenate([np.where(self.loss, 0.0, self.sell_max), self.sell_max])
        best = _least_along_trade(_twice(self, n), buy_max, sellable, self.penalty)
        return best[:n] - current, best[n:] - current


#: The per-asset arrays of :class:`_CoordinateModel` that :func:`_least_along_trade` reads.
_ALONG_TRADE = ("u0", "quad", "slope", "impact", "linear", "room_below", "room_above", "lot_cost")


def _twice(model: "_CoordinateModel", n: int) -> dict[str, np.ndarray]:
    """The model's per-asset arrays repeated for two stacked options (rows ``[:n]`` and ``[n:]``)."""
    return {name: np.concatenate([getattr(model, name)] * 2) for name in _ALONG_TRADE}


def _least_along_trade(rows: dict[str, np.ndarray], buy_max: np.ndarray, sellable: np.ndarray,
                       penalty: float) -> np.ndarray:
    """Per row, the least tracking+impact+band+linear+tax over ``u`` in [-sellable.sum(), buy_max]
    (NAV fractions; the objective in the units of :class:`_CoordinateModel`, minus the impact at ``u0``).

    The function is convex and quadratic between breakpoints (0, the band edges, the lot
    boundaries): evaluate it at every breakpoint and at each piece's vertex. Every operation
    is per row, so stacking rows of several options gives each row the value it would get alone."""
    u0, quad, slope, impact, linear = rows["u0"], rows["quad"], rows["slope"], rows["impact"], rows["linear"]
    room_below, room_above, lot_cost = rows["room_below"], rows["room_above"], rows["lot_cost"]
    order = np.argsort(lot_cost, axis=1)
    row = np.arange(len(order))[:, None]
    sizes = sellable[row, order]                                    # np.take_along_axis, without its overhead
    per_dollar = lot_cost[row, order] + linear[:, None]
    starts = np.cumsum(sizes, axis=1) - sizes                       # where each lot starts along t = -u
    low, high = -sizes.sum(axis=1), buy_max

    def at(u: np.ndarray) -> np.ndarray:
        du = u - u0[:, None]
        outside = np.maximum(room_below[:, None] - du, 0.0) + np.maximum(du - room_above[:, None], 0.0)
        moved = quad[:, None] * du ** 2 + slope[:, None] * du + impact[:, None] * u ** 2 + penalty * outside
        sold = np.minimum(np.maximum(-u[:, :, None] - starts[:, None, :], 0.0), sizes[:, None, :])  # np.clip
        charge = np.where(u > 0, linear[:, None] * u, 0.0) + (sold * per_dollar[:, None, :]).sum(axis=2)
        return moved + charge

    breaks = np.column_stack([low, high, np.zeros_like(low), u0 + room_below, u0 + room_above, -starts[:, 1:]])
    points = np.sort(np.minimum(np.maximum(breaks, low[:, None]), high[:, None]), axis=1)
    left, right = points[:, :-1], points[:, 1:]
    middle = 0.5 * (left + right)
    half = 0.5 * (right - left)
    width = points.shape[1]
    both = at(np.concatenate([points, middle], axis=1))  # elementwise in u: one call for ends and middles
    at_points = both[:, :width]
    fl, fm, fr = at_points[:, :-1], both[:, width:], at_points[:, 1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        curvature = (fl + fr - 2.0 * fm) / (2.0 * half ** 2)
        vertex = middle - (fr - fl) / (2.0 * half) / (2.0 * curvature)
    vertex = np.where((half > 0) & (curvature > 0), np.minimum(np.maximum(vertex, left), right), middle)
    best = np.minimum(at_points.min(axis=1), at(vertex).min(axis=1))
    return best - impact * u0 ** 2


def _netting_slope(data: ProblemData, trade: Trade) -> float:
    """Slope of the netted tax charge at ``trade`` per unit of ``lot_tax_cost @ sell`` (1 when linear)."""
    if not data.shape.tax_netting:
        return 1.0
    x = float(data.lot_tax_cost @ trade.sell) + data.tax_offset
    return 1.0 if x > 0 else data.carry_value


# --------------------------------------------------------------------------------------
# the method
# --------------------------------------------------------------------------------------

class _Solver:
    """Solves bounded variants of one decision on the built program, counting solves and attempts."""

    def __init__(self, program: "Program", data: ProblemData):
        self.program = program
        self.data = data
        self.attempts: list[SolveAttempt] = []
        self.accurate = True
        self.solver: str | None = None
        self.solves = 0
        self.history: list[tuple[str, float]] = []
        # The built-in terms of the program price the objective: the same terms objective_value
        # builds when given none (a whole new cvxpy problem per call, ~5 ms at 50 assets), without the build.
        extra = {id(term) for term in getattr(program, "extra_terms", ())}
        self.pricing_terms = [term for term in program.terms if id(term) not in extra]

    def solve(self, data: ProblemData, step: str) -> tuple[Trade, float]:
        from optimizer.program import objective_value

        trade, outcome = self.program.solve(data)
        self.attempts += outcome.attempts
        self.accurate = self.accurate and outcome.accurate
        self.solver = outcome.solver
        self.solves += 1
        value = objective_value(self.data, trade, self.pricing_terms)
        self.history.append((step, value))
        return trade, value


def resolve_conflicts(program: "Program", data: ProblemData, *, max_solves: int | None = None,
                      settle_all: bool = True, check_two_pass: bool | None = None) -> ConflictSolution:
    """Solve ``data`` under the same-date wash-sale rule (see the module docstring).

    Parameters
    ----------
    program:
        The built program of ``data.shape`` (re-solved warm with tightened bounds).
    max_solves:
        Solves after which the local search stops (default: :func:`default_max_solves`, less
        one when the certificate is skipped, :class:`ConflictSearch`).
        The relaxed solve, the fixing rounds and the two-pass check are always made.
    settle_all:
        Also fix, as the relaxed answer has them, the groups that could conflict but did
        not (harvest only: no buy; buy only: no loss sale), so that one re-solve settles
        every group instead of moving harvests into new conflicts round after round.
    check_two_pass:
        Make step 4 (one more solve; the guarantee of never losing to the two-pass method).
        Default: in problems up to :data:`SMALL_TRADE_VARIABLES` trade variables; above,
        the extra solve would break the 3x-one-solve time target (measured 3.5x with it,
        about 2.5x without, at 500 assets), and never losing is measured instead (the
        two-pass answer was 28-37% worse on every 500-asset benchmark book). Unset, a
        surrounding :func:`conflict_search` may skip it (``certificate=False``).
    """
    small = data.shape.n_assets + data.shape.n_lots <= SMALL_TRADE_VARIABLES
    search = _SEARCH.get()
    skip_certificate = check_two_pass is None and small and not search.certificate
    if max_solves is None:  # without the certificate the local search keeps the same number of its own solves
        max_solves = default_max_solves(data) - int(skip_certificate)
    check_two_pass = (small and not skip_certificate) if check_two_pass is None else check_two_pass
    solver = _Solver(program, data)
    groups = WashGroups(data)
    trade, value = solver.solve(data, "relaxed")
    relaxed, relaxed_trade = value, trade
    conflicts = groups.conflicts(trade)
    if len(conflicts) == 0:
        return ConflictSolution(trade, data, value, [], solver.solver, solver.accurate, solver.attempts,
                                solver.solves, relaxed, value, solver.history)

    # steps 2-3: score the conflicts, fix them (and settle the others), re-solve; repeat on new conflicts
    keep: dict[int, str] = {}
    estimates: dict[int, tuple[float, float]] = {}
    how: dict[int, str] = {}
    if settle_all:
        bought, sold = groups.sides(trade)
        choosable = groups.choosable(data)
        positions = np.searchsorted(groups.codes, choosable)
        buys = (bought[positions] > WASH_SALE_TOLERANCE).tolist()
        sales = (sold[positions] > WASH_SALE_TOLERANCE).tolist()
        for code, buys_here, sells_here in zip(choosable.tolist(), buys, sales):
            if buys_here:
                keep[code], how[code] = KEEP_BUY, "as relaxed"
            elif sells_here:
                keep[code], how[code] = KEEP_LOSS_SALE, "as relaxed"
    try:
        while len(conflicts):
            keep_buy, keep_sale = estimate_options(data, trade, groups, conflicts)
            for code, a, b in zip(conflicts, keep_buy, keep_sale):
                keep[int(code)] = KEEP_BUY if a <= b else KEEP_LOSS_SALE
                estimates[int(code)] = (float(a), float(b))
                how[int(code)] = "estimate"
            bounded = groups.bounded(data, keep)
            trade, value = solver.solve(bounded, "fixed")
            conflicts = groups.conflicts(trade)
        best = (value, trade, bounded, keep, solver.solver)
    except InfeasibleError:     # a hard band needs the other side: the two-pass answer decides
        best = (np.inf, None, data, {}, None)

    # step 4 (a certificate): the two-pass method's first re-solve is a relaxation of
    # its answer; when ours is no worse, so is the two-pass answer. Else run it to the end.
    two_pass_value = np.nan
    if check_two_pass or best[1] is None:
        pass_keep = _two_pass_first(groups, relaxed_trade)
        pass_data = groups.bounded(data, pass_keep)
        pass_trade, two_pass_value = solver.solve(pass_data, "two-pass")
    if two_pass_value < best[0] - IMPROVEMENT_BPS:
        pass_data, pass_trade, pass_keep, two_pass_value = _two_pass(solver, groups, data, pass_keep, pass_trade)
        if two_pass_value < best[0] - IMPROVEMENT_BPS:
            best = (two_pass_value, pass_trade, pass_data, pass_keep, solver.solver)
            how = {code: "two-pass" for code in pass_keep}
            estimates = {}
    value, trade, bounded, keep, answered_by = best

    # step 5: improvement rounds: re-score every decision at the current answer, flip those
    # predicted to gain (all at once, then half as many), re-solve, keep what lowers the objective
    tried: set[frozenset] = set()
    while solver.solves < max_solves:
        codes = np.array(sorted(keep))
        keep_buy, keep_sale = estimate_options(data, trade, groups, codes)
        gain = np.where([keep[int(c)] == KEEP_BUY for c in codes], keep_buy - keep_sale, keep_sale - keep_buy)
        order = np.argsort(-gain)
        candidates = [int(codes[j]) for j in order if gain[j] > FLIP_GAIN_BPS]
        if not candidates and not search.closest_call:
            break
        candidates = candidates or [int(codes[order[0]])]
        improved = False
        while candidates and solver.solves < max_solves:
            flip = frozenset(candidates)
            candidates = candidates[: len(candidates) // 2]
            if flip in tried:
                continue
            tried.add(flip)
            flipped = {c: (_other(side) if c in flip else side) for c, side in keep.items()}
            candidate_data = groups.bounded(data, flipped)
            try:
                candidate, candidate_value = solver.solve(candidate_data, f"flip {len(flip)}")
            except InfeasibleError:
                continue
            if candidate_value < value - IMPROVEMENT_BPS and len(groups.conflicts(candidate)) == 0:
                keep, bounded, trade, value, answered_by = flipped, candidate_data, candidate, candidate_value, \
                    solver.solver
                how.update({c: "local search" for c in flip})
                improved = True
                break
        if not improved:
            break

    decisions = [GroupDecision(code, groups.assets(code), side, how.get(code, "estimate"),
                               estimates.get(code, (np.nan, np.nan))) for code, side in sorted(keep.items())]
    return ConflictSolution(trade, bounded, value, decisions, answered_by, solver.accurate, solver.attempts,
                            solver.solves, relaxed, two_pass_value, solver.history)


def default_max_solves(data: ProblemData) -> int:
    """The local search's solve budget: :data:`DEFAULT_MAX_SOLVES` up to
    :data:`SMALL_TRADE_VARIABLES` trade variables, :data:`LARGE_MAX_SOLVES` above (no local
    search there: a 500-asset decision stays within 3x one plain solve; see
    ``benchmarks/results/wash_sale_conflicts.csv``)."""
    size = data.shape.n_assets + data.shape.n_lots
    return DEFAULT_MAX_SOLVES if size <= SMALL_TRADE_VARIABLES else LARGE_MAX_SOLVES


def _two_pass_first(groups: WashGroups, trade: Trade) -> dict[int, str]:
    """The two-pass method's decisions on ``trade``'s conflicts: keep the larger side."""
    bought, sold = groups.sides(trade)
    keep = {}
    for code in groups.conflicts(trade):
        position = int(np.searchsorted(groups.codes, code))
        keep[int(code)] = KEEP_BUY if bought[position] >= sold[position] else KEEP_LOSS_SALE
    return keep


def _two_pass(solver: _Solver, groups: WashGroups, data: ProblemData, keep: dict[int, str],
              trade: Trade | None = None) -> tuple[ProblemData, Trade, dict[int, str], float]:
    """The first version's method from its first decisions: re-solve, keep the larger side of
    new conflicts, repeat (``trade``: the first re-solve, when already made)."""
    keep = dict(keep)
    bounded = groups.bounded(data, keep)
    if trade is None:
        trade, value = solver.solve(bounded, "two-pass")
    while True:
        more = _two_pass_first(groups, trade)
        if not more:
            return bounded, trade, keep, solver.history[-1][1]
        keep.update(more)
        bounded = groups.bounded(data, keep)
        trade, value = solver.solve(bounded, "two-pass")


def two_pass(program: "Program", data: ProblemData) -> ConflictSolution:
    """The first version's method alone (kept as the baseline the new one must never lose to)."""
    solver = _Solver(program, data)
    groups = WashGroups(data)
    trade, value = solver.solve(data, "relaxed")
    relaxed = value
    keep = _two_pass_first(groups, trade)
    bounded = data
    if keep:
        bounded, trade, keep, value = _two_pass(solver, groups, data, keep)
    decisions = [GroupDecision(code, groups.assets(code), side, "two-pass") for code, side in sorted(keep.items())]
    return ConflictSolution(trade, bounded, value, decisions, solver.solver, solver.accurate, solver.attempts,
                            solver.solves, relaxed, value, solver.history)


def enumerate_optimum(program: "Program", data: ProblemData, *, max_groups: int = 10) -> ConflictSolution:
    """The exact optimum by enumeration: every keep-buy / keep-loss-sale choice for every group
    where a conflict can arise (at most ``max_groups`` of them: ``2^k`` solves). An oracle."""
    solver = _Solver(program, data)
    groups = WashGroups(data)
    codes = [int(c) for c in groups.choosable(data)]
    if len(codes) > max_groups:
        raise ValueError(f"{len(codes)} groups can conflict; enumeration is limited to {max_groups}")
    best: tuple[float, Trade, ProblemData, dict[int, str]] | None = None
    for sides in product((KEEP_BUY, KEEP_LOSS_SALE), repeat=len(codes)):
        keep = dict(zip(codes, sides))
        bounded = groups.bounded(data, keep)
        try:
            trade, value = solver.solve(bounded, "enumeration")
        except InfeasibleError:  # an infeasible choice is simply not a candidate
            continue
        if best is None or value < best[0]:
            best = (value, trade, bounded, keep)
    if best is None:
        raise InfeasibleError([], solver.attempts)
    value, trade, bounded, keep = best
    decisions = [GroupDecision(code, groups.assets(code), side, "enumeration") for code, side in sorted(keep.items())]
    return ConflictSolution(trade, bounded, value, decisions, solver.solver, solver.accurate, solver.attempts,
                            solver.solves, np.nan, np.nan, solver.history)
