"""Execute a policy's decisions over several days and measure implementation shortfall.

:class:`ScheduledExecution` wraps any :class:`optimizer.policies.Policy`: on the date the
inner policy decides, its dollar trades become *parent orders* in shares at that date's
prices (the **arrival prices**), and the wrapper emits one child order per asset per date
over the next ``days`` dates of the calendar (the decision date is the first), sized by

- ``"twap"``: equal shares per date (:func:`optimizer.execution.twap`);
- ``"vwap"``: in proportion to the expected volume of each date (:func:`optimizer.execution.vwap`),
  so more trades on liquid days;
- ``"schedule"``: the Almgren-Chriss convex program (:func:`optimizer.execution.schedule`)
  with the simulator's cost numbers (spread + commission per share, temporary impact
  ``impact_eta * vol * price^2 / ADV`` per share^2 scaled by ``mean(volume) / volume_k`` so
  a liquid day is cheaper, no permanent impact), ``risk_aversion`` and an optional
  participation cap on the expected volume.

The simulator is not changed: it fills each child order at that date's price and charges
it like any order. Each child is sized so that the cumulative fill follows the planned
cumulative path (a child the simulator scaled down, e.g. for cash, is caught up on the
next date). After the run :meth:`ScheduledExecution.shortfall` measures, per parent order
and asset, the implementation shortfall against the arrival price (Perold 1988):

    shortfall = sum_k n_k (p_k - p_0)                       (price drift on the fills)
              + spread + commission + impact                (what the simulator charged)
              + (X - sum_k n_k) (p_last - p_0)              (opportunity cost of what is unfilled)

with X the parent's signed shares (+ buy), n_k the shares filled on date k (measured from
the result's holdings), p_0 the arrival price and p_last the price on the parent's last
date. Dollars, and basis points of ``|X| p_0``. Positive is a cost.

Assumptions (stated, not hidden): the wrapper is the only trader on an execution date
(forced sales of the simulator on such a date are counted as fills of the parent);
``volume`` is used as given as the forecast of each date, so realized volume makes the
VWAP profile perfectly foreseen (look-ahead; pass a forecast to avoid it); the simulator
charges impact with a constant ADV (``CostModel.adv_usd``), so trading more on a liquid day
does not lower the *simulated* impact; named lots of the inner order are passed to each
child sale (those still held), so they are sold first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.backtest.costs import CostModel, price_trade, trailing_volatility
from optimizer.backtest.result import BacktestResult
from optimizer.errors import InputError
from optimizer.execution.baselines import twap, vwap
from optimizer.execution.orders import child_orders
from optimizer.execution.program import schedule
from optimizer.policies.base import Orders, Policy, State

METHODS = ("twap", "vwap", "schedule")
WHILE_BUSY = ("ignore", "replace")
#: Parent trades smaller than this many dollars are not scheduled (the simulator's fill threshold).
MIN_PARENT_USD = 0.01
#: Columns of :meth:`ScheduledExecution.shortfall`.
SHORTFALL_COLUMNS = (
    "parent", "decision_date", "asset", "side", "parent_shares", "arrival_price", "parent_usd", "filled_shares",
    "first_date", "last_date", "days", "avg_fill_price", "drift_usd", "spread_usd", "commission_usd", "impact_usd",
    "cost_usd", "opportunity_usd", "shortfall_usd", "shortfall_bp", "status",
)
#: Columns of :attr:`ScheduledExecution.child_orders`.
CHILD_COLUMNS = ("parent", "date", "day", "asset", "planned_shares", "ordered_shares", "price")


class ScheduledExecution(Policy):
    """Execute ``policy``'s decisions over ``days`` dates with a TWAP, VWAP or optimal schedule.

    Parameters
    ----------
    policy:
        The inner policy (asked every date; its target is this wrapper's target).
    days:
        Dates over which a parent order is executed, >= 1 (1: all on the decision date,
        exactly as the inner policy alone).
    method:
        ``"twap"``, ``"vwap"`` or ``"schedule"`` (see the module docstring).
    volume:
        Expected market volume per date and asset (dates x assets, shares; any unit works
        for ``"vwap"``, shares for the participation cap), covering every date on which an
        execution runs; needed by ``"vwap"`` and ``"schedule"``. An execution never runs past
        the last date of ``volume``.
    costs:
        The simulator's cost model (``BacktestConfig.costs``), used to price the
        ``"schedule"`` program and the measured shortfall. :meth:`shortfall` checks that it
        reproduces what the simulator charged.
    risk_aversion:
        lambda of the ``"schedule"`` program, per dollar (0: minimum expected cost).
    max_participation:
        Cap on the daily trade as a fraction of the expected volume (``"schedule"`` only).
    while_busy:
        What to do when the inner policy decides while an execution is still running:
        ``"ignore"`` its new orders (default) or ``"replace"`` the running parent (the
        unfilled rest is cancelled and the new decision becomes the parent).
    name:
        Label in results (default ``"<inner name>_<method><days>"``).
    """

    def __init__(self, policy: Policy, days: int = 5, method: str = "vwap", volume: pd.DataFrame | None = None, *,
                 costs: CostModel | None = None, risk_aversion: float = 0.0, max_participation: float | None = None,
                 while_busy: str = "ignore", name: str | None = None):
        if not isinstance(policy, Policy):
            raise InputError("policy", f"must be a Policy, got {type(policy).__name__}")
        if isinstance(days, bool) or not isinstance(days, (int, np.integer)) or days < 1:
            raise InputError("days", f"is {days!r}; it must be a whole number >= 1")
        if method not in METHODS:
            raise InputError("method", f"is {method!r}; use one of {METHODS}")
        if while_busy not in WHILE_BUSY:
            raise InputError("while_busy", f"is {while_busy!r}; use one of {WHILE_BUSY}")
        if method != "twap":
            if not isinstance(volume, pd.DataFrame) or not isinstance(volume.index, pd.DatetimeIndex):
                raise InputError("volume", f"method {method!r} needs a DataFrame of expected volume (dates x assets)")
        if not (np.isfinite(risk_aversion) and risk_aversion >= 0):
            raise InputError("risk_aversion", f"is {risk_aversion!r}; it must be >= 0")
        super().__init__(policy.target)
        self.policy = policy
        self.days = int(days)
        self.method = method
        self.volume = None if volume is None else volume.sort_index()
        self.costs = CostModel() if costs is None else costs
        self.risk_aversion = float(risk_aversion)
        self.max_participation = max_participation
        self.while_busy = while_busy
        self.name = name or f"{policy.name}_{method}{days}"
        self._reset()

    # -- life cycle ----------------------------------------------------------------------
    def _reset(self) -> None:
        self._parents: list[dict] = []
        self._children: list[dict] = []
        self._active: int | None = None
        self.ignored_decisions = 0

    def start(self, assets: tuple[str, ...]) -> None:
        super().start(assets)
        self.policy.start(assets)
        self._assets = tuple(assets)
        self._reset()
        if self.volume is not None and self.method != "twap":
            missing = [a for a in assets if a not in self.volume.columns]
            if missing:
                raise InputError("volume", "has no column for this asset", asset=str(missing[0]))
        self.costs.arrays(list(assets))         # validates the cost numbers for these assets

    def state_dict(self) -> dict:
        return {"inner": self.policy.state_dict(), "parents": self._parents, "children": self._children,
                "active": self._active, "ignored": self.ignored_decisions}

    def load_state_dict(self, state: dict) -> None:
        self.policy.load_state_dict(state["inner"])
        self._parents, self._children = state["parents"], state["children"]
        self._active, self.ignored_decisions = state["active"], state["ignored"]

    # -- deciding ------------------------------------------------------------------------
    def decide(self, date: pd.Timestamp, state: State) -> Orders | None:
        inner = self.policy.decide(date, state)
        if inner is not None and np.any(np.abs(inner.trade_array(state.assets)) >= MIN_PARENT_USD):
            if self._active is None or self.while_busy == "replace":
                if self._active is not None:
                    self._parents[self._active]["status"] = "cancelled"
                self._open(date, state, inner)
            else:
                self.ignored_decisions += 1
        if self._active is None:
            return None
        return self._child(date, state)

    def _open(self, date: pd.Timestamp, state: State, inner: Orders) -> None:
        prices = np.asarray(state.prices, dtype=float)
        trade = inner.trade_array(state.assets)
        trade[np.abs(trade) < MIN_PARENT_USD] = 0.0
        shares = trade / prices
        dates = self._execution_dates(date)
        plan = np.zeros((len(dates), len(prices)))
        self._today = self.costs.on(date, list(self._assets))       # stress-scaled, as the simulator fills today
        for i in np.nonzero(shares)[0]:
            plan[:, i] = self._plan(i, shares[i], prices[i], float(state.volatility[i]), dates)
        self._parents.append({
            "decision_date": date, "step": state.step, "shares": shares, "arrival": prices.copy(),
            "start_shares": np.asarray(state.holdings_usd, dtype=float) / prices, "plan": plan,
            "lot_sales": inner.lot_sales or {}, "days": len(dates), "dates": dates, "done": 0, "status": "open",
            "last_step": None,
        })
        self._active = len(self._parents) - 1

    def _execution_dates(self, date: pd.Timestamp) -> list:
        """The dates of one execution: ``days`` dates from ``date`` on (the volume calendar's, if any)."""
        if self.volume is None or self.method == "twap":
            return list(range(self.days))
        position = self.volume.index.searchsorted(date)
        if position >= len(self.volume.index) or self.volume.index[position] != date:
            raise InputError("volume", f"has no row for the decision date {date.date()}")
        return list(self.volume.index[position:position + self.days])

    def _plan(self, i: int, shares: float, price: float, daily_vol: float, dates: list) -> np.ndarray:
        """Signed child shares per execution date for a parent of ``shares`` (+ buy) of asset ``i``."""
        periods = len(dates)
        if periods == 1:
            return np.array([shares])
        # the execution functions liquidate a position: a buy of X is a short of X bought back
        if self.method == "twap":
            path = twap(-shares, periods)
        else:
            profile = self.volume[self._assets[i]].reindex(dates).to_numpy(dtype=float)
            if not np.all(np.isfinite(profile)) or (profile < 0).any():
                raise InputError("volume", f"is missing or negative on {pd.Timestamp(dates[0]).date()} .. "
                                           f"{pd.Timestamp(dates[-1]).date()}", asset=self._assets[i])
            if profile.sum() <= 0:
                path = twap(-shares, periods)
            elif self.method == "vwap":
                path = vwap(-shares, profile)
            else:
                path = self._optimal(i, shares, price, daily_vol, profile).holdings
        return child_orders(path, whole_shares=False)["trade_shares"].to_numpy(dtype=float)

    def _optimal(self, i: int, shares: float, price: float, daily_vol: float, profile: np.ndarray):
        """The Almgren-Chriss program with the simulator's costs, in shares and days."""
        half_spread, commission, adv_usd = self._today
        eta = self.costs.impact_eta * daily_vol * price**2 / adv_usd[i]
        liquid = np.where(profile > 0, profile, profile[profile > 0].min())
        eta_k = np.maximum(eta, 1e-12 * price) * liquid.mean() / liquid
        return schedule(-shares, len(profile), sigma=daily_vol * price, eta=eta_k, gamma=0.0,
                        risk_aversion=self.risk_aversion, spread=(half_spread[i] + commission[i]) * price,
                        volume=profile if self.max_participation is not None else None,
                        max_participation=self.max_participation)

    def _child(self, date: pd.Timestamp, state: State) -> Orders | None:
        parent = self._parents[self._active]
        day = parent["done"]
        planned_date = parent["dates"][day]
        if isinstance(planned_date, pd.Timestamp) and planned_date != date:
            raise InputError("volume", f"planned execution day {day + 1} on {planned_date.date()} but the price "
                                       f"calendar's next date is {date.date()}; index the volume by the price dates")
        prices = np.asarray(state.prices, dtype=float)
        now = np.asarray(state.holdings_usd, dtype=float) / prices
        planned_to_date = parent["plan"][:day + 1].sum(axis=0)
        ordered = np.where(parent["shares"] != 0, planned_to_date - (now - parent["start_shares"]), 0.0)
        for i in np.nonzero(parent["shares"])[0]:
            self._children.append({"parent": self._active, "date": date, "day": day + 1, "asset": self._assets[i],
                                   "planned_shares": parent["plan"][day, i], "ordered_shares": ordered[i],
                                   "price": prices[i]})
        parent["done"] = day + 1
        parent["last_step"] = state.step
        if parent["done"] >= parent["days"]:
            parent["status"] = "complete"
            self._active = None
        lot_sales = self._lot_sales(parent["lot_sales"], ordered, state)
        return Orders(ordered * prices, lot_sales or None)

    def _lot_sales(self, named: dict, ordered: np.ndarray, state: State) -> dict:
        """The inner order's named lots still held, for the assets sold today."""
        out = {}
        for asset, lots in named.items():
            i = self._assets.index(asset)
            if ordered[i] >= 0:
                continue
            held = {lot[0] for lot in state.ledger.lots[i]}
            kept = {lot_id: amount for lot_id, amount in lots.items() if str(lot_id) in held}
            if kept:
                out[asset] = kept
        return out

    # -- after the run -------------------------------------------------------------------
    @property
    def child_orders(self) -> pd.DataFrame:
        """Every child order of the last run: ``parent`` (0-based), ``date``, ``day`` (1..days),
        ``asset``, ``planned_shares`` (the schedule's slice, + buy), ``ordered_shares`` (sent:
        the planned cumulative path less what was filled before), ``price`` (that date's)."""
        return pd.DataFrame(self._children, columns=list(CHILD_COLUMNS))

    def parents(self) -> pd.DataFrame:
        """One row per parent order and asset: decision date, signed shares (+ buy), arrival price, status."""
        rows = [{"parent": k, "decision_date": p["decision_date"], "asset": self._assets[i],
                 "parent_shares": p["shares"][i], "arrival_price": p["arrival"][i], "status": p["status"]}
                for k, p in enumerate(self._parents) for i in np.nonzero(p["shares"])[0]]
        return pd.DataFrame(rows, columns=["parent", "decision_date", "asset", "parent_shares", "arrival_price",
                                           "status"])

    def shortfall(self, result: BacktestResult) -> pd.DataFrame:
        """Implementation shortfall per parent order and asset, measured on ``result`` (this policy's run).

        Returns
        -------
        pandas.DataFrame
            Columns :data:`SHORTFALL_COLUMNS`: ``parent_shares`` (signed, + buy),
            ``arrival_price`` and ``avg_fill_price`` (dollars per share), ``parent_usd``
            (``|X| p_0``), ``filled_shares`` (signed), ``first_date``/``last_date``/``days``
            (execution dates used), and in dollars (positive = cost) ``drift_usd`` (fills vs
            arrival price), ``spread_usd``, ``commission_usd``, ``impact_usd`` (as the
            simulator charged them), ``cost_usd`` (their sum), ``opportunity_usd`` (unfilled
            shares x price move to the last date), ``shortfall_usd`` (all of it) and
            ``shortfall_bp`` (of ``parent_usd``); ``status`` ``complete``, ``cancelled``
            (replaced by a new decision) or ``open`` (the run ended first).

        Raises
        ------
        InputError
            ``result`` if it is not this policy's run on its assets, or ``costs`` if the
            cost model does not reproduce what the simulator charged on an execution date.
        """
        if tuple(result.assets) != self._assets or result.policy != self.name:
            raise InputError("result", f"is the run of {result.policy!r}, not of this policy {self.name!r}")
        prices = np.asarray(result.prices, dtype=float)
        after = np.asarray(result.holdings_usd, dtype=float) / prices       # shares at the end of each date
        volatility = trailing_volatility(prices, self.costs.vol_window)
        children = self.child_orders
        step_of = {d: k for k, d in enumerate(result.calendar)}
        rows = []
        for k, parent in enumerate(self._parents):
            mine = children[children["parent"] == k]
            steps = sorted({step_of[d] for d in mine["date"]})
            if not steps:
                continue
            before = np.vstack([parent["start_shares"], after[steps[:-1]]])
            fills = after[steps] - before                                    # dates x assets, shares
            fill_usd = fills * prices[steps]
            fees = np.array([self._fees(fill_usd[j], result.calendar[s], volatility[s]) for j, s in enumerate(steps)])
            self._check_charged(result, steps, fees, fill_usd)
            for i in np.nonzero(parent["shares"])[0]:
                X, p0 = parent["shares"][i], parent["arrival"][i]
                n = fills[:, i]
                p = prices[steps, i]
                spread, commission, impact = (float(fees[:, c, i].sum()) for c in range(3))
                drift = float(n @ (p - p0))
                opportunity = float((X - n.sum()) * (p[-1] - p0))
                total = drift + spread + commission + impact + opportunity
                notional = abs(X) * p0
                rows.append({
                    "parent": k, "decision_date": parent["decision_date"], "asset": self._assets[i],
                    "side": "buy" if X > 0 else "sell", "parent_shares": X, "arrival_price": p0,
                    "parent_usd": notional, "filled_shares": float(n.sum()),
                    "first_date": result.calendar[steps[0]], "last_date": result.calendar[steps[-1]],
                    "days": len(steps), "avg_fill_price": float(n @ p / n.sum()) if n.sum() != 0 else np.nan,
                    "drift_usd": drift, "spread_usd": spread, "commission_usd": commission, "impact_usd": impact,
                    "cost_usd": spread + commission + impact, "opportunity_usd": opportunity,
                    "shortfall_usd": total, "shortfall_bp": total / notional * 1e4, "status": parent["status"],
                })
        return pd.DataFrame(rows, columns=list(SHORTFALL_COLUMNS))

    def _fees(self, trade_usd: np.ndarray, date: pd.Timestamp, volatility: np.ndarray) -> tuple:
        """(spread, commission, impact) per asset of ``trade_usd`` filled on ``date``: the simulator's formula
        with its stress-scaled cost numbers of that date (:meth:`CostModel.on`)."""
        half_spread, commission, adv_usd = self.costs.on(date, list(self._assets))
        return price_trade(trade_usd, half_spread, commission, self.costs.impact_eta, volatility, adv_usd)

    def _check_charged(self, result: BacktestResult, steps: list[int], fees: np.ndarray,
                       fill_usd: np.ndarray) -> None:
        """Raise if the recomputed fees of the fills differ from what the simulator charged those dates."""
        charged = (np.asarray(result.spread_usd)[steps] + np.asarray(result.commission_usd)[steps]
                   + np.asarray(result.impact_usd)[steps])
        recomputed = fees.sum(axis=(1, 2))
        forced = np.asarray(result.forced)[steps]
        scale = np.abs(fill_usd).sum(axis=1) + 1.0
        bad = (~forced) & (np.abs(charged - recomputed) > 1e-9 * scale)
        if bad.any():
            j = int(np.argmax(bad))
            raise InputError("costs", f"the cost model gives {recomputed[j]:.6f} USD on "
                                      f"{result.calendar[steps[j]].date()} but the simulator charged "
                                      f"{charged[j]:.6f}; pass the simulator's BacktestConfig.costs")
