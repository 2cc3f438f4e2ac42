"""The closed-form optimal liquidation trajectory of Almgren and Chriss (2000).

Reference: R. Almgren and N. Chriss, "Optimal execution of portfolio transactions",
Journal of Risk 3(2), 2000, 5-39, section 3 (the efficient frontier, discrete solution).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.execution import _checks


def adjusted_eta(eta: float, gamma: float, tau: float) -> float:
    """eta_tilde = eta - gamma tau / 2 (currency per share per share/time unit); must be > 0."""
    return eta - gamma * tau / 2.0


def kappa(sigma: float, eta_tilde: float, tau: float, risk_aversion: float) -> float:
    """The urgency kappa (1 / time unit) solving cosh(kappa tau) = 1 + lambda sigma^2 tau^2 / (2 eta_tilde).

    Computed as log1p(z + sqrt(z (z + 2))) / tau with z = lambda sigma^2 tau^2 / (2 eta_tilde),
    which stays accurate as lambda -> 0 (kappa -> 0: the straight line).
    """
    z = risk_aversion * sigma**2 * tau**2 / (2.0 * eta_tilde)
    return float(np.log1p(z + np.sqrt(z * (z + 2.0))) / tau)


def sinh_ratio(k: float, horizon: float, times: np.ndarray) -> np.ndarray:
    """sinh(k (T - t)) / sinh(k T) for each t, without overflow for large k T (k = 0: 1 - t / T)."""
    if k == 0.0:
        return 1.0 - times / horizon
    return np.exp(-k * times) * np.expm1(-2.0 * k * (horizon - times)) / np.expm1(-2.0 * k * horizon)


def almgren_chriss(
    shares: float,
    horizon: float,
    periods: int,
    sigma: float,
    eta: float,
    gamma: float,
    risk_aversion: float,
) -> pd.Series:
    """Optimal holdings at each period boundary (Almgren & Chriss 2000, discrete closed form).

    Minimises E[x] + lambda V[x] (see :mod:`optimizer.execution.costs`) over trajectories from
    ``shares`` to 0 in ``periods`` equal steps of tau = T / N::

        eta_tilde = eta - gamma tau / 2
        cosh(kappa tau) = 1 + lambda sigma^2 tau^2 / (2 eta_tilde)
        x_j = X sinh(kappa (T - t_j)) / sinh(kappa T),   t_j = j tau

    With lambda = 0 it is the straight line (TWAP). A fixed spread cost does not change
    the optimum of a one-signed trajectory, so it is not a parameter here.

    Parameters
    ----------
    shares : float
        X, the position to liquidate, shares (positive: a long sold; negative: a short
        bought back, i.e. a buy program of |X|; the trajectory is symmetric).
    horizon : float
        T, the time to finish, in any time unit (e.g. days); sigma and eta use the same unit.
    periods : int
        N >= 1, the number of trading periods.
    sigma : float
        Price volatility, currency per share per sqrt(time unit) (the paper: 0.95 $/share/day^1/2).
    eta : float
        Temporary impact, currency per share per (share per time unit) (paper: 2.5e-6).
    gamma : float
        Permanent impact, currency per share per share (paper: 2.5e-7).
    risk_aversion : float
        lambda >= 0, per unit of currency (paper: 1e-6 / $).

    Returns
    -------
    pandas.Series
        Length N + 1, index ``time`` = t_0..t_N (0 .. T in the horizon's unit), values the
        holdings still to trade, shares, from ``shares`` to exactly 0.

    Raises
    ------
    optimizer.errors.InputError
        Naming the argument: non-finite or non-positive horizon/sigma/eta, negative gamma or
        risk aversion, zero shares, non-integer periods, or eta_tilde <= 0 (the paper's
        model needs eta > gamma tau / 2 for the problem to be convex).
    """
    shares = _checks.nonzero_shares("shares", shares)
    horizon = _checks.positive("horizon", horizon)
    periods = _checks.period_count("periods", periods)
    sigma = _checks.nonnegative("sigma", sigma)
    eta = _checks.positive("eta", eta)
    gamma = _checks.nonnegative("gamma", gamma)
    risk_aversion = _checks.nonnegative("risk_aversion", risk_aversion)
    tau = _checks.period_length(horizon, periods)
    eta_tilde = adjusted_eta(eta, gamma, tau)
    if eta_tilde <= 0.0:
        raise InputError("eta", f"eta - gamma * tau / 2 = {eta_tilde:.6g} must be > 0 (tau = {tau:.6g}); "
                                "use more periods or a larger temporary impact")
    times = _checks.boundary_times(horizon, periods)
    holdings = shares * sinh_ratio(kappa(sigma, eta_tilde, tau, risk_aversion), horizon, times)
    holdings[0], holdings[-1] = shares, 0.0
    return pd.Series(holdings, index=pd.Index(times, name="time"), name="holdings_shares")
