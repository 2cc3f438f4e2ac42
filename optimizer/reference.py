"""A plain, slow, obviously-correct formulation of the same decision, for tests and diagnosis.

No parameters, no factor tricks: the dense exposure covariance in a ``quad_form``, every
rule written out in constants. ``solve_reference`` must agree with :class:`Program`;
``diagnose_infeasible`` relaxes bands and cash to say which constraints conflict. It sits
below :mod:`optimizer.program` (which calls ``diagnose_infeasible``) and never imports it.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from optimizer.errors import Conflict
from optimizer.problem_data import ProblemData
from optimizer.terms.base import OBJECTIVE_SCALE, Trade


def _covariance(data: ProblemData) -> np.ndarray:
    cov = data.factor_root.T @ data.factor_root + np.diag(data.specific_sd ** 2)
    return 0.5 * (cov + cov.T)


def _build(data: ProblemData, *, elastic: bool):
    n, L, q = data.shape.n_assets, data.shape.lot_slots, len(data.shape.overlays)
    buy = cp.Variable(n, nonneg=True)
    sell = cp.Variable(n * L, nonneg=True)
    short = cp.Variable(n, nonneg=True)
    ov = cp.Variable(q) if q else None
    S, B, A = data.lot_matrix, data.exposure_matrix, data.overlay_exposure
    net = buy - S @ sell - short
    gross = buy + S @ sell + short
    exposure = B @ (data.weight0 + net)
    after_overlay = data.overlay0 + ov if q else None
    if q:
        exposure = exposure + A @ after_overlay
    paid = data.linear_cost @ gross + (data.overlay_cost @ cp.abs(ov) if q else 0)
    margin = data.overlay_margin @ cp.abs(after_overlay) if q else 0
    cash_after = data.cash0 - cp.sum(net) - paid
    constraints = [buy <= data.buy_max, sell <= data.lot_sell_max, short <= data.short_max, gross <= data.trade_max]
    if q:
        constraints.append(cp.sum(cp.abs(after_overlay)) <= data.overlay_gross_limit)
        constraints.append(cp.abs(after_overlay) <= data.overlay_max)
    m = len(data.shape.keys)
    below = cp.Variable(m, nonneg=True)
    above = cp.Variable(m, nonneg=True)
    cash_gap = cp.Variable(nonneg=True)
    soft = data.shape.soft_bands or elastic
    if soft:
        constraints += [exposure + below >= data.band_lower, exposure - above <= data.band_upper]
    else:
        constraints += [exposure >= data.band_lower, exposure <= data.band_upper]
    account_gaps = []
    for r, (account, key) in enumerate(data.shape.account_band_rows):   # a household's per-account bands
        mine = [p for p, (a, k) in enumerate(zip(data.shape.asset_account, data.shape.asset_keys))
                if a == account and k == data.shape.keys[key]]
        held = cp.sum(data.weight0[mine] + net[mine])
        if soft:
            gap_below, gap_above = cp.Variable(nonneg=True), cp.Variable(nonneg=True)
            account_gaps.append(gap_below + gap_above)
            constraints += [held + gap_below >= data.account_band_lower[r],
                            held - gap_above <= data.account_band_upper[r]]
        else:
            constraints += [held >= data.account_band_lower[r], held <= data.account_band_upper[r]]
    if data.shape.accounts:                      # a household: each account pays from its own cash
        for a in range(len(data.shape.accounts)):
            mine = np.array(data.shape.asset_account) == a
            spent = cp.sum(net[mine]) + data.linear_cost[mine] @ gross[mine]
            constraints.append(spent <= data.account_cash_free[a] + (cash_gap if elastic else 0))
    elif elastic:
        constraints.append(cash_after + cash_gap >= data.cash_min + margin)
    else:
        constraints.append(cash_after >= data.cash_min + margin)
    account_gap = cp.sum(cp.hstack(account_gaps)) if account_gaps else 0.0
    return buy, sell, short, ov, exposure, net, gross, constraints, below, above, cash_gap, account_gap


def _netted_tax(data: ProblemData, sell: cp.Variable) -> cp.Expression:
    """The tax part written plainly: ``max(X, k X) - max(X0, k X0)``, ``X = lot_tax_cost @ sell + X0``,
    plus, per lot, the part of its waiting-for-long-term floor above its valued tax."""
    k, x0 = data.carry_value, data.tax_offset
    x = data.lot_tax_cost @ sell + x0
    floor = np.where(data.lot_wait_cost > 0, np.maximum(data.lot_tax_cost, data.lot_wait_cost), data.lot_tax_cost)
    return cp.maximum(x, k * x) - max(x0, k * x0) + (floor - data.lot_tax_cost) @ sell


def solve_reference(data: ProblemData, solver: str | None = "CLARABEL", **solver_options) -> tuple[Trade, float]:
    """Solve the plain formulation; returns the trade and the objective in bps of NAV.

    ``solver=None`` lets cvxpy pick its default solver; ``solver_options`` go to the solver
    (e.g. tolerances).
    """
    buy, sell, short, ov, exposure, net, gross, constraints, below, above, _, account_gap = _build(data, elastic=False)
    s = data.settings
    d = exposure - data.target
    objective = (0.5 * s.risk_aversion * cp.quad_form(d, cp.psd_wrap(_covariance(data)))
                 + s.impact_weight * cp.sum(cp.multiply(data.impact, cp.square(net)))
                 + s.cost_weight * (data.linear_cost @ gross + (data.overlay_cost @ cp.abs(ov) if ov is not None else 0))
                 + s.cost_weight * (data.overlay_holding_cost @ cp.abs(data.overlay0 + ov) if ov is not None else 0)
                 + s.tax_weight * _netted_tax(data, sell)
                 + (data.holding_cost @ net if len(data.holding_cost) else 0))
    if data.shape.soft_bands:
        objective = objective + s.band_penalty * (cp.sum(below) + cp.sum(above) + account_gap)
    problem = cp.Problem(cp.Minimize(OBJECTIVE_SCALE * objective), constraints)
    problem.solve(solver=solver, **solver_options)
    if problem.status != cp.OPTIMAL:
        raise RuntimeError(f"reference solve ended {problem.status}")
    q = len(data.shape.overlays)
    trade = Trade(np.asarray(buy.value), np.asarray(sell.value), np.asarray(short.value),
                  np.asarray(ov.value) if q else np.zeros(0))
    return trade, float(problem.value)


def diagnose_infeasible(data: ProblemData, solver: str = "CLARABEL") -> list[Conflict]:
    """Relax bands and the cash floor, minimise the relaxation, and report what had to give."""
    *_, constraints, below, above, cash_gap, account_gap = _build(data, elastic=True)
    problem = cp.Problem(cp.Minimize(cp.sum(below) + cp.sum(above) + cash_gap + account_gap), constraints)
    try:
        problem.solve(solver=solver)
    except cp.error.SolverError:
        return []
    if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        return [Conflict("trade limits", "all assets", float("nan"), "no trade satisfies the per-asset limits")]
    conflicts = []
    for name, slack in (("band lower", below.value), ("band upper", above.value)):
        for key, gap in zip(data.shape.keys, slack):
            if gap > 1e-7:
                conflicts.append(Conflict(name, key, float(gap), "of NAV"))
    if isinstance(account_gap, cp.Expression) and account_gap.value > 1e-7:
        conflicts.append(Conflict("account bands", "some account", float(account_gap.value), "of NAV"))
    if cash_gap.value is not None and cash_gap.value > 1e-7:
        conflicts.append(Conflict("cash floor", "cash", float(cash_gap.value) * data.nav_usd, "USD"))
    return conflicts
