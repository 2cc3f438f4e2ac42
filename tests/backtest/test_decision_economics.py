"""Decision economics: the same settings behave the same whatever the decision frequency."""

import numpy as np
import pandas as pd
import pytest

from optimizer.backtest import BacktestConfig, Simulator
from optimizer.model import RiskModel, TaxRules
from optimizer.policies import OptimizerPolicy
from optimizer.policies.amortization import amortized, relative_variance
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


def test_amortised_cost_keeps_the_cube_root_band_at_every_cost_level():
    """The program's region c' / (g s2) is the asymptotic band (1.5 c w^2 / g)^(1/3), narrowed by
    the Broadie-Glasserman-Kou overshoot 0.5826 w s sqrt(dt) when watched every dt."""
    names = ["A", "B"]
    var = np.array([0.04, 0.09])
    risk = RiskModel(loadings=pd.DataFrame(np.zeros((2, 1)), index=names, columns=["f"]),
                     factor_cov=pd.DataFrame([[0.0]], index=["f"], columns=["f"]),
                     specific_var=pd.Series(var, index=names))
    target = np.array([0.5, 0.0])                     # B not held: its costs stay as they are
    s2 = var[0] * (1 - 0.5) ** 2                      # var(r_A - 0.5 r_A)
    relative = relative_variance(risk, target)
    assert relative[0] == pytest.approx(s2, rel=1e-12)
    for gamma in (10.0, 100.0, 1000.0):                # holding periods inside the [1 day, 10 years] clip
        for c in (0.0003, 0.01, 0.05):
            band = (1.5 * c * 0.25 / gamma) ** (1 / 3)
            region = amortized(np.array([c, c]), target, relative, gamma) / (gamma * s2)
            assert region[0] == pytest.approx(band, rel=1e-12)
            assert amortized(np.array([c, c]), target, relative, gamma)[1] == c       # unheld: one year
            weekly = max(band - 0.5826 * 0.5 * np.sqrt(s2 / 52), band / 4)
            assert amortized(np.array([-c]), target[:1], relative[:1], gamma, 1 / 52)[0] == pytest.approx(
                -gamma * s2 * weekly, rel=1e-12)                                          # a benefit, mirrored
    # Ten times the cost widens the band by 10^(1/3), not 10: the dynamic law, not the myopic one.
    ratio = (amortized(np.array([0.01]), target[:1], relative[:1], 10.0)
             / amortized(np.array([0.001]), target[:1], relative[:1], 10.0))
    assert ratio[0] == pytest.approx(10 ** (1 / 3), rel=1e-12)
