"""Small factories for hand-made rebalance cases used by the oracle, program and input tests.

Imported by name (``from case_factories import ...``); it is not a ``conftest.py`` because
several test folders have one and a plain ``import conftest`` would pick the wrong one.

Every amount is in account currency ("USD") unless named ``weight`` (fraction of NAV).
The cases are tiny on purpose: one to three assets, a one-factor risk model, a handful
of lots, so each closed form can be written down by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from optimizer import Case, Market, Portfolio, Restrictions, RiskModel, Settings, Targets, TaxRules
from optimizer.problem_data import ProblemData, prepare

DATE = pd.Timestamp("2024-06-28")


def lots_frame(rows: Sequence[tuple[str, str, float, float, int]]) -> pd.DataFrame:
    """Lots from ``(lot_id, asset, quantity_shares, basis_per_share, days_held)`` rows."""
    return pd.DataFrame(
        [(lot, asset, qty, basis, DATE - pd.Timedelta(days=days)) for lot, asset, qty, basis, days in rows],
        columns=["lot_id", "asset", "quantity", "cost_basis", "acquired"],
    )


def one_factor_risk(keys: Sequence[str], loadings: Sequence[float], factor_var: float,
                    specific_var: Sequence[float]) -> RiskModel:
    """Risk model with one factor: covariance ``factor_var * b b' + diag(specific_var)`` (annual)."""
    keys = list(keys)
    return RiskModel(
        loadings=pd.DataFrame({"F0": np.asarray(loadings, dtype=float)}, index=keys),
        factor_cov=pd.DataFrame([[float(factor_var)]], index=["F0"], columns=["F0"]),
        specific_var=pd.Series(np.asarray(specific_var, dtype=float), index=keys),
    )


def make_market(prices: dict[str, float], risk: RiskModel, *, half_spread: float | dict = 0.0,
                commission: float | dict = 0.0, volatility: float | dict = 0.01,
                adv_usd: float | dict = 1e9) -> Market:
    """A market snapshot on ``DATE`` with per-asset targets (each asset is its own exposure key)."""
    assets = list(prices)

    def per_asset(value):
        return pd.Series(value if isinstance(value, dict) else {a: float(value) for a in assets}, dtype=float)

    return Market(
        date=DATE,
        prices=pd.Series(prices, dtype=float),
        asset_class=pd.Series({a: a for a in assets}),
        risk=risk,
        volatility=per_asset(volatility),
        adv_usd=per_asset(adv_usd),
        half_spread=per_asset(half_spread),
        commission=per_asset(commission),
    )


def make_case(
    prices: dict[str, float],
    lots: Sequence[tuple[str, str, float, float, int]],
    *,
    cash_usd: float,
    target: dict[str, float],
    risk: RiskModel,
    lower: dict[str, float] | None = None,
    upper: dict[str, float] | None = None,
    width: float = 0.5,
    settings: Settings | None = None,
    tax: TaxRules | None = None,
    restrictions: Restrictions | None = None,
    **market_options,
) -> Case:
    """A hand-made case; targets get ``cash_weight = 1 - sum(target)``.

    Bands are ``target +/- width`` unless ``lower``/``upper`` are given per asset.
    Default settings: no wash-sale rule; default tax: none (a tax-exempt account).
    """
    weight = pd.Series(target, dtype=float)
    cash_weight = 1.0 - float(weight.sum())
    if lower is None and upper is None:
        targets = Targets.absolute(weight, width, cash_weight=cash_weight)
    else:
        targets = Targets(weight, pd.Series(lower, dtype=float), pd.Series(upper, dtype=float), cash_weight)
    return Case(
        portfolio=Portfolio(lots=lots_frame(lots), cash_usd=cash_usd),
        targets=targets,
        market=make_market(prices, risk, **market_options),
        settings=settings or Settings(wash_sale=False),
        tax=tax or TaxRules.none(),
        restrictions=restrictions or Restrictions(),
    )


def prepare_case(case: Case, **options) -> ProblemData:
    """``prepare`` with the case's own options."""
    return prepare(case.portfolio, case.targets, case.market, case.settings, **case.options(), **options)


class Interrupt(Exception):
    """Raised by a :func:`crash_once` policy: stands for a run killed mid-way."""


def crash_once(policy_class: type) -> type:
    """A subclass of ``policy_class`` whose ``decide`` raises :class:`Interrupt` once, on the
    step set in its ``crash_at`` attribute (to simulate an interrupted backtest)."""

    class Crashing(policy_class):
        crash_at: int | None = None

        def decide(self, date, state):
            if state.step == self.crash_at:
                self.crash_at = None
                raise Interrupt
            return super().decide(date, state)

    Crashing.__name__ = f"Crashing{policy_class.__name__}"
    return Crashing
