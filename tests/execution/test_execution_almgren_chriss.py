"""The closed form and the convex program against the Almgren-Chriss (2000) paper.

Oracles: the paper's own closed forms for E[x] and V[x] of the optimal trajectory (its
eq. for the efficient frontier), the discrete Euler-Lagrange recurrence the optimum must
satisfy, an independent scipy minimisation of E + lambda V, and the straight line at lambda 0.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from optimizer.errors import InputError
from optimizer.execution import almgren_chriss, efficient_frontier, expected_cost_and_variance, schedule, twap

# The paper's example (section 4.2): 1e6 shares over 5 days in 5 periods.
X, T, N = 1e6, 5.0, 5
SIGMA, ETA, GAMMA, LAM, EPS = 0.95, 2.5e-6, 2.5e-7, 1e-6, 0.0625
PAPER = dict(sigma=SIGMA, eta=ETA, gamma=GAMMA)


def paper_e_and_v(x0, horizon, periods, sigma, eta, gamma, lam, eps=0.0):
    """E[x*] and V[x*] of the optimal trajectory in closed form, as printed in the paper."""
    tau = horizon / periods
    eta_t = eta - gamma * tau / 2
    k = np.arccosh(1 + lam * sigma**2 * tau**2 / (2 * eta_t)) / tau
    e = (0.5 * gamma * x0**2 + eps * x0 + eta_t * x0**2 * np.tanh(k * tau / 2)
         * (tau * np.sinh(2 * k * horizon) + 2 * horizon * np.sinh(k * tau)) / (2 * tau**2 * np.sinh(k * horizon) ** 2))
    v = (0.5 * sigma**2 * x0**2 * (tau * np.sinh(k * horizon) * np.cosh(k * (horizon - tau)) - horizon * np.sinh(k * tau))
         / (np.sinh(k * horizon) ** 2 * np.sinh(k * tau)))
    return e, v


def paper_sums(x, tau, sigma, eta, gamma, eps):
    """E and V by the paper's summation formulas (one-signed trajectory, constant parameters)."""
    n = -np.diff(x)
    e = 0.5 * gamma * x[0] ** 2 + eps * np.abs(n).sum() + (eta - gamma * tau / 2) / tau * (n**2).sum()
    v = sigma**2 * tau * (x[1:] ** 2).sum()
    return e, v


def test_program_reproduces_the_closed_form_on_the_papers_example():
    closed = almgren_chriss(X, T, N, SIGMA, ETA, GAMMA, LAM)
    solved = schedule(X, N, horizon=T, risk_aversion=LAM, **PAPER)
    assert len(closed) == N + 1 and closed.iloc[0] == X and closed.iloc[-1] == 0.0
    np.testing.assert_allclose(closed.index.to_numpy(), np.arange(N + 1.0))
    np.testing.assert_allclose(solved.holdings.to_numpy()[1:-1], closed.to_numpy()[1:-1], rtol=1e-6, atol=0)
    assert solved.accurate


def test_closed_form_satisfies_the_discrete_euler_lagrange_recurrence():
    tau = T / N
    x = almgren_chriss(X, T, N, SIGMA, ETA, GAMMA, LAM).to_numpy()
    kappa_tilde_sq = LAM * SIGMA**2 / (ETA - GAMMA * tau / 2)
    second_difference = (x[:-2] - 2 * x[1:-1] + x[2:]) / tau**2
    np.testing.assert_allclose(second_difference, kappa_tilde_sq * x[1:-1], rtol=1e-9)


def test_closed_form_minimises_e_plus_lambda_v_by_independent_search():
    tau = T / N

    def objective(interior_fraction):
        x = X * np.concatenate([[1.0], interior_fraction, [0.0]])
        e, v = paper_sums(x, tau, SIGMA, ETA, GAMMA, 0.0)
        return (e + LAM * v) / 1e5

    found = minimize(objective, np.linspace(1.0, 0.0, N + 1)[1:-1], method="BFGS", options={"gtol": 1e-8})
    np.testing.assert_allclose(almgren_chriss(X, T, N, SIGMA, ETA, GAMMA, LAM).to_numpy()[1:-1], X * found.x,
                               rtol=1e-5)


def test_expected_cost_and_variance_match_the_papers_formulas():
    closed = almgren_chriss(X, T, N, SIGMA, ETA, GAMMA, LAM)
    got = expected_cost_and_variance(closed, SIGMA, ETA, GAMMA, spread=EPS)
    e_closed, v_closed = paper_e_and_v(X, T, N, SIGMA, ETA, GAMMA, LAM, EPS)
    e_sum, v_sum = paper_sums(closed.to_numpy(), T / N, SIGMA, ETA, GAMMA, EPS)
    assert got.expected_cost == pytest.approx(e_closed, rel=1e-10)
    assert got.variance == pytest.approx(v_closed, rel=1e-10)
    assert got.expected_cost == pytest.approx(e_sum, rel=1e-10)
    assert got.variance == pytest.approx(v_sum, rel=1e-10)
    assert got.std == pytest.approx(np.sqrt(v_closed))


@pytest.mark.parametrize("x0,horizon,periods,lam", [(1e6, 5.0, 5, 1e-6), (-2.5e5, 10.0, 20, 3e-6),
                                                    (4e6, 1.0, 8, 1e-7), (1e6, 5.0, 1, 1e-6)])
def test_program_matches_closed_form_across_shapes_and_signs(x0, horizon, periods, lam):
    closed = almgren_chriss(x0, horizon, periods, SIGMA, ETA, GAMMA, lam)
    solved = schedule(x0, periods, horizon=horizon, risk_aversion=lam, **PAPER)
    np.testing.assert_allclose(solved.holdings.to_numpy(), closed.to_numpy(), rtol=1e-6, atol=1e-6 * abs(x0))
    e_closed, v_closed = paper_e_and_v(abs(x0), horizon, periods, SIGMA, ETA, GAMMA, lam)
    if periods > 1:
        assert solved.expected_cost == pytest.approx(e_closed, rel=1e-6)
        assert solved.variance == pytest.approx(v_closed, rel=1e-6)


def test_zero_risk_aversion_is_the_straight_line():
    line = np.linspace(X, 0.0, N + 1)
    np.testing.assert_allclose(almgren_chriss(X, T, N, SIGMA, ETA, GAMMA, 0.0).to_numpy(), line, rtol=0, atol=1e-9)
    np.testing.assert_allclose(almgren_chriss(X, T, N, SIGMA, ETA, GAMMA, 1e-15).to_numpy(), line, rtol=1e-6)
    np.testing.assert_allclose(schedule(X, N, horizon=T, **PAPER).holdings.to_numpy(), twap(X, N, T).to_numpy(),
                               rtol=1e-7, atol=1e-6)


def test_more_risk_aversion_trades_sooner_and_walks_down_the_frontier():
    frontier = efficient_frontier(X, N, [0.0, 1e-7, 1e-6, 1e-5], horizon=T, **PAPER)
    assert (np.diff(frontier["expected_cost"]) > 0).all()
    assert (np.diff(frontier["std"]) < 0).all()
    for row in frontier.itertuples():
        if row.risk_aversion > 0:
            e, v = paper_e_and_v(X, T, N, SIGMA, ETA, GAMMA, row.risk_aversion)
            assert row.expected_cost == pytest.approx(e, rel=1e-6)
            assert row.std == pytest.approx(np.sqrt(v), rel=1e-6)


def test_a_spread_cost_leaves_a_one_signed_optimum_unchanged_and_adds_eps_x():
    plain = schedule(X, N, horizon=T, risk_aversion=LAM, **PAPER)
    with_spread = schedule(X, N, horizon=T, risk_aversion=LAM, spread=EPS, **PAPER)
    np.testing.assert_allclose(with_spread.holdings.to_numpy(), plain.holdings.to_numpy(), rtol=1e-6)
    assert with_spread.expected_cost - plain.expected_cost == pytest.approx(EPS * X, rel=1e-6)


@pytest.mark.parametrize("kwargs,field", [
    (dict(shares=0.0), "shares"), (dict(horizon=-1.0), "horizon"), (dict(periods=2.5), "periods"),
    (dict(periods=0), "periods"), (dict(sigma=float("nan")), "sigma"), (dict(eta=0.0), "eta"),
    (dict(gamma=-1e-7), "gamma"), (dict(risk_aversion=-1.0), "risk_aversion"),
    (dict(eta=1e-7, gamma=1e-6), "eta"),          # eta - gamma tau / 2 <= 0
])
def test_bad_inputs_raise_input_error_naming_the_argument(kwargs, field):
    args = dict(shares=X, horizon=T, periods=N, sigma=SIGMA, eta=ETA, gamma=GAMMA, risk_aversion=LAM) | kwargs
    with pytest.raises(InputError) as caught:
        almgren_chriss(**args)
    assert caught.value.field == field


def test_high_urgency_does_not_overflow_and_the_program_still_agrees():
    # kappa * T is about 400 here: sinh(kappa T) alone would overflow a float.
    closed = almgren_chriss(X, 50.0, 50, SIGMA, ETA, GAMMA, 1e-2)
    assert np.isfinite(closed.to_numpy()).all() and (np.diff(closed.to_numpy()) <= 0).all()
    solved = schedule(X, 50, horizon=50.0, risk_aversion=1e-2, **PAPER)
    np.testing.assert_allclose(solved.holdings.to_numpy(), closed.to_numpy(), rtol=0, atol=1e-6 * X)
