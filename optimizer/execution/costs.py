"""Expected cost and variance of a liquidation trajectory in the Almgren-Chriss model.

Reference: R. Almgren and N. Chriss, "Optimal execution of portfolio transactions",
Journal of Risk 3(2), 2000, 5-39 (section 2: the discrete-time model).

Model, per period k = 1..N of length tau_k (the horizon's time unit, e.g. days), with
holdings x_k after period k (x_0 = X shares, x_N = 0) and trade n_k = x_{k-1} - x_k:

- permanent impact g(v) = gamma v moves the price by tau_k g(n_k / tau_k) = gamma n_k, so the
  position still held loses gamma n_k x_k;
- temporary impact h(v) = eps sgn(n) + eta v costs n_k h(n_k / tau_k) on the shares traded;
- the price diffuses with volatility sigma (currency per share per sqrt(time unit)).

Expected shortfall against the arrival price (currency) and its variance (currency^2)::

    E[x] = gamma sum_k x_k n_k + sum_k eps_k |n_k| + sum_k (eta_k / tau_k) n_k^2
    V[x] = sum_k sigma_k^2 tau_k x_k^2

(With constant tau, eta, eps and a one-signed trajectory this is the paper's
E = 1/2 gamma X^2 + eps X + (eta - gamma tau / 2) / tau sum n_k^2.) This is the model's
expected cost, not a measured one.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.execution import _checks


class CostAndVariance(NamedTuple):
    """Expected shortfall (currency) and its variance (currency squared) of one trajectory."""

    expected_cost: float
    variance: float

    @property
    def std(self) -> float:
        """Standard deviation of the shortfall, currency."""
        return float(np.sqrt(self.variance))


def trajectory_array(trajectory: object, horizon: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Holdings x_0..x_N (shares) and period lengths tau_1..tau_N (time units) of a trajectory.

    ``trajectory`` is a pandas Series indexed by time (the output of ``almgren_chriss``,
    ``schedule``, ``twap`` or ``vwap``), or an array of holdings with ``horizon`` given
    (equal periods). Raises InputError("trajectory"/"horizon") on bad input.
    """
    if isinstance(trajectory, pd.Series):
        holdings = trajectory.to_numpy(dtype=float)
        if horizon is None:
            times = np.asarray(trajectory.index, dtype=float)
        else:
            times = _checks.boundary_times(_checks.positive("horizon", horizon), holdings.size - 1)
    else:
        try:
            holdings = np.asarray(trajectory, dtype=float).reshape(-1)
        except (TypeError, ValueError) as error:
            raise InputError("trajectory", f"must hold numbers: {error}") from error
        if horizon is None:
            raise InputError("horizon", "is needed when the trajectory is not a time-indexed Series")
        times = _checks.boundary_times(_checks.positive("horizon", horizon), holdings.size - 1)
    if holdings.size < 2:
        raise InputError("trajectory", "needs at least two points (start and end)")
    if not np.isfinite(holdings).all():
        raise InputError("trajectory", "holds a value that is not finite")
    taus = np.diff(times)
    if not (np.isfinite(taus).all() and (taus > 0).all()):
        raise InputError("trajectory", "index must be strictly increasing times")
    return holdings, taus


def expected_cost_and_variance(
    trajectory: object,
    sigma: object,
    eta: object,
    gamma: float,
    spread: object = 0.0,
    horizon: float | None = None,
) -> CostAndVariance:
    """Expected cost and variance of a trajectory under the Almgren-Chriss (2000) model.

    Parameters
    ----------
    trajectory : pandas.Series or array-like of shape (N + 1,)
        Holdings still to trade at each period boundary, shares, from X to (usually) 0;
        positive for a long position being sold, negative for a short being bought back
        (a buy program). A Series' index gives the times (e.g. days 0..T).
    sigma : float or array-like of shape (N,)
        Price volatility, currency per share per sqrt(time unit) (per period if an array).
    eta : float or array-like of shape (N,)
        Temporary impact, currency per share per (share per time unit).
    gamma : float
        Permanent impact, currency per share per share.
    spread : float or array-like of shape (N,)
        Fixed cost eps per share traded (half spread plus fees), currency per share.
    horizon : float, optional
        Total time T, needed when ``trajectory`` is a plain array (equal periods).

    Returns
    -------
    CostAndVariance
        ``expected_cost`` (currency, shortfall against the arrival price) and ``variance``
        (currency squared). A residual holding x_N != 0 is simply not charged for its
        completion; it does carry no risk term beyond period N.
    """
    holdings, taus = trajectory_array(trajectory, horizon)
    periods = taus.size
    sigma_k = _checks.per_period("sigma", sigma, periods, strictly_positive=False)
    eta_k = _checks.per_period("eta", eta, periods, strictly_positive=False)
    spread_k = _checks.per_period("spread", spread, periods, strictly_positive=False)
    gamma = _checks.nonnegative("gamma", gamma)
    trades = holdings[:-1] - holdings[1:]
    after = holdings[1:]
    expected = gamma * float(after @ trades) + float(spread_k @ np.abs(trades)) + float((eta_k / taus) @ trades**2)
    variance = float((sigma_k**2 * taus) @ after**2)
    return CostAndVariance(expected, variance)
