"""The engine as a policy: one :class:`optimizer.Rebalancer`, re-solved on its own schedule.

Targets and bands are **per asset** (each asset is its own exposure key:
``Market.asset_class`` maps an asset to itself), so the optimizer answers to exactly the
target the heuristics chase and the metrics measure. Per decision it builds

* a :class:`RiskModel` with :meth:`RiskModel.from_returns` on the trailing ``lookback``
  returns (PCA, ``n_factors``), annualised with the data's periods per year;
* a :class:`Market` whose spreads, commissions, ADV and volatility are the simulator's
  (:class:`optimizer.backtest.CostModel` and its trailing volatility), so the trade is
  priced exactly as it will be filled (on monthly data the "daily" volatility of
  :class:`Market` is the volatility per month, on both sides);
* a :class:`Portfolio` from the ledger's open lots, cash and latest loss sales (for the
  wash-sale rule), with lot slots rounded up to a power of two so the problem shape,
  and the built cvxpy problem, changes only a few times over a long run.

The answer's ``lot_sales`` are passed on, so the simulator relieves exactly the lots the
optimizer chose. A decision that fails (solver or infeasibility) is recorded in
``failures`` and leaves the book alone for that date; answers no solver in the chain
solved accurately are used but counted in ``inaccurate``.
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from optimizer.backtest.costs import CostModel
from optimizer.errors import InfeasibleError, SolverError
from optimizer.model import Market, Portfolio, RiskModel, Settings, Targets, TaxRules
from optimizer.policies.base import Orders, Policy, Schedule, State
from optimizer.rebalancer import Rebalancer


class OptimizerPolicy(Policy):
    """Rebalance with the convex program every ``every`` period.

    Parameters
    ----------
    target:
        Target weights per asset (NAV fractions; the rest is cash).
    costs:
        The backtest's cost model (must be the simulator's, so prices agree).
    tax:
        Tax rules the optimizer prices (the backtest's ledger should use the same).
    risk_aversion, cost_weight, impact_weight, tax_weight:
        :class:`optimizer.Settings` objective weights.
    band_width:
        Soft absolute band around each target (NAV fraction).
    every:
        Decision frequency: ``"W"`` weekly, ``"M"`` monthly, ... (``"D"`` every date).
    lookback:
        Trailing returns used for the risk model (periods of the data).
    n_factors:
        PCA factors in the risk model.
    min_trade_weight:
        Trades smaller than this NAV fraction (largest asset) count as no trade.
    """

    def __init__(self, target, *, costs: CostModel = CostModel(), tax: TaxRules = TaxRules(),
                 risk_aversion: float = 10.0, cost_weight: float = 1.0, impact_weight: float = 1.0,
                 tax_weight: float = 1.0, band_width: float = 0.10, every: str = "W", lookback: int = 252,
                 n_factors: int = 3, min_trade_weight: float = 1e-4, solvers: tuple[str, ...] | None = None,
                 name: str | None = None):
        super().__init__(target)
        self.costs = costs
        self.tax = tax
        self.settings = Settings(risk_aversion=risk_aversion, cost_weight=cost_weight, impact_weight=impact_weight,
                                 tax_weight=tax_weight, impact_eta=costs.impact_eta, bands="soft",
                                 solvers=solvers)
        self.band_width = band_width
        self.schedule = Schedule(every)
        self.lookback = lookback
        self.n_factors = n_factors
        self.min_trade_weight = min_trade_weight
        self.rebalancer = Rebalancer()
        self.name = name or f"optimizer_ra{risk_aversion:g}"
        self.failures: list[tuple[pd.Timestamp, str]] = []
        self.decisions = 0
        self.inaccurate = 0

    def start(self, assets: tuple[str, ...]) -> None:
        super().start(assets)
        names = list(assets)
        weight = pd.Series(self._target, index=names)
        self._targets = Targets.absolute(weight, self.band_width, cash_weight=max(0.0, 1.0 - float(weight.sum())))
        self._classes = pd.Series(names, index=names)
        half_spread, commission, adv = self.costs.arrays(names)
        self._half_spread = pd.Series(half_spread, index=names)
        self._commission = pd.Series(commission, index=names)
        self._adv = pd.Series(adv, index=names)

    def decide(self, date: pd.Timestamp, state: State) -> Orders | None:
        if not self.schedule.due(date, state.next_date):
            return None
        history = state.history[-(self.lookback + 1):]
        if len(history) < max(2 * self.n_factors, 10) + 1:
            return None
        names = list(state.assets)
        returns = pd.DataFrame(history[1:] / history[:-1] - 1.0, columns=names)
        risk = RiskModel.from_returns(returns, min(self.n_factors, len(names)), state.periods_per_year)
        market = Market(date=date, prices=pd.Series(state.prices, index=names), asset_class=self._classes,
                        risk=risk, volatility=pd.Series(state.volatility, index=names), adv_usd=self._adv,
                        half_spread=self._half_spread, commission=self._commission)
        ledger = state.ledger
        portfolio = Portfolio(lots=ledger.lots_frame(), cash_usd=max(state.cash_usd, 0.0),
                              recent_loss_sales=pd.Series(ledger.last_loss_sale, dtype="datetime64[ns]"))
        most = int(ledger.lot_counts().max()) if len(names) else 1
        slots = 1 << max(0, int(np.ceil(np.log2(max(most, 1)))))
        self.decisions += 1
        try:
            result = self.rebalancer.rebalance(portfolio, self._targets, market, self.settings, tax=self.tax,
                                               lot_slots=slots)
        except (SolverError, InfeasibleError) as exc:
            self.failures.append((date, str(exc)))
            return None
        if not result.accurate:
            self.inaccurate += 1
        trade = result.trades["trade_usd"].reindex(names).to_numpy(dtype=float)
        if np.abs(trade).max() < self.min_trade_weight * state.nav_usd:
            return None
        lot_sales: dict[str, dict[str, float]] = {}
        for lot_id, row in result.lot_sales.iterrows():
            lot_sales.setdefault(str(row["asset"]), {})[str(lot_id)] = float(row["shares"])
        return Orders(trade, lot_sales or None)

    def state_dict(self) -> dict:
        return {"schedule": self.schedule.last}

    def load_state_dict(self, state: dict) -> None:
        self.schedule.last = state.get("schedule")
