"""Return attribution of a backtest: strategic policy, tactical tilts, implementation, costs.

For each date t (from the end of t-1 to the end of t) the account's return on its
previous NAV, net of the day's external cash flow,

    r_t = (NAV_t - flow_t) / NAV_{t-1} - 1,

splits into five parts, with g_t the assets' returns, c_t the cash return, weights as NAV
fractions held at the end of t-1 (strategic s, tactical w, actual a; the rest is cash):

- ``strategic``      s' g_t + (1 - sum s) c_t: the strategic weights, rebalanced daily at
  no cost (the return of the policy portfolio);
- ``tilt``           (w - s)' g_t - sum(w - s) c_t: the tactical targets over the
  strategic ones, also costless;
- ``implementation`` (a - w)' g_t + (a_cash - (1 - sum w)) c_t: holding the actual book
  instead of the tactical targets (drift between rebalances, trades not yet done,
  cash buffers);
- ``trading_costs``  -(spread + commission + impact)_t / NAV_{t-1};
- ``taxes``          -tax paid_t / NAV_{t-1} (negative tax, a credit, adds);
- ``residual``       r_t less all of the above: what the simulator's cash accounting does
  not explain. The simulator charges nothing else, so it is rounding (~1e-16), or the
  clip of a sub-1e-9-of-NAV cash shortfall after forced sales.

The first date is a period of its own from the initial capital (NAV before that date's
trading: ``NAV_0 + costs_0 + tax_0 - flow_0``) to ``NAV_0``; only costs act there.

Totals: ``total_usd`` adds the daily parts in dollars (part x previous NAV), so they sum
exactly to the dollar gain ``NAV_T - initial - sum(flows)``. ``total_return`` links the
daily parts with Carino's logarithmic factors (D. Carino, "Combining attribution effects
over time", Journal of Performance Measurement 3(4), 1999): part_k = sum_t r_{k,t} k_t / K,
with k_t = ln(1 + r_t) / r_t and K = ln(1 + R) / R, which sum exactly to the account's
time-weighted return R = prod(1 + r_t) - 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.backtest.result import BacktestResult
from optimizer.errors import InputError
from optimizer.policies.tactical import path_on

#: Columns of :attr:`Attribution.daily`, after ``account``.
PARTS = ("strategic", "tilt", "implementation", "trading_costs", "taxes", "residual")


@dataclass(frozen=True)
class Attribution:
    """Return attribution of one backtest (see the module docstring).

    Attributes
    ----------
    daily:
        Per date: ``account`` (r_t, fraction of the previous NAV) and the parts of
        :data:`PARTS` (fractions), which add up to ``account`` on every row.
    total_return:
        Per part, Carino-linked contribution to the time-weighted return (fractions);
        index ``account`` plus :data:`PARTS`; the parts sum to ``account``.
    total_usd:
        Per part, dollars (sum of part x previous NAV); the parts sum to ``account``,
        the dollar gain net of flows.
    """

    daily: pd.DataFrame
    total_return: pd.Series
    total_usd: pd.Series

    def to_frame(self) -> pd.DataFrame:
        """Totals side by side: ``return`` (fraction) and ``usd`` (dollars) per part."""
        return pd.DataFrame({"return": self.total_return, "usd": self.total_usd})

    def summary(self) -> str:
        """One line per part: contribution in percent of return and dollars."""
        lines = [f"{name:>15}  {self.total_return[name] * 100:+9.4f}%  {self.total_usd[name]:+16,.2f} USD"
                 for name in self.total_return.index]
        return "\n".join(lines)


def attribute_returns(result: BacktestResult, strategic: pd.Series | pd.DataFrame,
                      tactical: pd.Series | pd.DataFrame | None = None) -> Attribution:
    """Split a backtest's return into strategic, tilt, implementation, trading costs and taxes.

    Parameters
    ----------
    result:
        The backtest (its prices, cash growth, holdings, cash, costs, tax and flows are used).
    strategic:
        Strategic target weights (NAV fractions per asset; the rest cash): one Series for
        the whole run or a target path (dates x assets, row ``d`` in force from ``d`` on).
    tactical:
        Tactical targets, same forms; ``None``: no tilt (the tilt part is 0).

    Returns
    -------
    Attribution

    Raises
    ------
    InputError
        ``strategic``/``tactical`` naming an unknown asset, a row with weights above 1,
        or a path that starts after the first date.
    """
    calendar, assets = result.calendar, tuple(result.assets)
    s = path_on(strategic, calendar, assets, "strategic")
    w = s if tactical is None else path_on(tactical, calendar, assets, "tactical")
    nav = np.asarray(result.nav_usd, dtype=float)
    flows = np.asarray(result.flows_usd, dtype=float)
    trading = np.asarray(result.spread_usd) + np.asarray(result.commission_usd) + np.asarray(result.impact_usd)
    tax = np.asarray(result.tax_paid_usd, dtype=float)
    if not (nav > 0).all():
        raise InputError("result.nav_usd", "must be positive on every date to measure returns")
    T = len(calendar)
    base = np.empty(T)
    base[0] = nav[0] + trading[0] + tax[0] - flows[0]       # the initial capital, before date 0's trades
    base[1:] = nav[:-1]
    account = (nav - flows) / base - 1.0

    prices = np.asarray(result.prices, dtype=float)
    growth = np.zeros_like(prices)
    growth[1:] = prices[1:] / prices[:-1] - 1.0
    cash_return = np.asarray(result.cash_growth, dtype=float) - 1.0
    cash_return[0] = 0.0
    held = np.zeros_like(prices)                             # weights held over each period (end of t-1)
    held[1:] = np.asarray(result.holdings_usd)[:-1] / nav[:-1, None]
    held_cash = np.zeros(T)
    held_cash[1:] = np.asarray(result.cash_usd)[:-1] / nav[:-1]
    s_prev = np.zeros_like(s)
    s_prev[1:] = s[:-1]
    w_prev = np.zeros_like(w)
    w_prev[1:] = w[:-1]
    strategic_part = (s_prev * growth).sum(1) + (1.0 - s_prev.sum(1)) * cash_return
    strategic_part[0] = 0.0
    tilt_part = ((w_prev - s_prev) * growth).sum(1) - (w_prev - s_prev).sum(1) * cash_return
    implementation = ((held - w_prev) * growth).sum(1) + (held_cash - (1.0 - w_prev.sum(1))) * cash_return
    implementation[0] = 0.0
    costs = -trading / base
    taxes = -tax / base
    residual = account - (strategic_part + tilt_part + implementation + costs + taxes)
    daily = pd.DataFrame({"account": account, "strategic": strategic_part, "tilt": tilt_part,
                          "implementation": implementation, "trading_costs": costs, "taxes": taxes,
                          "residual": residual}, index=calendar)

    total_usd = daily.mul(base, axis=0).sum()
    factors = _carino_factors(account)
    linked_total = float(np.prod(1.0 + account) - 1.0)
    scale = _carino_factor(linked_total)
    total_return = daily.mul(factors, axis=0).sum() / scale
    total_return["account"] = linked_total
    return Attribution(daily=daily, total_return=total_return, total_usd=total_usd)


def _carino_factor(r: float) -> float:
    """ln(1 + r) / r, and its limit 1 at r = 0."""
    return float(np.log1p(r) / r) if abs(r) > 1e-15 else 1.0


def _carino_factors(r: np.ndarray) -> np.ndarray:
    return np.array([_carino_factor(float(x)) for x in r])
