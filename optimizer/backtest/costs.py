"""One trading-cost model for the optimizer and the simulator.

A dollar trade ``u`` of asset i costs, in account currency::

    spread     = half_spread_i * |u|
    commission = commission_i * |u|
    impact     = impact_eta * vol_i / ADV_i * u^2

priced by the very functions of :mod:`optimizer.terms.linear_costs` and
:mod:`optimizer.terms.impact` that price the optimizer's trades per NAV fraction
(``impact = eta * vol / ADV * NAV`` per NAV fraction squared): each formula exists once.
The optimizer policy builds its :class:`optimizer.Market` from the same numbers
(:class:`optimizer.model.costs.CostModel`), so the simulator fills every order at the price the
optimizer saw (``tests/backtest/test_costs.py`` checks the two agree).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.model.costs import CostModel  # noqa: F401  (re-exported: the cost numbers are model data)
from optimizer.terms import impact, linear_costs


def price_trade(trade_usd: np.ndarray, half_spread: np.ndarray, commission: np.ndarray, impact_eta: float,
                volatility: np.ndarray, adv_usd: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spread, commission and impact per asset for signed dollar trades, account currency.

    ``volatility`` is the daily return volatility (fraction) per asset. The formulas are
    the terms' own (:func:`optimizer.terms.linear_costs.charged`,
    :func:`optimizer.terms.impact.charged`), so a fill costs what the optimizer priced.
    """
    return (linear_costs.charged(half_spread, trade_usd), linear_costs.charged(commission, trade_usd),
            impact.charged(impact.coefficient_per_usd(impact_eta, volatility, adv_usd), trade_usd))


def trailing_volatility(prices: np.ndarray, window: int) -> np.ndarray:
    """Daily return volatility per date and asset from the ``window`` returns up to that date.

    No look-ahead: row t uses returns up to and including t, except the first dates
    before two returns exist, which borrow the first estimate (impact needs some
    volatility on day one).
    """
    returns = np.zeros_like(prices)
    returns[1:] = prices[1:] / prices[:-1] - 1.0
    frame = pd.DataFrame(returns[1:])
    vol = frame.rolling(window, min_periods=2).std().to_numpy()
    out = np.zeros_like(prices)
    out[1:] = vol
    return pd.DataFrame(out).bfill().fillna(0.0).to_numpy(dtype=float)
