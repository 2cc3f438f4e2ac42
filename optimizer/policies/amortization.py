"""One-off costs amortised over the holding period of the trade they pay for.

The program prices a year of tracking error (``0.5 * risk_aversion * TE**2``) against
costs paid once. A rebalancing trade only helps until drift undoes it, so each one-off
cost is charged per year of that holding period: ``cost / H``. For an asset of target
weight ``w`` whose return differs from the target portfolio's with annual variance
``s2``, and a proportional cost ``c``, the optimal no-trade band of a continuously
watched book has half-width (small-cost asymptotics: Constantinides 1986; Davis and
Norman 1990; Rogers 2004)::

    band = (1.5 * c * w**2 / risk_aversion) ** (1/3)

A book looked at only every ``decision_years`` overshoots a boundary before it is seen,
by about ``0.5826 * w * sqrt(s2 * decision_years)`` (Broadie, Glasserman and Kou 1997),
so the program's own region is that much narrower (at least a quarter of ``band``). The
single-period program has the region ``c / (risk_aversion * H * s2)``; the holding period
``H`` that makes it that region is the one used, so that

    amortised cost = c / H = risk_aversion * s2 * region

(Boyd et al. 2017, "Multi-period trading via convex optimization", sec. 4, on amortising
transaction costs over a holding period). The myopic decision then keeps the dynamic
band at every cost level (spread for a fresh lot, spread plus tax for an old one), and
the same band whatever the decision frequency. ``H`` is kept within a day and ten years.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from optimizer.model import RiskModel
from optimizer.problem_data import ProblemData

#: Broadie-Glasserman-Kou continuity correction for a boundary checked every ``dt``.
DISCRETE_MONITORING = 0.5826
#: Years between decisions of each schedule frequency.
DECISION_YEARS = {"D": 1 / 252, "W": 1 / 52, "M": 1 / 12, "Q": 1 / 4, "S": 1 / 2, "A": 1.0}
#: Bounds of the holding period, years.
SHORTEST_YEARS, LONGEST_YEARS = 1.0 / 252.0, 10.0


def relative_variance(risk: RiskModel, target: np.ndarray) -> np.ndarray:
    """Annual variance of each asset's return less the target portfolio's (fraction^2)."""
    cov = risk.covariance().to_numpy()
    w = np.asarray(target, dtype=float)
    return np.diag(cov) - 2.0 * cov @ w + w @ cov @ w


def holding_years(cost: np.ndarray, weight: np.ndarray, relative_var: np.ndarray, risk_aversion: float,
                  decision_years: float = 0.0) -> np.ndarray:
    """Holding period (years) of a trade paying ``|cost|`` per dollar, per element.

    ``weight`` and ``relative_var`` broadcast against ``cost``. Where the asset has no
    target, no relative variance or the cost is zero, the holding period is one year.
    """
    c = np.abs(np.asarray(cost, dtype=float))
    w = np.broadcast_to(np.asarray(weight, dtype=float), c.shape)
    s2 = np.broadcast_to(np.asarray(relative_var, dtype=float), c.shape)
    years = np.ones_like(c)
    if risk_aversion <= 0:
        return years
    ok = (c > 0) & (w > 0) & (s2 > 0)
    band = (1.5 * c[ok] * w[ok] ** 2 / risk_aversion) ** (1.0 / 3.0)
    region = np.maximum(band - DISCRETE_MONITORING * w[ok] * np.sqrt(s2[ok] * decision_years), 0.25 * band)
    years[ok] = np.clip(c[ok] / (risk_aversion * s2[ok] * region), SHORTEST_YEARS, LONGEST_YEARS)
    return years


def amortized(cost: np.ndarray, weight: np.ndarray, relative_var: np.ndarray, risk_aversion: float,
              decision_years: float = 0.0) -> np.ndarray:
    """``cost / holding_years(cost)``: a one-off cost (negative: a benefit) per year of holding."""
    cost = np.asarray(cost, dtype=float)
    return cost / holding_years(cost, weight, relative_var, risk_aversion, decision_years)


def amortize_costs(data: ProblemData, target: np.ndarray, relative_var: np.ndarray,
                   decision_years: float) -> ProblemData:
    """``data`` with its spread, commission and lot tax amortised (see the module docstring).

    Selling lot ``j`` of asset ``i`` costs ``linear_i + tax_j`` per dollar; the amortised
    lot tax is ``amortized(linear_i + tax_j) - amortized(linear_i)``, so the sale's whole
    cost is amortised over its own holding period and lots keep their order. The year's
    netting offset is scaled by the value-weighted ratio of amortised to valued tax of the
    lots with gains. Impact (quadratic) is left as it is.
    """
    gamma = data.settings.risk_aversion
    L = data.shape.lot_slots
    linear = data.linear_cost
    linear_amortized, scale = _linear_part(linear, np.asarray(target, dtype=float),
                                           np.asarray(relative_var, dtype=float), gamma, decision_years)
    occupied = (data.lot_ids != "").reshape(-1, L)
    tax = data.lot_tax_cost.reshape(-1, L)
    total = linear[:, None] + tax
    total_amortized = amortized(total, target[:, None], relative_var[:, None], gamma, decision_years)
    lot_tax = np.where(occupied, total_amortized - linear_amortized[:, None], 0.0)
    gains = occupied & (tax > 0)
    value = data.lot_value.reshape(-1, L)
    weighted = float((value * tax)[gains].sum())
    offset_scale = float((value * lot_tax)[gains].sum()) / weighted if weighted > 0 else 1.0
    return replace(data, half_spread=data.half_spread * scale, commission=data.commission * scale,
                   lot_tax_cost=lot_tax.ravel(), tax_offset=data.tax_offset * offset_scale)


#: The last :func:`_linear_part` inputs (copies) and answer: a backtest's decisions repeat them
#: between risk re-estimations.
_last_linear: tuple[tuple, tuple[np.ndarray, np.ndarray]] | None = None


def _linear_part(linear: np.ndarray, target: np.ndarray, relative_var: np.ndarray, gamma: float,
                 decision_years: float) -> tuple[np.ndarray, np.ndarray]:
    """The amortised linear cost per asset and its ratio to the cost (1 where the cost is 0);
    the last answer again (fresh copies) when the inputs equal the last ones."""
    global _last_linear
    last = _last_linear
    if (last is not None and last[0][3:] == (gamma, decision_years)
            and all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(last[0][:3], (linear, target, relative_var)))):
        return last[1][0].copy(), last[1][1].copy()
    linear_amortized = amortized(linear, target, relative_var, gamma, decision_years)
    scale = np.divide(linear_amortized, linear, out=np.ones_like(linear), where=linear > 0)
    _last_linear = ((linear.copy(), target.copy(), relative_var.copy(), gamma, decision_years),
                    (linear_amortized.copy(), scale.copy()))
    return linear_amortized, scale
