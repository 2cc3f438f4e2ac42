"""Optimal trade schedules as a convex program: Almgren-Chriss (2000) with practical limits.

Reference: R. Almgren and N. Chriss, "Optimal execution of portfolio transactions",
Journal of Risk 3(2), 2000, 5-39. Without limits and with constant parameters the program's
optimum is the paper's closed form (:func:`optimizer.execution.almgren_chriss`).

Variables: the trade n_k of each period k = 1..N (shares sold when the position X > 0).
With holdings x_k = X - n_1 - ... - n_k and x_N = 0 (sum n_k = X), the identity
sum_k x_k n_k = X^2 / 2 - sum_k n_k^2 / 2 turns the permanent-impact cost into a convex
quadratic, so the program is::

    minimise   gamma X^2 / 2 + sum_k eps_k |n_k| + sum_k (eta_k / tau - gamma / 2) n_k^2
             + lambda sum_k sigma_k^2 tau x_k^2
    subject to sum_k n_k = X,
               |n_k| <= max_participation * volume_k    (participation cap),
               |n_k| <= max_trade_k                     (per-period limit),
               n_k X >= 0                               (no reversal, optional)

It is built once per shape with cvxpy Parameters (DPP) for lambda and the caps, so a
frontier sweep only re-solves; every answer is re-checked in numpy before it is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cvxpy as cp
import numpy as np
import pandas as pd

from optimizer.errors import Conflict, DPPError, InfeasibleError, InputError, SolveAttempt
from optimizer.execution import _checks
from optimizer.execution.costs import expected_cost_and_variance
from optimizer.solvers import solve_chain

#: Solvers tried in order. These programs are tiny (N variables), so they are solved to
#: tighter tolerances than the rebalancing chain of ``optimizer.solvers`` uses: the
#: trajectory must match the closed form to 1e-6 relative even where holdings are small
#: (with Clarabel's 1e-9 defaults of that chain a 20-period case missed by 1.1e-6 of X).
EXECUTION_CHAIN: tuple[str, ...] = ("CLARABEL", "PIQP", "OSQP", "SCS")
EXECUTION_SOLVER_OPTIONS: dict[str, dict] = {
    "CLARABEL": {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12, "tol_ktratio": 1e-10},
    "PIQP": {"eps_abs": 1e-10, "eps_rel": 1e-10, "max_iter": 1000},
    "OSQP": {"eps_abs": 1e-10, "eps_rel": 1e-10, "max_iter": 200_000, "polishing": True},
    "SCS": {"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iters": 200_000},
}
#: Relative tolerance (of |X|) of the numpy re-check of the constraints.
CHECK_TOLERANCE = 1e-7


@dataclass(frozen=True)
class ScheduleInputs:
    """Validated inputs of :func:`schedule` (arrays hold one value per period).

    Units: shares for quantities, the horizon's time unit (e.g. days) for times, currency
    per share for prices (see :func:`schedule`).
    """

    shares: float
    periods: int
    horizon: float
    sigma: np.ndarray
    eta: np.ndarray
    gamma: float
    spread: np.ndarray
    caps: np.ndarray            # per-period limit on |n_k|, shares (inf where none)
    volume: np.ndarray | None   # forecast market volume per period, shares
    no_reversal: bool

    @property
    def tau(self) -> float:
        """Length of one period, time units."""
        return self.horizon / self.periods

    @classmethod
    def build(cls, shares, periods, *, horizon=None, sigma, eta, gamma=0.0, spread=0.0, volume=None,
              max_participation=None, max_trade=None, no_reversal=True) -> "ScheduleInputs":
        """Check every argument (InputError naming it) and return the validated inputs."""
        shares = _checks.nonzero_shares("shares", shares)
        periods = _checks.period_count("periods", periods)
        horizon = float(periods) if horizon is None else _checks.positive("horizon", horizon)
        sigma_k = _checks.per_period("sigma", sigma, periods, strictly_positive=False)
        eta_k = _checks.per_period("eta", eta, periods, strictly_positive=True)
        gamma = _checks.nonnegative("gamma", gamma)
        spread_k = _checks.per_period("spread", spread, periods, strictly_positive=False)
        tau = horizon / periods
        if (eta_k / tau - gamma / 2.0 <= 0.0).any():
            k = int(np.flatnonzero(eta_k / tau - gamma / 2.0 <= 0.0)[0])
            raise InputError("eta", f"period {k + 1}: eta - gamma * tau / 2 = {eta_k[k] - gamma * tau / 2:.6g} "
                                    f"must be > 0 (tau = {tau:.6g}) for the program to be convex")
        volume_k = None if volume is None else _checks.per_period("volume", volume, periods, strictly_positive=False)
        caps = np.full(periods, np.inf)
        if max_participation is not None:
            rate = _checks.positive("max_participation", max_participation)
            if volume_k is None:
                raise InputError("volume", "is needed with max_participation (forecast market volume per period)")
            caps = np.minimum(caps, rate * volume_k)
        if max_trade is not None:
            caps = np.minimum(caps, _checks.per_period("max_trade", max_trade, periods, strictly_positive=False))
        if not isinstance(no_reversal, bool):
            raise InputError("no_reversal", f"must be True or False, got {no_reversal!r}")
        capacity = float(caps.sum())
        if capacity < abs(shares) * (1.0 - CHECK_TOLERANCE):
            raise InfeasibleError([Conflict("participation and per-period trade limits", "total",
                                            abs(shares) - capacity, "shares")])
        return cls(shares, periods, horizon, sigma_k, eta_k, gamma, spread_k, caps, volume_k, no_reversal)


@dataclass(frozen=True)
class ExecutionSchedule:
    """A solved schedule and what the model says it costs.

    Attributes
    ----------
    holdings : pandas.Series
        Holdings still to trade at t_0..t_N, shares (index ``time``), from X to exactly 0.
    trades : pandas.Series
        n_k = x_{k-1} - x_k per period k = 1..N, shares (positive: sold).
    expected_cost : float
        Model expected shortfall against the arrival price, currency.
    variance : float
        Model variance of the shortfall, currency squared.
    risk_aversion : float
        lambda, per unit of currency.
    solver : str
        The solver whose verified answer was taken.
    accurate : bool
        False if only an ``optimal_inaccurate`` answer was available.
    attempts : list of SolveAttempt
        Every solver tried, with its status and why it was (not) accepted.
    participation : pandas.Series or None
        |n_k| / volume_k per period when a volume forecast was given (NaN where volume is 0).
    """

    holdings: pd.Series
    trades: pd.Series
    expected_cost: float
    variance: float
    risk_aversion: float
    solver: str
    accurate: bool
    attempts: list[SolveAttempt] = field(repr=False)
    participation: pd.Series | None = field(default=None, repr=False)

    @property
    def std(self) -> float:
        """Model standard deviation of the shortfall, currency."""
        return float(np.sqrt(self.variance))


class ScheduleProgram:
    """The schedule program for one set of inputs, built once; :meth:`solve` per risk aversion.

    Decision variable y_k = n_k / X (fraction of the parent order per period); the objective
    is divided by X^2 max_k(eta_k / tau) so that the solver sees numbers of order one.
    """

    def __init__(self, inputs: ScheduleInputs, chain: tuple[str, ...] = EXECUTION_CHAIN) -> None:
        self.inputs = inputs
        self.chain = tuple(chain)
        x, tau, n = inputs.shares, inputs.tau, inputs.periods
        self._scale = x * x * float(np.max(inputs.eta / tau))
        self._fraction = cp.Variable(n, name="trade_fraction")
        self._risk_weight = cp.Parameter(nonneg=True, name="risk_aversion_scaled")
        self._cap = cp.Parameter(n, nonneg=True, name="cap_fraction")
        remaining = 1.0 - cp.cumsum(self._fraction)[:-1] if n > 1 else None     # x_1..x_{N-1} / X
        quad = (inputs.eta / tau - inputs.gamma / 2.0) * x * x / self._scale
        objective = cp.sum(cp.multiply(quad, cp.square(self._fraction)))
        if np.any(inputs.spread > 0):
            objective += cp.sum(cp.multiply(inputs.spread * abs(x) / self._scale, cp.abs(self._fraction)))
        if remaining is not None:
            risk = np.sqrt(inputs.sigma[:-1] ** 2 * tau * x * x / self._scale)
            objective += self._risk_weight * cp.sum_squares(cp.multiply(risk, remaining))
        constraints = [cp.sum(self._fraction) == 1.0]
        finite = np.isfinite(inputs.caps)
        if finite.any():
            index = np.flatnonzero(finite)
            constraints.append(cp.abs(self._fraction[index]) <= self._cap[index])
        if inputs.no_reversal:
            constraints.append(self._fraction >= 0.0)
        self.problem = cp.Problem(cp.Minimize(objective), constraints)
        if not self.problem.is_dpp():
            raise DPPError("the execution schedule program is not DPP")
        self._cap.value = np.where(finite, np.where(finite, inputs.caps, 0.0) / abs(x), 0.0)

    def _violation(self) -> str | None:
        y = self._fraction.value
        if y is None or not np.isfinite(y).all():
            return "no finite trade values"
        if abs(y.sum() - 1.0) > CHECK_TOLERANCE:
            return f"trades sum to {y.sum():.9f} of the order, not 1"
        over = np.abs(y) * abs(self.inputs.shares) - self.inputs.caps
        if (over > CHECK_TOLERANCE * abs(self.inputs.shares)).any():
            k = int(np.argmax(over))
            return f"period {k + 1} trades {over[k]:.6g} shares over its cap"
        if self.inputs.no_reversal and (y < -CHECK_TOLERANCE).any():
            return "a period reverses the trade"
        return None

    def _solve(self) -> tuple[str, bool, list[SolveAttempt]]:
        """Run the solver chain (:func:`optimizer.solvers.solve_chain`, with this program's tighter
        tolerances): ``optimal`` and verified in numpy, ``optimal_inaccurate`` only as a last
        resort (``accurate=False``). Raises InfeasibleError or SolverError."""
        outcome = solve_chain(self.problem, self.chain, self._violation, warm_start=False,
                              options=EXECUTION_SOLVER_OPTIONS)
        if outcome.infeasible:
            raise InfeasibleError([], outcome.attempts)
        return outcome.solver, outcome.accurate, outcome.attempts

    def solve(self, risk_aversion: float = 0.0) -> ExecutionSchedule:
        """Solve for one lambda (per unit of currency) and return the verified schedule."""
        risk_aversion = _checks.nonnegative("risk_aversion", risk_aversion)
        self._risk_weight.value = risk_aversion     # the X^2 / scale factor is inside the risk coefficients
        outcome = self._solve()
        inputs = self.inputs
        trades = inputs.shares * self._fraction.value
        holdings = inputs.shares - np.concatenate([[0.0], np.cumsum(trades)])
        holdings[0], holdings[-1] = inputs.shares, 0.0
        trades = holdings[:-1] - holdings[1:]
        times = _checks.boundary_times(inputs.horizon, inputs.periods)
        holding_series = pd.Series(holdings, index=pd.Index(times, name="time"), name="holdings_shares")
        cost = expected_cost_and_variance(holding_series, inputs.sigma, inputs.eta, inputs.gamma, inputs.spread)
        participation = None
        if inputs.volume is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                rate = np.where(inputs.volume > 0, np.abs(trades) / np.where(inputs.volume > 0, inputs.volume, 1.0),
                                np.nan)
            participation = pd.Series(rate, index=pd.RangeIndex(1, inputs.periods + 1, name="period"),
                                      name="participation")
        return ExecutionSchedule(
            holdings=holding_series,
            trades=pd.Series(trades, index=pd.RangeIndex(1, inputs.periods + 1, name="period"), name="trade_shares"),
            expected_cost=cost.expected_cost, variance=cost.variance, risk_aversion=risk_aversion,
            solver=outcome[0], accurate=outcome[1], attempts=outcome[2],
            participation=participation)


def schedule(
    shares: float,
    periods: int,
    *,
    sigma: object,
    eta: object,
    gamma: float = 0.0,
    risk_aversion: float = 0.0,
    horizon: float | None = None,
    spread: object = 0.0,
    volume: object = None,
    max_participation: float | None = None,
    max_trade: object = None,
    no_reversal: bool = True,
) -> ExecutionSchedule:
    """Optimal schedule: minimise expected cost + lambda variance under practical limits.

    Almgren & Chriss (2000) as a convex program (see the module docstring); without limits
    and with constant parameters it reproduces :func:`optimizer.execution.almgren_chriss`.

    Parameters
    ----------
    shares : float
        X, the position to liquidate, shares (negative: a short bought back, i.e. a buy of |X|).
    periods : int
        N >= 1 equal trading periods.
    sigma : float or array-like of shape (N,)
        Price volatility, currency per share per sqrt(time unit); per period if an array.
    eta : float or array-like of shape (N,)
        Temporary impact, currency per share per (share per time unit), > 0; per period if
        an array (e.g. inversely proportional to the period's forecast volume).
    gamma : float
        Permanent impact, currency per share per share, >= 0.
    risk_aversion : float
        lambda >= 0, per unit of currency (0: minimum expected cost).
    horizon : float, optional
        T in time units (default N: one unit per period, e.g. days).
    spread : float or array-like of shape (N,)
        Fixed cost per share traded (half spread plus fees), currency per share.
    volume : array-like of shape (N,), optional
        Forecast market volume per period, shares; needed by ``max_participation``.
    max_participation : float, optional
        Cap on |n_k| / volume_k (e.g. 0.1 for 10% of volume).
    max_trade : float or array-like of shape (N,), optional
        Cap on |n_k| per period, shares.
    no_reversal : bool, default True
        Forbid trades against the parent order's direction (holdings monotone toward 0).
        In this model a reversal only adds impact and risk, so the optimum was monotone in
        every case tested with or without it; the option makes monotonicity a hard rule.

    Returns
    -------
    ExecutionSchedule
        The holdings path, trades, model expected cost and variance, and the solver trail.

    Raises
    ------
    optimizer.errors.InputError
        Naming the bad argument.
    optimizer.errors.InfeasibleError
        If the caps cannot fit the order (conflict ``total``, shortfall in shares).
    optimizer.errors.SolverError
        If no solver returns a verified answer.
    """
    inputs = ScheduleInputs.build(shares, periods, horizon=horizon, sigma=sigma, eta=eta, gamma=gamma,
                                  spread=spread, volume=volume, max_participation=max_participation,
                                  max_trade=max_trade, no_reversal=no_reversal)
    return ScheduleProgram(inputs).solve(risk_aversion)


def efficient_frontier(shares: float, periods: int, risk_aversions: object, **model: object) -> pd.DataFrame:
    """Expected cost and standard deviation of the optimal schedule for each lambda.

    ``model`` holds the keyword arguments of :func:`schedule` other than ``risk_aversion``;
    the program is built once and re-solved per lambda.

    Returns
    -------
    pandas.DataFrame
        Columns ``risk_aversion`` (per currency unit), ``expected_cost`` (currency),
        ``std`` (currency), ``solver``; one row per lambda, in the order given.
    """
    values = np.asarray(risk_aversions, dtype=float).reshape(-1)
    if values.size == 0:
        raise InputError("risk_aversions", "needs at least one value")
    program = ScheduleProgram(ScheduleInputs.build(shares, periods, **model))
    rows = []
    for value in values:
        solved = program.solve(float(value))
        rows.append({"risk_aversion": solved.risk_aversion, "expected_cost": solved.expected_cost,
                     "std": solved.std, "solver": solved.solver})
    return pd.DataFrame(rows, columns=["risk_aversion", "expected_cost", "std", "solver"])
