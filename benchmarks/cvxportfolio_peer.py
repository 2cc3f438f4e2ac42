"""The peer of ``benchmarks/solve_speed.py``: cvxportfolio's single-period optimization on the same books.

cvxportfolio is GPL-3: it is installed only to run this benchmark
(``/work/main/.venv/bin/python -m pip install cvxportfolio``, or ``pip install -e .[bench]``)
and imported only here, lazily; ``optimizer/`` never imports it.

The policy is the same decision without tax lots (cvxportfolio has none): per-asset
targets as the benchmark, the same factor risk ``(w - w*)' (F'F + diag(d)) (w - w*)``
with the same risk aversion, the same linear costs (half spread + commission) and the same
quadratic impact (``TransactionCost`` with exponent 2), the same soft bands (``SoftConstraint``
of ``MinWeights`` / ``MaxWeights`` with our band penalty), long only and the same cash floor,
all scaled to basis points of NAV like our objective. One difference remains: cvxportfolio's
budget is ``sum(z) = 0`` (costs are not paid from cash inside the optimization), ours pays
them from cash.

It is timed warm, like ``ours``: the policy is initialised once over a calendar with one
date per book (each book's data is time-indexed), then each decision is one
``values_in_time_recursive`` call (cvxportfolio's own per-period step in its backtester:
slicing its data, writing parameters, solving).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from optimizer.problem_data import ProblemData
from optimizer.terms.base import OBJECTIVE_SCALE

CASH = "USDOLLAR"


def _frames(books: list[ProblemData], assets: list[str], calendar: pd.DatetimeIndex) -> dict[str, pd.DataFrame]:
    """Every per-book input as a time-indexed frame (one row per book)."""
    def by_time(values) -> pd.DataFrame:
        return pd.DataFrame(np.vstack(values), index=calendar, columns=assets)

    factors = [f"F{k}" for k in range(books[0].factor_root.shape[0])]
    exposures = pd.concat({t: pd.DataFrame(b.factor_root, index=factors, columns=assets)
                           for t, b in zip(calendar, books)})
    benchmark = pd.DataFrame([np.r_[b.target, 1.0 - b.target.sum()] for b in books], index=calendar,
                             columns=assets + [CASH])
    return {"F": exposures, "d": by_time([b.specific_sd ** 2 for b in books]),
            "a": by_time([b.linear_cost for b in books]), "b": by_time([b.impact for b in books]),
            "lower": by_time([b.band_lower for b in books]), "upper": by_time([b.band_upper for b in books]),
            "benchmark": benchmark}


def build_policy(books: list[ProblemData], solver: str, solver_options: dict):
    """A cvxportfolio ``SinglePeriodOptimization`` for ``books`` (one date each), initialised.

    Returns ``(policy, calendar, universe)``.
    """
    import cvxportfolio as cvx

    first = books[0]
    assets = list(first.shape.assets)
    universe = pd.Index(assets + [CASH])
    calendar = pd.date_range("2024-01-01", periods=len(books), freq="D")
    f = _frames(books, assets, calendar)
    s = first.settings
    nav = pd.Series([b.nav_usd for b in books], index=calendar)
    risk = cvx.FactorModelCovariance(F=f["F"], d=f["d"])
    # impact b * sigma * |z|^2 / (V / v): sigma = 1 and volume_hat = v make it b |z|^2
    costs = cvx.TransactionCost(a=f["a"], b=f["b"], sigma=1.0,
                                volume_hat=pd.DataFrame(np.outer(nav, np.ones(len(assets))),
                                                        index=calendar, columns=assets),
                                exponent=2)
    bands = (cvx.SoftConstraint(cvx.MinWeights(f["lower"])) + cvx.SoftConstraint(cvx.MaxWeights(f["upper"])))
    objective = -OBJECTIVE_SCALE * (0.5 * s.risk_aversion * risk + s.cost_weight * costs
                                    + s.band_penalty * bands)
    constraints = [cvx.LongOnly(applies_to_cash=False),
                   cvx.MinCashBalance(pd.Series([b.cash_min * b.nav_usd for b in books], index=calendar))]
    policy = cvx.SinglePeriodOptimization(objective, constraints, benchmark=cvx.FixedWeights(f["benchmark"]),
                                          include_cash_return=False, solver=solver, **solver_options)
    if s.impact_weight != s.cost_weight:
        raise ValueError("the peer assumes impact_weight == cost_weight (one TransactionCost)")
    policy.initialize_estimator_recursive(universe=universe, trading_calendar=calendar)
    return policy, calendar, universe


def decide(policy, t, book: ProblemData, universe) -> float:
    """One decision at ``t`` for ``book``; returns cvxportfolio's objective (bps of NAV, our sign)."""
    weights = pd.Series(np.r_[book.weight0, book.cash0], index=universe)
    weights = weights / weights.sum()
    policy.values_in_time_recursive(t=t, current_weights=weights, current_portfolio_value=book.nav_usd,
                                    past_returns=None, past_volumes=None, current_prices=None)
    return -float(policy._problem.value)


def run(books: list[ProblemData], solver: str, solver_options: dict, reference_options: dict):
    """Time cvxportfolio on ``books[1:]`` (``books[0]`` warms it up, untimed).

    Returns ``(seconds, objectives, references)`` per timed book; ``references`` are the same
    policy's objectives solved again by Clarabel with ``reference_options`` (high accuracy).
    """
    policy, calendar, universe = build_policy(books, solver, solver_options)
    decide(policy, calendar[0], books[0], universe)
    seconds, objectives = [], []
    for t, book in zip(calendar[1:], books[1:]):
        started = time.perf_counter()
        objectives.append(decide(policy, t, book, universe))
        seconds.append(time.perf_counter() - started)
    reference, _, _ = build_policy(books, "CLARABEL", reference_options)
    references = [decide(reference, t, book, universe) for t, book in zip(calendar[1:], books[1:])]
    return seconds, objectives, references
