"""The optimizer policy's harvesting rules: minimum loss (% and $), minimum holding time,
whole shares."""

import numpy as np
import pandas as pd

from case_factories import lots_frame, make_case, one_factor_risk, prepare_case
from optimizer.backtest import BacktestConfig, CostModel, Simulator
from optimizer.model import TaxRules
from optimizer.policies import OptimizerPolicy

LOTS = [            # lot, asset, shares, basis, days held; the price is 100
    ("deep-old", "X", 100.0, 125.0, 200),     # -20%, $2,500 loss, 200 days
    ("deep-young", "X", 100.0, 125.0, 10),    # -20%, $2,500, 10 days
    ("shallow", "X", 100.0, 103.0, 200),      # -2.9%
    ("small-usd", "X", 2.0, 130.0, 200),      # -23%, but $60
    ("gain", "X", 100.0, 80.0, 200),
]


def harvest_credit(**rules) -> pd.Series:
    """The valued tax per dollar the policy leaves on each lot, by lot id."""
    case = make_case({"X": 100.0}, LOTS, cash_usd=10_000.0, target={"X": 0.9}, risk=one_factor_risk(["X"], [1.0], 0.04,
                     [0.01]), tax=TaxRules())
    data = prepare_case(case)
    policy = OptimizerPolicy(pd.Series({"X": 0.9}), **rules)
    lots = lots_frame(LOTS)
    out = policy._without_small_harvests(data, lambda: dict(zip(lots["lot_id"], lots["acquired"])))
    return pd.Series(out.lot_tax_cost, index=data.lot_ids).drop("", errors="ignore")


def test_each_rule_drops_exactly_the_lots_it_names():
    base = harvest_credit(min_harvest_loss=0.05)
    assert base["shallow"] == 0.0 and base["deep-old"] < 0 and base["deep-young"] < 0 and base["small-usd"] < 0
    dollars = harvest_credit(min_harvest_loss=0.05, min_harvest_usd=100.0)
    assert dollars["small-usd"] == 0.0 and dollars["deep-old"] < 0
    young = harvest_credit(min_harvest_loss=0.05, min_holding_days=30)
    assert young["deep-young"] == 0.0 and young["deep-old"] < 0
    for credits in (base, dollars, young):
        assert credits["gain"] > 0                      # gains keep their tax


def test_whole_shares_trades_whole_shares():
    rng = np.random.default_rng(3)
    returns = rng.normal(0.0003, 0.012, (160, 3))
    returns[0] = 0.0
    prices = pd.DataFrame(57.3 * np.cumprod(1 + returns, axis=0), index=pd.bdate_range("2022-01-03", periods=160),
                          columns=["A", "B", "C"])
    costs = CostModel(half_spread=0.0005, commission=0.0, impact_eta=0.0)
    policy = OptimizerPolicy(pd.Series({"A": 0.5, "B": 0.3, "C": 0.18}), costs=costs, risk_aversion=1e4,
                             every="W", lookback=40, whole_shares=True)
    result = Simulator(prices, BacktestConfig(initial_usd=250_000.0, costs=costs)).run(policy)
    later = result.buys[result.buys["date"] > prices.index[0]]
    assert len(later) > 3
    np.testing.assert_allclose(later["shares"], np.round(later["shares"]), atol=1e-9)
    sells = result.lot_reliefs.groupby(["date", "asset"])["shares"].sum()
    np.testing.assert_allclose(sells, np.round(sells), atol=1e-6)
    assert (result.cash_usd >= -1e-6).all()
