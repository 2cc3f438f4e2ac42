"""Decision economics: the same settings behave the same whatever the decision frequency."""

import numpy as np
import pandas as pd
import pytest

from optimizer.backtest import BacktestConfig, Simulator
from optimizer.model import RiskModel, TaxRules
from optimizer.policies import OptimizerPolicy
from optimizer.policies.optimizer_policy import expected_holding_years
from problems import real_data


@pytest.mark.slow
def test_weekly_and_monthly_decisions_agree_within_half_again():
    """Issue target: annual turnover and tracking error within 1.5x of each other (20 stocks, taxable)."""
    prices = real_data.stocks_daily(start="2012-01-03", end="2016-12-30")
    target = pd.Series(0.98 / prices.shape[1], index=prices.columns)
    simulator = Simulator(prices, BacktestConfig(tax=TaxRules()))
    runs = {every: simulator.run(OptimizerPolicy(target, every=every)).metrics() for every in ("W", "M")}
    for key in ("turnover", "tracking_error"):
        ratio = runs["W"][key] / runs["M"][key]
        assert 1 / 1.5 <= ratio <= 1.5, (key, runs["W"][key], runs["M"][key])
    for m in runs.values():
        assert m["wash_sale_violations"] == 0


def test_the_holding_period_follows_the_cube_root_band_law():
    """One asset against cash: band = (1.5 c w^2 / g)^(1/3); the program's region
    c / (g H s2) equals the band watched continuously, and is narrower by the
    Broadie-Glasserman-Kou overshoot 0.5826 w s sqrt(dt) when watched every dt."""
    names = ["A", "B"]
    var = np.array([0.04, 0.09])
    risk = RiskModel(loadings=pd.DataFrame(np.zeros((2, 1)), index=names, columns=["f"]),
                     factor_cov=pd.DataFrame([[0.0]], index=["f"], columns=["f"]),
                     specific_var=pd.Series(var, index=names))
    target = np.array([0.5, 0.0])                     # B not held: only A counts
    cost = np.array([0.001, 0.001])
    s2 = var[0] * (1 - 0.5) ** 2 + 0.0                # var(r_A - 0.5 r_A) with B unheld
    for gamma in (1.0, 10.0, 100.0):
        band = (1.5 * 0.001 * 0.25 / gamma) ** (1 / 3)
        assert expected_holding_years(risk, target, cost, gamma) == pytest.approx(0.001 / (gamma * s2 * band),
                                                                                  rel=1e-12)
        region = max(band - 0.5826 * 0.5 * np.sqrt(s2 / 52), band / 4)
        assert expected_holding_years(risk, target, cost, gamma, 1 / 52) == pytest.approx(
            0.001 / (gamma * s2 * region), rel=1e-12)
    # Ten times the risk aversion shortens the holding period by 10^(2/3).
    ratio = expected_holding_years(risk, target, cost, 10.0) / expected_holding_years(risk, target, cost, 100.0)
    assert ratio == pytest.approx(10 ** (2 / 3), rel=1e-12)
