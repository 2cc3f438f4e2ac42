"""The engine as a policy: one :class:`optimizer.Rebalancer`, re-solved on its own schedule.

Targets and bands are **per asset** (each asset is its own exposure key), so the optimizer
answers to exactly the target the heuristics chase and the metrics measure.

Decision economics (the same whatever the decision frequency)
--------------------------------------------------------------
Each decision minimises, in NAV fractions per year::

    0.5 * risk_aversion * (annual tracking-error variance after the trade)
    + (spread + commission) / H                            (paid once, amortised)
    + sum over lots sold of (gain * TaxRules.realization_cost) / H  (valued tax, amortised)
    + impact

The risk term prices one year of tracking error. Each one-off cost is amortised over the
holding period ``H`` of the trade it pays for: the time drift takes to undo it, from the
no-trade band asymptotics, less the overshoot of a band checked only every ``every``
(:mod:`optimizer.policies.amortization`; Boyd et al. 2017, "Multi-period trading via
convex optimization"). The program's no-trade region is then the dynamic one at every
cost level (a fresh lot's spread, an old lot's tax), and the same whatever the decision
frequency. Taxes are valued, not charged at face value: realizing a gain costs the rate
now less the discounted tax it avoids at the horizon; harvesting a loss is worth the same
difference, and only while it offsets gains (``TaxRules.carry_value`` beyond).

What keeps it from churning
---------------------------
* the risk model (Ledoit-Wolf shrinkage on a ``lookback`` window, blended into the
  previous estimate with weight ``risk_blend``) is re-estimated once per ``risk_every``
  period, not every date;
* a trade smaller than ``max(min_trade_usd, min_trade_weight * NAV)`` is not made: the
  asset is frozen and the program re-solved, so the remaining trades stay consistent;
* lots are grouped by tax per dollar into at most ``lot_groups`` slots per asset
  (:mod:`optimizer.policies.lot_groups`), so the program is built once per backtest;
  sales of a group relieve its lots with the least gain first;
* the cash buffer covers the tax the ledger owes at its next settlement, so paying tax
  never forces a sale.

The answer's lot sales are passed on, so the simulator relieves exactly the lots the
optimizer chose. A decision that fails (solver or infeasibility) is recorded in
``failures`` and leaves the book alone for that date; answers no solver in the chain
solved accurately are used but counted in ``inaccurate``. ``decision_seconds`` holds the
wall time of every decision (risk model included) and ``solver_seconds`` the solvers' own
time in it (all solves of the decision).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import pandas as pd

from optimizer.model.costs import CostModel
from optimizer.errors import InfeasibleError, InputError, SolverError
from optimizer.model import Market, Portfolio, Restrictions, RiskModel, Settings, Targets, TaxRules
from optimizer.model.covariance import ledoit_wolf
from optimizer.policies.amortization import DECISION_YEARS, amortize_costs, relative_variance
from optimizer.policies.base import Orders, Policy, Schedule, State, period_key
from optimizer.policies.decision_data import BookView, DecisionArrays
from optimizer.policies.lot_groups import LotGroups, group_lot_arrays, group_lots, relieve
from optimizer.problem_data import ProblemData, prepare
from optimizer.rebalancer import Rebalancer, SolvedTrade
from optimizer.result import sold_lots
from optimizer.terms.base import Trade

#: Rounds of "freeze the assets whose trade is too small, re-solve" per decision.
MIN_TRADE_ROUNDS = 3
#: Trades below this NAV fraction are solver noise: dropped without a re-solve.
SOLVER_NOISE = 1e-6
#: Built once: validating an empty restriction table costs more than the rest of ``prepare``.
NO_RESTRICTIONS = Restrictions()


class OptimizerPolicy(Policy):
    """Rebalance with the convex program every ``every`` period.

    Parameters
    ----------
    target:
        Target weights per asset (NAV fractions; the rest is cash).
    costs:
        The backtest's cost model (must be the simulator's, so prices agree).
    tax:
        Tax rules the optimizer prices, with the valuation horizon of a realization
        (the backtest's ledger should use the same rates).
    risk_aversion:
        The trade-off knob, in NAV fraction per year per unit of annual tracking-error
        variance: a tracking error ``TE`` held for a year is priced
        ``0.5 * risk_aversion * TE**2``. At 100 a 1% tracking error costs 50 bp a year; at
        1 it costs 0.5 bp and the policy barely trades; at 1e4 it tracks tightly.
    cost_weight, impact_weight, tax_weight:
        :class:`optimizer.Settings` weights on the cost parts (1 = at face value).
    band_width:
        Soft absolute band around each target (NAV fraction), priced far above any cost.
    every:
        Decision frequency: ``"W"`` weekly, ``"M"`` monthly, ... (``"D"`` every date),
        on the last date of each period.
    lookback:
        Trailing returns used for the risk model (periods of the data).
    risk_every:
        How often the risk model is re-estimated (a :data:`FREQUENCIES` code).
    shrink:
        Ledoit-Wolf shrinkage of the covariance before its principal components are taken.
    risk_blend:
        Weight of each new estimate in the covariance the policy keeps (an exponential
        average over re-estimations; 1 = use the new window alone).
    n_factors:
        Principal components of the (shrunk) covariance kept as factors.
    lot_groups:
        Most lot slots per asset (lots grouped by tax per dollar).
    min_trade_usd, min_trade_weight:
        No trade smaller than the larger of these (dollars; NAV fraction) is made.
    min_harvest_loss:
        A lot whose loss is under this fraction of its value earns no harvesting credit
        (it is priced as a flat lot): the practitioners' threshold, which also stands for
        the value of waiting for a deeper loss. Deeper losses are credited in full.
    min_harvest_usd, min_holding_days:
        The other harvesting rules practitioners use: a lot (group) losing fewer dollars
        than ``min_harvest_usd``, or held fewer than ``min_holding_days`` calendar days,
        earns no harvesting credit either (default: no such rule).
    whole_shares:
        Trade whole shares only (buys rounded down, lot sales to the nearest share, cash
        kept >= 0: :func:`optimizer.rounding.round_to_whole_units`).
    substitutes:
        Approved replacements, ``{asset: [replacement, ...]}`` (another fund on a
        different index, correlated stocks), each in the price history with no target
        of its own. When given, an asset without a target may be bought only as a listed
        replacement. Harvesting a loss then sells the lot and, while the wash-sale window
        blocks buying the asset back, holds a replacement: the risk model prices the
        tracking error of the swap, and the program swaps back after the window when the
        tracking error saved pays for the trade and any tax on the replacement's gain. A
        replacement in the asset's own wash-sale group (``TaxRules.identical_groups``)
        is refused.
    terms:
        User terms added to every decision (see :class:`optimizer.Rebalancer` and ARCHITECTURE.md).
    tactics:
        Tactical options (:mod:`optimizer.policies.timing`: ``MomentumTilt``,
        ``VolatilityPacing``), applied in order on each decision: each may tilt the target
        (within its bound) or cap buys (NAV fraction per asset) for that decision only.

    A cost model with ``stress`` (:class:`optimizer.model.costs.CostModel`) prices each
    decision at that date's scaled spread and impact (:meth:`CostModel.on`), the numbers
    the simulator fills with.

    Each decision's :class:`Market` and :class:`Portfolio` are built from the simulator's
    arrays and the ledger's records, valid by construction, so they skip the constructors'
    checks (:meth:`Market.trusted`, :meth:`Portfolio.trusted`); set the attribute
    ``validate_inputs = True`` to build them through the checking constructors instead
    (the decisions are the same, only slower).
    """

    def __init__(self, target, *, costs: CostModel = CostModel(), tax: TaxRules = TaxRules(),
                 risk_aversion: float = 100.0, cost_weight: float = 1.0, impact_weight: float = 1.0,
                 tax_weight: float = 1.0, band_width: float = 0.10, every: str = "W", lookback: int = 504,
                 risk_every: str = "M", shrink: bool = True, risk_blend: float = 0.05, n_factors: int = 5,
                 lot_groups: int = 8, min_trade_usd: float = 100.0, min_trade_weight: float = 0.001,
                 min_harvest_loss: float = 0.05, min_harvest_usd: float = 0.0, min_holding_days: int = 0,
                 whole_shares: bool = False, substitutes: dict[str, list[str]] | None = None,
                 solvers: tuple[str, ...] | None = None, name: str | None = None, terms: tuple = (),
                 tactics: tuple = ()):
        super().__init__(target)
        self.tactics = tuple(tactics)
        self.substitutes = _checked_substitutes(substitutes, tax)
        for field, value in (("min_trade_usd", min_trade_usd), ("min_trade_weight", min_trade_weight),
                             ("min_harvest_loss", min_harvest_loss), ("min_harvest_usd", min_harvest_usd),
                             ("min_holding_days", min_holding_days)):
            if not (np.isfinite(value) and value >= 0):
                raise InputError(field, f"is {value!r}; it must be a non-negative number")
        if lookback < 20:
            raise InputError("lookback", f"is {lookback!r}; at least 20 periods of returns")
        self.costs = costs
        self.tax = tax
        self.settings = Settings(risk_aversion=risk_aversion, cost_weight=cost_weight, impact_weight=impact_weight,
                                 tax_weight=tax_weight, impact_eta=costs.impact_eta, bands="soft",
                                 solvers=solvers)
        self.band_width = band_width
        self.schedule = Schedule(every)
        self.lookback = lookback
        period_key(pd.Timestamp("2000-01-03"), risk_every)   # validates
        self.risk_every = risk_every
        self.n_factors = n_factors
        self.shrink = shrink
        if not 0.0 < risk_blend <= 1.0:
            raise InputError("risk_blend", f"is {risk_blend!r}; a fraction in (0, 1]")
        self.risk_blend = risk_blend
        self._covariance: np.ndarray | None = None
        self.lot_groups = lot_groups
        self.min_trade_usd = min_trade_usd
        self.min_trade_weight = min_trade_weight
        self.min_harvest_loss = min_harvest_loss
        self.min_harvest_usd = min_harvest_usd
        self.min_holding_days = min_holding_days
        self.whole_shares = bool(whole_shares)
        self.rebalancer = Rebalancer(terms=terms)
        self.validate_inputs = False
        self.name = name or f"optimizer_ra{risk_aversion:g}"
        self.failures: list[tuple[pd.Timestamp, str]] = []
        self.decisions = 0
        self.inaccurate = 0
        self.decision_seconds: list[float] = []
        self.solver_seconds: list[float] = []
        self._solver_clock = 0.0
        self._risk: RiskModel | None = None
        self._risk_key: tuple | None = None
        self._relative_var: np.ndarray | None = None

    def start(self, assets: tuple[str, ...]) -> None:
        super().start(assets)
        names = list(assets)
        self._assets = tuple(names)
        self._index = pd.Index(names, dtype=str)     # one index for every per-asset Series of a decision
        weight = pd.Series(self._target, index=self._index)
        self._targets = Targets.absolute(weight, self.band_width, cash_weight=max(0.0, 1.0 - float(weight.sum())))
        self._classes = pd.Series(names, index=self._index, dtype=str)
        half_spread, commission, adv = self.costs.arrays(names)
        self._commission = pd.Series(commission, index=self._index, dtype=float)
        self._half_spread_array = np.asarray(half_spread, dtype=float)
        self._commission_array = self._commission.to_numpy(dtype=float)
        self._adv_array = np.asarray(adv, dtype=float)
        self._restrictions = self._substitute_restrictions(names, weight)
        self._arrays = DecisionArrays(self._assets, self.tax, self._restrictions, self.lot_groups)
        for tactic in self.tactics:
            tactic.start(assets)
        self._risk = None
        self._risk_key = None
        self._covariance = None

    def _substitute_restrictions(self, names: list[str], weight: pd.Series) -> Restrictions:
        """No buys of assets without a target unless they are listed replacements (when
        ``substitutes`` is given); checks that every listed asset is in the price history."""
        if self.substitutes is None:
            return NO_RESTRICTIONS
        for asset, replacements in self.substitutes.items():
            for name in [asset, *replacements]:
                if name not in weight.index:
                    raise InputError("substitutes", "names an asset that is not in the price history", asset=name)
        allowed = {r for replacements in self.substitutes.values() for r in replacements}
        blocked = [a for a in names if weight[a] <= 0 and a not in allowed]
        if not blocked:
            return NO_RESTRICTIONS
        return Restrictions(pd.DataFrame({"no_buy": True}, index=pd.Index(blocked)))

    # -- one decision ------------------------------------------------------------------
    def decide(self, date: pd.Timestamp, state: State) -> Orders | None:
        if not self.schedule.due(date, state.next_date):
            return None
        started = time.perf_counter()
        risk = self.risk_model(date, state)
        if risk is None:
            return None
        self.decisions += 1
        self._solver_clock = 0.0
        try:
            orders = self._decide(date, state, risk)
        except (SolverError, InfeasibleError) as exc:
            self.failures.append((date, str(exc)))
            orders = None
        self.decision_seconds.append(time.perf_counter() - started)
        self.solver_seconds.append(self._solver_clock)
        return orders

    def risk_model(self, date: pd.Timestamp, state: State) -> RiskModel | None:
        """The risk model for ``date``: re-estimated once per ``risk_every`` period (None: too little history)."""
        key = period_key(date, self.risk_every)
        if self._risk is not None and key == self._risk_key:
            return self._risk
        history = state.history[-(self.lookback + 1):]
        if len(history) < 21:
            return None
        names = list(state.assets)
        returns = history[1:] / history[:-1] - 1.0
        if self.shrink:
            estimate = ledoit_wolf(returns)[0] * state.periods_per_year
        else:
            estimate = np.cov(returns, rowvar=False, ddof=1).reshape(len(names), len(names)) * state.periods_per_year
        if self._covariance is None or self._covariance.shape != estimate.shape:
            self._covariance = estimate
        else:
            self._covariance = (1.0 - self.risk_blend) * self._covariance + self.risk_blend * estimate
        self._risk = RiskModel.from_covariance(pd.DataFrame(self._covariance, index=names, columns=names),
                                               min(self.n_factors, len(names)))
        self._risk_key = key
        self._relative_var = relative_variance(self._risk, self._target)
        return self._risk

    def _decide(self, date: pd.Timestamp, state: State, risk: RiskModel) -> Orders | None:
        groups = self._lot_groups(date, state)
        settings = replace(self.settings, min_cash_usd=max(0.0, state.ledger.tax_owed_usd()))
        targets, buy_limit = self._tactical(date, state)
        data = self._data(date, state, risk, targets, groups, settings)
        data = self._without_small_harvests(data, groups.acquired_by_id)
        if buy_limit is not None:
            limit = pd.Series(buy_limit, index=self._index).reindex(list(data.shape.assets)).fillna(np.inf).to_numpy()
            data = data.with_bounds(buy_max=np.minimum(data.buy_max, limit))
        decision_years = max(DECISION_YEARS[self.schedule.frequency], 1.0 / state.periods_per_year)
        data = amortize_costs(data, self._target, self._relative_var, decision_years)
        answer = self._solve_without_small_trades(data)
        if not answer.solved.accurate:
            self.inaccurate += 1
        trade = answer.trade_usd_of(self._assets)
        if not np.any(trade):
            return None
        lot_sales = _ledger_lot_sales(answer, groups)
        for asset, sales in lot_sales.items():
            i = self._assets.index(asset)
            if trade[i] < 0:    # sell exactly the named lots, so no rounding remainder reaches other lots
                trade[i] = -state.prices[i] * sum(sales.values())
        return Orders(trade, lot_sales or None)

    def _data(self, date: pd.Timestamp, state: State, risk: RiskModel, targets: Targets, groups: LotGroups,
              settings: Settings) -> ProblemData:
        """The decision's :class:`ProblemData`: built from the simulator's arrays and the ledger's
        records (:class:`optimizer.policies.decision_data.DecisionArrays`, the same data as
        ``prepare``'s) when the ledger offers them as arrays; else, or with ``validate_inputs``,
        through the decision's :class:`Market` and :class:`Portfolio` and ``prepare``."""
        ledger = state.ledger
        if (self.validate_inputs or not self._reads_arrays(ledger)
                or getattr(ledger, "recent_buy_arrays", None) is None or not self._arrays.fits(targets)):
            market, portfolio = self._inputs(date, state, risk, groups)
            return prepare(portfolio, targets, market, settings, tax=self.tax, restrictions=self._restrictions,
                           lot_slots=self.lot_groups)
        half_spread, adv_usd = self._day_cost_arrays(date)
        asset, lot_id, acquired = ledger.recent_buy_arrays(date, self.tax.wash_sale_days)
        book = BookView(cash_usd=max(float(state.cash_usd), 0.0), loss_sales=ledger.last_loss_sale,
                        recent_asset=asset, recent_lot_id=lot_id, recent_acquired=acquired.astype("datetime64[ns]"),
                        realized_gain_usd=float(ledger.realized_gain_usd(date)))
        return self._arrays.build(date, state.prices, state.volatility, adv_usd, half_spread, self._commission_array,
                                  risk, targets, groups, book, settings)

    def _reads_arrays(self, ledger) -> bool:
        """Whether the ledger hands its lots over as arrays in the policy's asset order."""
        return getattr(ledger, "lot_arrays", None) is not None and list(getattr(ledger, "assets", ())) == list(self._assets)

    def _lot_groups(self, date: pd.Timestamp, state: State) -> LotGroups:
        """The ledger's open lots grouped into at most ``lot_groups`` slots per asset, read as
        arrays when the ledger offers them (:meth:`optimizer.backtest.ledger.Ledger.lot_arrays`)."""
        ledger = state.ledger
        if not self._reads_arrays(ledger):
            prices = pd.Series(state.prices, index=self._index)
            return group_lots(ledger.lots_frame(), prices, date, self.tax.long_term_days, self.lot_groups)
        lot_id, asset, shares, basis, acquired = ledger.lot_arrays()
        return group_lot_arrays(lot_id, asset, np.asarray(self._assets, dtype=object),
                                np.asarray(state.prices, dtype=float), shares, basis, acquired, date,
                                self.tax.long_term_days, self.lot_groups)

    def _inputs(self, date: pd.Timestamp, state: State, risk: RiskModel, groups: LotGroups
                ) -> tuple[Market, Portfolio]:
        """The decision's market snapshot and book: through the trusted constructors (the
        simulator's arrays and the ledger's records are valid by construction), or the
        checking ones when ``validate_inputs`` is set; the same objects either way."""
        ledger = state.ledger
        half_spread, adv_usd = self._day_costs(date)
        market = dict(date=date, prices=pd.Series(state.prices, index=self._index, dtype=float),
                      asset_class=self._classes, risk=risk,
                      volatility=pd.Series(state.volatility, index=self._index, dtype=float),
                      adv_usd=adv_usd, half_spread=half_spread, commission=self._commission)
        losses = ledger.last_loss_sale
        book = dict(cash_usd=max(float(state.cash_usd), 0.0),
                    recent_loss_sales=pd.Series(list(losses.values()), index=pd.Index(list(losses), dtype=str),
                                                dtype="datetime64[ns]"),
                    recent_buys=ledger.recent_buys(date, self.tax.wash_sale_days),
                    realized_gain_usd=float(ledger.realized_gain_usd(date)))
        if self.validate_inputs:
            return Market(**market), Portfolio(lots=groups.lots, **book)
        return Market.trusted(**market), Portfolio.trusted(groups.lots, **book)

    def _day_costs(self, date: pd.Timestamp) -> tuple[pd.Series, pd.Series]:
        """:meth:`_day_cost_arrays` as Series by asset."""
        half_spread, adv_usd = self._day_cost_arrays(date)
        return pd.Series(half_spread, index=self._index), pd.Series(adv_usd, index=self._index)

    def _day_cost_arrays(self, date: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
        """Half spread and ADV per asset on ``date``, in asset order: the cost model's stress
        scaling applied (the simulator fills with the same numbers); the base numbers without ``stress``."""
        if self.costs.stress is None:
            return self._half_spread_array, self._adv_array
        spread_scale, impact_scale = (scale[0] for scale in self.costs.stress_multipliers([date]))
        return self._half_spread_array * spread_scale, self._adv_array / impact_scale

    def _tactical(self, date: pd.Timestamp, state: State) -> tuple[Targets, np.ndarray | None]:
        """This decision's targets and buy limits (NAV fraction per asset, or None) after the tactics."""
        if not self.tactics:
            return self._targets, None
        target, buy_limit = self._target.copy(), None
        for tactic in self.tactics:
            view = tactic.adjust(date, state, target)
            target = view.target
            if view.buy_limit is not None:
                buy_limit = view.buy_limit if buy_limit is None else np.minimum(buy_limit, view.buy_limit)
        tilt = target - self._target
        if not np.any(np.abs(tilt) > 1e-12):
            return self._targets, buy_limit
        return self._targets.with_tilt(pd.Series(tilt, index=list(state.assets)), 1.0), buy_limit

    def _solve_without_small_trades(self, data: ProblemData) -> "_Answer":
        """Solve; while some asset's trade is below the minimum, freeze it and re-solve.

        The tax buffer is dropped if the book cannot hold it (the simulator then funds the
        tax itself); a freeze that makes the program infeasible ends the rounds, keeping
        the last answer without its small trades.
        """
        try:
            answer = self._solve(data)
        except InfeasibleError:
            if data.cash_min <= 0:
                raise
            data = replace(data, cash_min=0.0)
            answer = self._solve(data)
        smallest = max(self.min_trade_usd / data.nav_usd, self.min_trade_weight)
        L = data.shape.lot_slots
        frozen = np.zeros(data.shape.n_assets, dtype=bool)
        for _ in range(MIN_TRADE_ROUNDS):
            trade = np.abs(answer.trade_usd) / data.nav_usd
            small = (trade < smallest) & (trade > SOLVER_NOISE) & ~frozen
            if not small.any():
                break
            frozen |= small
            sell_max = data.lot_sell_max.reshape(-1, L).copy()
            sell_max[frozen] = 0.0
            data = data.with_bounds(buy_max=np.where(frozen, 0.0, data.buy_max), lot_sell_max=sell_max.ravel())
            try:
                answer = self._solve(data)
            except InfeasibleError:
                break
        return answer.without_small(smallest * data.nav_usd)     # solver noise, or what the rounds left

    def _without_small_harvests(self, data: ProblemData, acquired_by_id: Callable[[], dict]) -> ProblemData:
        """``data`` with no harvesting credit for loss lots (groups) below the harvesting rules:
        losing under ``min_harvest_loss`` of their value or ``min_harvest_usd`` dollars, or held
        under ``min_holding_days`` (``acquired_by_id()``: each lot id's acquisition date, asked
        for only then)."""
        loss = data.lot_gain < 0
        small = loss & (data.lot_gain > -self.min_harvest_loss)
        if self.min_harvest_usd > 0:
            small |= loss & (-data.lot_gain * data.lot_value * data.nav_usd < self.min_harvest_usd)
        if self.min_holding_days > 0 and loss.any():
            acquired = acquired_by_id()
            held = np.array([(data.date - acquired[k]).days if k in acquired else np.inf for k in data.lot_ids])
            small |= loss & (held < self.min_holding_days)
        if not small.any():
            return data
        return replace(data, lot_tax_cost=np.where(small, 0.0, data.lot_tax_cost))

    def _solve(self, data: ProblemData) -> "_Answer":
        solved = self.rebalancer.solve_trade(data, whole_units=self.whole_shares)
        self._solver_clock += sum(a.solver_seconds or a.seconds for a in solved.attempts)
        # the trades table's ``trade_usd`` column and the lot sales, without laying out the result
        return _Answer(solved, solved.data.shape.assets, solved.trade.net(solved.data) * solved.data.nav_usd,
                       _group_sales(solved.data, solved.trade))

    def state_dict(self) -> dict:
        return {"schedule": self.schedule.last, "risk_key": self._risk_key, "risk": self._risk,
                "relative_var": self._relative_var, "covariance": self._covariance,
                "tactics": [tactic.state_dict() for tactic in self.tactics]}

    def load_state_dict(self, state: dict) -> None:
        self.schedule.last = state.get("schedule")
        self._risk_key = state.get("risk_key")
        self._risk = state.get("risk")
        self._relative_var = state.get("relative_var")
        self._covariance = state.get("covariance")
        for tactic, saved in zip(self.tactics, state.get("tactics", [])):
            tactic.load_state_dict(saved)


def _checked_substitutes(substitutes: dict[str, list[str]] | None, tax: TaxRules) -> dict[str, list[str]] | None:
    """``substitutes`` as ``{asset: [replacement, ...]}`` with names as strings; a replacement
    substantially identical to its asset (same wash-sale group) is refused."""
    if substitutes is None:
        return None
    if not isinstance(substitutes, dict):
        raise InputError("substitutes", f"expected a mapping asset -> list of replacements, got "
                                        f"{type(substitutes).__name__}")
    checked = {}
    for asset, replacements in substitutes.items():
        if isinstance(replacements, str) or not isinstance(replacements, (list, tuple)):
            raise InputError("substitutes", "lists replacements as a list of names", asset=str(asset))
        for name in replacements:
            if tax.wash_group(str(name)) == tax.wash_group(str(asset)):
                raise InputError("substitutes", f"lists {name!r}, substantially identical to the asset "
                                                f"(same wash-sale group): buying it would be a wash sale",
                                 asset=str(asset))
        checked[str(asset)] = [str(name) for name in replacements]
    return checked


@dataclass(frozen=True)
class _Answer:
    """One solve (:class:`optimizer.rebalancer.SolvedTrade`), its trade per asset (dollars,
    ``+`` buy, in ``assets`` order) and its lot (group) sales ``(asset, group id, shares)``,
    read off the solution so no result is laid out; :meth:`without_small` zeroes small
    trades and drops their assets' lot sales."""

    solved: SolvedTrade
    assets: tuple[str, ...]
    trade_usd: np.ndarray
    lot_sales: list[tuple[str, str, float]]

    def without_small(self, smallest_usd: float) -> "_Answer":
        """Trades below ``smallest_usd`` zeroed: solver noise, or what the re-solve rounds left."""
        small = np.abs(self.trade_usd) < smallest_usd
        dropped = {a for a, s in zip(self.assets, small) if s}
        return _Answer(self.solved, self.assets, np.where(small, 0.0, self.trade_usd),
                       [sale for sale in self.lot_sales if sale[0] not in dropped])

    def trade_usd_of(self, assets: tuple[str, ...]) -> np.ndarray:
        """The trade per asset of ``assets`` (0 for assets the program did not hold), a fresh array."""
        if self.assets == assets:
            return self.trade_usd.copy()
        at = {a: i for i, a in enumerate(self.assets)}
        return np.array([self.trade_usd[at[a]] if a in at else 0.0 for a in assets], dtype=float)


def _group_sales(data: ProblemData, trade: Trade) -> list[tuple[str, str, float]]:
    """``(asset, group id, shares)`` per lot slot sold: the rows of the result's ``lot_sales``
    table (:func:`optimizer.result.sold_lots`) without the table."""
    L = data.shape.lot_slots
    sold, shares = sold_lots(data, trade)
    return [(data.shape.assets[j // L], str(data.lot_ids[j]), float(q)) for j, q in zip(sold.tolist(), shares.tolist())]


def _ledger_lot_sales(answer: _Answer, groups: LotGroups) -> dict[str, dict[str, float]]:
    """``{asset: {ledger lot_id: shares}}`` for the group sales in ``answer``."""
    by_asset: dict[str, dict[str, float]] = {}
    for asset, group_id, shares in answer.lot_sales:
        by_asset.setdefault(asset, {})[group_id] = shares
    return {asset: relieve(groups, sales) for asset, sales in by_asset.items()}
