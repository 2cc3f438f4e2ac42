"""The schedule program's practical limits: participation caps, per-period limits, no reversal.

Oracles: the KKT solution of the risk-neutral capped problem (the capped period trades its
cap, the rest is spread evenly), VWAP as the risk-neutral optimum when impact is inversely
proportional to volume, an independent scipy (SLSQP) solve, and mirror symmetry of buys.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from optimizer.errors import InfeasibleError, InputError
from optimizer.execution import expected_cost_and_variance, schedule, vwap

X, N = 1e6, 5
SIGMA, ETA, GAMMA = 0.95, 2.5e-6, 2.5e-7
VOLUME = np.array([1.0e6, 5.0e6, 5.0e6, 5.0e6, 5.0e6])   # an illiquid first day, shares


def test_binding_participation_cap_is_respected_and_moves_trading_to_liquid_periods():
    free = schedule(X, N, sigma=SIGMA, eta=ETA, gamma=GAMMA)
    capped = schedule(X, N, sigma=SIGMA, eta=ETA, gamma=GAMMA, volume=VOLUME, max_participation=0.1)
    cap = 0.1 * VOLUME[0]
    assert free.trades.iloc[0] > cap                         # the cap binds
    assert capped.trades.iloc[0] <= cap * (1 + 1e-9)
    assert (capped.participation <= 0.1 + 1e-9).all()
    # KKT oracle (lambda = 0): min sum c n_k^2, sum n = X, n_1 <= cap -> n_1 = cap, others equal.
    expected = np.r_[cap, np.full(N - 1, (X - cap) / (N - 1))]
    np.testing.assert_allclose(capped.trades.to_numpy(), expected, rtol=1e-7)
    assert (capped.trades.iloc[1:] > free.trades.iloc[1:]).all()
    assert capped.expected_cost > free.expected_cost


def test_capped_risk_averse_schedule_matches_an_independent_solver():
    lam, cap = 1e-6, 0.05 * VOLUME
    solved = schedule(X, N, sigma=SIGMA, eta=ETA, gamma=GAMMA, risk_aversion=lam, volume=VOLUME,
                      max_participation=0.05)

    def objective(fraction):
        x = X * (1.0 - np.concatenate([[0.0], np.cumsum(fraction)]))
        x[-1] = 0.0
        n = X * fraction
        return (GAMMA * x[1:] @ n + ETA * n @ n + lam * SIGMA**2 * x[1:] @ x[1:]) / 1e5

    reference = minimize(objective, np.full(N, 1.0 / N), method="SLSQP",
                         bounds=[(0.0, c / X) for c in cap],
                         constraints=[{"type": "eq", "fun": lambda f: f.sum() - 1.0}],
                         options={"ftol": 1e-14, "maxiter": 500})
    np.testing.assert_allclose(solved.trades.to_numpy(), X * reference.x, rtol=1e-4, atol=1e-4 * X)
    assert solved.trades.iloc[0] == pytest.approx(cap[0], rel=1e-7)   # risk aversion pushes into day 1: capped


def test_vwap_is_the_risk_neutral_optimum_when_impact_scales_inversely_with_volume():
    profile = np.array([3.0, 1.0, 2.0, 4.0, 2.5]) * 1e6
    eta_k = ETA * profile.mean() / profile          # trading 1% of a thin day costs more
    solved = schedule(X, N, sigma=SIGMA, eta=eta_k, gamma=0.0)
    np.testing.assert_allclose(solved.holdings.to_numpy(), vwap(X, profile).to_numpy(), rtol=1e-6, atol=1e-6 * X)


def test_per_period_trade_limit_and_infeasible_limits():
    limited = schedule(X, N, sigma=SIGMA, eta=ETA, gamma=GAMMA, risk_aversion=1e-5, max_trade=250_000)
    assert (limited.trades <= 250_000 * (1 + 1e-9)).all()
    with pytest.raises(InfeasibleError) as caught:
        schedule(X, N, sigma=SIGMA, eta=ETA, max_trade=150_000)
    assert caught.value.conflicts[0].shortfall == pytest.approx(X - 5 * 150_000)
    assert caught.value.conflicts[0].unit == "shares"


def test_a_buy_program_mirrors_a_sale():
    kwargs = dict(sigma=SIGMA, eta=ETA, gamma=GAMMA, risk_aversion=1e-6, spread=0.03, volume=VOLUME,
                  max_participation=0.1)
    sale, buy = schedule(X, N, **kwargs), schedule(-X, N, **kwargs)
    np.testing.assert_allclose(buy.holdings.to_numpy(), -sale.holdings.to_numpy(), rtol=1e-7, atol=1e-3)
    assert buy.expected_cost == pytest.approx(sale.expected_cost, rel=1e-7)
    assert buy.variance == pytest.approx(sale.variance, rel=1e-7)


def test_no_reversal_holds_and_is_not_what_shapes_this_models_optimum():
    # Uneven volatility and impact per day: the optimum is still monotone with or without the
    # constraint (a reversal adds impact and risk in this model), so both answers agree.
    sigma_k = np.array([0.5, 2.0, 0.95, 0.3, 1.5])
    eta_k = ETA * np.array([1.0, 3.0, 0.5, 2.0, 0.2])
    kwargs = dict(sigma=sigma_k, eta=eta_k, gamma=GAMMA, risk_aversion=1e-5)
    monotone = schedule(X, N, **kwargs)
    free = schedule(X, N, no_reversal=False, **kwargs)
    assert (monotone.trades >= -1e-9 * X).all()
    np.testing.assert_allclose(free.holdings.to_numpy(), monotone.holdings.to_numpy(), rtol=1e-6, atol=1e-6 * X)


def test_reported_cost_is_the_evaluators_price_of_the_returned_path():
    solved = schedule(X, N, sigma=SIGMA, eta=ETA, gamma=GAMMA, risk_aversion=1e-6, spread=0.0625)
    again = expected_cost_and_variance(solved.holdings, SIGMA, ETA, GAMMA, spread=0.0625)
    assert (solved.expected_cost, solved.variance) == pytest.approx(tuple(again))


@pytest.mark.parametrize("kwargs,field", [
    (dict(max_participation=0.1), "volume"),
    (dict(volume=VOLUME[:3], max_participation=0.1), "volume"),
    (dict(volume=VOLUME, max_participation=-0.1), "max_participation"),
    (dict(max_trade=[1e6, 1e6]), "max_trade"),
    (dict(eta=[ETA, ETA, 0.0, ETA, ETA]), "eta"),
    (dict(no_reversal="yes"), "no_reversal"),
    (dict(sigma=[0.9] * 4), "sigma"),
])
def test_bad_schedule_inputs_name_the_argument(kwargs, field):
    args = dict(sigma=SIGMA, eta=ETA, gamma=GAMMA) | kwargs
    with pytest.raises(InputError) as caught:
        schedule(X, N, **args)
    assert caught.value.field == field
