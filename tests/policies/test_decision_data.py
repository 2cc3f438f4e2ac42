"""The policy's decision data built from arrays equals ``prepare``'s, field by field, bit for bit.

Oracle: :func:`optimizer.problem_data.prepare` on the checked :class:`Market` and
:class:`Portfolio` of the same decision (``validate_inputs``), computed beside the array
builder (:class:`optimizer.policies.decision_data.DecisionArrays`) on every decision of
backtests that harvest losses, meet the wash-sale window (blocked buys and blocked loss
sales both seen), price a stressed cost model, restrict buys (approved replacements) and
share wash-sale groups.
"""

from dataclasses import fields

import numpy as np
import pandas as pd
import pytest

from optimizer.backtest import BacktestConfig, CostModel, Simulator
from optimizer.model import TaxRules
from optimizer.policies import OptimizerPolicy
from optimizer.policies.timing import MomentumTilt, TrendSignal


def volatile_prices(n_assets: int = 5, days: int = 300, seed: int = 3) -> pd.DataFrame:
    """Seeded log-normal daily prices (30-45% a year): lots gain and lose, so the policy harvests."""
    rng = np.random.default_rng(seed)
    vol = np.linspace(0.30, 0.45, n_assets) / np.sqrt(252)
    shocks = (rng.standard_normal((days, 1)) * 0.6 + 0.8 * rng.standard_normal((days, n_assets))) * vol
    return pd.DataFrame(100.0 * np.exp(np.cumsum(shocks, axis=0)), index=pd.bdate_range("2021-01-04", periods=days),
                        columns=[f"S{i}" for i in range(n_assets)])


class Comparing(OptimizerPolicy):
    """Builds every decision's data both ways and checks they are equal."""

    compared = 0
    blocked_buys = 0
    blocked_sales = 0
    tilted = 0

    def _data(self, date, state, risk, targets, groups, settings):
        fast = super()._data(date, state, risk, targets, groups, settings)
        self.validate_inputs = True
        checked = super()._data(date, state, risk, targets, groups, settings)
        self.validate_inputs = False
        assert fast is not checked
        for f in fields(checked):
            a, b = getattr(checked, f.name), getattr(fast, f.name)
            if isinstance(a, np.ndarray):
                assert a.dtype == b.dtype and a.shape == b.shape, f.name
                assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), f.name
            else:
                assert type(a) is type(b) and a == b, f.name
        self.compared += 1
        self.tilted += int(targets is not self._targets)
        self.blocked_buys += int(np.any(checked.buy_max == 0))
        occupied = checked.lot_ids != ""
        self.blocked_sales += int(np.any(occupied & (checked.lot_sell_max == 0)))
        return fast


@pytest.mark.parametrize("case", ["plain", "daily", "stressed_groups_substitutes", "tilted"])
def test_array_built_data_equals_prepare_on_every_decision(case):
    """Weekly, and daily (decisions fall exactly on the wash-sale window's last day); with a
    momentum tilt the targets change between decisions."""
    prices = volatile_prices(days=110 if case == "daily" else 300)
    every = "D" if case == "daily" else "W"
    tactics = (MomentumTilt(TrendSignal(kind="moving_average", window=20), max_tilt=0.05),) if case == "tilted" else ()
    if case in ("plain", "daily", "tilted"):
        target = pd.Series(0.95 / prices.shape[1], index=prices.columns)
        costs, tax, substitutes = CostModel(), TaxRules(), None
    else:
        target = pd.Series([0.3, 0.2, 0.25, 0.2, 0.0], index=prices.columns)
        level = pd.Series(np.linspace(12.0, 60.0, len(prices)), index=prices.index)
        costs = CostModel(half_spread=pd.Series(np.linspace(2e-4, 6e-4, 5), index=prices.columns), commission=1e-4,
                          adv_usd=pd.Series(np.linspace(5e6, 5e7, 5), index=prices.columns), stress=level)
        tax = TaxRules(identical_groups={"S0": "pair", "S1": "pair"})
        substitutes = {"S2": ["S4"]}
    policy = Comparing(target, costs=costs, tax=tax, substitutes=substitutes, every=every, lookback=40, n_factors=2,
                       risk_aversion=30.0, tactics=tactics)
    Simulator(prices, BacktestConfig(tax=tax, costs=costs)).run(policy)
    assert policy.compared == policy.decisions > 40
    assert policy.blocked_buys > 0 and policy.blocked_sales > 0     # the wash-sale look-back mattered
    if tactics:
        assert policy.tilted > 0                                     # tilted targets were compared
