"""The simulator charges exactly what the engine's terms price for the same trade."""

import numpy as np
import pandas as pd
import pytest

from optimizer.backtest import CostModel, price_trade
from optimizer.model import Market, Portfolio, RiskModel, Settings, Targets
from optimizer.problem_data import prepare
from optimizer.terms import impact, linear_costs
from optimizer.terms.base import Trade


def test_price_trade_matches_engine_terms():
    assets = ["A", "B", "C"]
    costs = CostModel(half_spread=pd.Series([0.0002, 0.0005, 0.001], index=assets), commission=0.0001,
                      adv_usd=pd.Series([1e7, 5e6, 2e6], index=assets), impact_eta=0.7)
    half_spread, commission, adv = costs.arrays(assets)
    vol = np.array([0.01, 0.02, 0.015])
    returns = pd.DataFrame(np.random.default_rng(0).normal(0, 0.01, (50, 3)), columns=assets)
    market = Market(date="2021-01-04", prices=pd.Series([10.0, 20.0, 50.0], index=assets),
                    asset_class=pd.Series(assets, index=assets), risk=RiskModel.from_returns(returns, 2, 252),
                    volatility=pd.Series(vol, index=assets), adv_usd=pd.Series(adv, index=assets),
                    half_spread=pd.Series(half_spread, index=assets), commission=pd.Series(commission, index=assets))
    lots = pd.DataFrame({"lot_id": ["a", "b", "c"], "asset": assets, "quantity": [1000.0, 500.0, 200.0],
                         "cost_basis": [9.0, 21.0, 40.0], "acquired": ["2020-01-02"] * 3})
    portfolio = Portfolio(lots=lots, cash_usd=5000.0)
    targets = Targets.absolute(pd.Series([0.3, 0.3, 0.4], index=assets), 0.1)
    data = prepare(portfolio, targets, market, Settings(impact_eta=costs.impact_eta))
    buy_usd = np.array([3000.0, 0.0, 1500.0])
    trade = Trade(buy=buy_usd / data.nav_usd, sell=np.zeros(data.shape.n_lots), short=np.zeros(3),
                  overlay_trade=np.zeros(0))
    spread, commission_usd, impact_usd = price_trade(buy_usd, half_spread, commission, costs.impact_eta, vol, adv)
    parts = linear_costs.price_parts(data, trade)
    assert spread.sum() == pytest.approx(parts["spread"] * data.nav_usd, rel=1e-12)
    assert commission_usd.sum() == pytest.approx(parts["commission"] * data.nav_usd, rel=1e-12)
    assert impact_usd.sum() == pytest.approx(impact.price(data, trade) * data.nav_usd, rel=1e-12)
    assert impact_usd.sum() > 0
