"""The optimizer policy with approved replacements (``OptimizerPolicy(substitutes=...)``).

IDX is the target asset; ALT follows it closely (another fund on a different index: the
same daily factor plus a small wiggle of its own) and has no target; both drop 20% on day
``DROP``. When IDX lots stand at a loss the policy harvests them and, while the wash-sale
window blocks IDX, holds ALT instead of leaving the exposure in cash; after the window it
buys IDX back, since holding ALT costs tracking error every year and the swap back costs
little (spread, and tax only on a gain ALT made meanwhile).
"""

import numpy as np
import pandas as pd
import pytest

from optimizer.backtest import BacktestConfig, CostModel, Simulator
from optimizer.backtest.audit import wash_sale_violations
from optimizer.errors import InputError
from optimizer.model import TaxRules
from optimizer.policies import OptimizerPolicy

DROP = 140
DAYS = 260
TARGET = {"IDX": 0.6, "ALT": 0.0, "BOND": 0.38}
COSTS = CostModel(half_spread=0.0002, commission=0.0, impact_eta=0.0)


def paths() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    factor = rng.normal(0.0004, 0.01, DAYS)
    returns = np.column_stack([factor, factor + rng.normal(0.0, 0.003, DAYS), rng.normal(0.0001, 0.002, DAYS)])
    returns[0] = 0.0
    returns[DROP, :2] = -0.20
    dates = pd.bdate_range("2021-01-04", periods=DAYS)
    return pd.DataFrame(100.0 * np.cumprod(1.0 + returns, axis=0), index=dates, columns=["IDX", "ALT", "BOND"])


def run(substitutes):
    prices = paths()
    policy = OptimizerPolicy(pd.Series(TARGET), costs=COSTS, risk_aversion=1000.0, every="W", lookback=60,
                             substitutes=substitutes)
    result = Simulator(prices, BacktestConfig(initial_usd=1_000_000.0, costs=COSTS)).run(policy)
    return result, prices


def test_harvests_into_the_replacement_and_swaps_back_after_the_window():
    result, prices = run({"IDX": ["ALT"]})
    losses = result.lot_reliefs[(result.lot_reliefs["asset"] == "IDX") & (result.lot_reliefs["gain_usd"] < -0.01)]
    assert len(losses), "the IDX loss was not harvested"
    harvest_day = losses["date"].min()
    buys = result.buys
    alt = buys[(buys["asset"] == "ALT") & (buys["date"] >= harvest_day)]
    assert len(alt) and alt["date"].min() == harvest_day           # the replacement is bought with the sale
    back = buys[(buys["asset"] == "IDX") & (buys["date"] > harvest_day)]
    assert len(back), "never swapped back into IDX"
    assert (back["date"] - harvest_day).dt.days.min() > 30         # not inside the window
    assert len(wash_sale_violations(result.buys, result.lot_reliefs)) == 0
    final = result.holdings_usd[-1] / result.nav_usd[-1]
    assert final[1] < 0.1                                           # mostly back in IDX at the end


def test_without_approved_replacements_an_untargeted_asset_is_never_bought():
    result, _ = run({})
    assert not (result.buys["asset"] == "ALT").any()


def test_a_substantially_identical_replacement_is_refused():
    tax = TaxRules(identical_groups={"IDX": "sp500", "ALT": "sp500"})
    with pytest.raises(InputError, match="substantially identical"):
        OptimizerPolicy(pd.Series(TARGET), tax=tax, substitutes={"IDX": ["ALT"]})


def test_a_replacement_missing_from_the_prices_is_named():
    policy = OptimizerPolicy(pd.Series(TARGET), costs=COSTS, lookback=60, substitutes={"IDX": ["NOPE"]})
    with pytest.raises(InputError, match="NOPE"):
        Simulator(paths(), BacktestConfig(costs=COSTS)).run(policy)
