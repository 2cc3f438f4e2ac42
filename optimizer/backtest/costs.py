"""One trading-cost model for the optimizer and the simulator.

A dollar trade ``u`` of asset i costs, in account currency::

    spread     = half_spread_i * |u|
    commission = commission_i * |u|
    impact     = impact_eta * vol_i / ADV_i * u^2

which is exactly what :mod:`optimizer.terms.linear_costs` and :mod:`optimizer.terms.impact`
charge per NAV fraction (``impact = eta * vol / ADV * NAV`` per NAV fraction squared).
The optimizer policy builds its :class:`optimizer.Market` from the same numbers
(:meth:`CostModel.market_fields`), so the simulator fills every order at the price the
optimizer saw (``tests/backtest/test_costs.py`` checks the two agree).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.errors import InputError


@dataclass(frozen=True)
class CostModel:
    """Per-asset trading costs.

    Parameters
    ----------
    half_spread:
        Half the bid/ask spread, fraction of traded value (scalar or per asset).
    commission:
        Commission, fraction of traded value (scalar or per asset).
    adv_usd:
        Average daily traded value, account currency (scalar or per asset), > 0.
    impact_eta:
        Impact coefficient (``Settings.impact_eta``); 0 disables impact.
    vol_window:
        Trailing observations for the daily volatility used by impact (the simulator
        estimates it without look-ahead).
    """

    half_spread: float | pd.Series = 0.0002
    commission: float | pd.Series = 0.0001
    adv_usd: float | pd.Series = 5e8
    impact_eta: float = 1.0
    vol_window: int = 63

    def per_asset(self, name: str, assets: list[str]) -> np.ndarray:
        """``name`` as an array over ``assets`` (a scalar is broadcast)."""
        value = getattr(self, name)
        if isinstance(value, pd.Series):
            series = value.reindex(assets)
            if series.isna().any():
                raise InputError(f"costs.{name}", "has no value", asset=str(series.index[series.isna()][0]))
            out = series.to_numpy(dtype=float)
        else:
            out = np.full(len(assets), float(value))
        if not np.all(np.isfinite(out)) or (out < 0).any() or (name == "adv_usd" and (out <= 0).any()):
            raise InputError(f"costs.{name}", "must be finite and non-negative (ADV positive)")
        return out

    def arrays(self, assets: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(half_spread, commission, adv_usd)`` per asset."""
        return (self.per_asset("half_spread", assets), self.per_asset("commission", assets),
                self.per_asset("adv_usd", assets))


def price_trade(trade_usd: np.ndarray, half_spread: np.ndarray, commission: np.ndarray, impact_eta: float,
                volatility: np.ndarray, adv_usd: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spread, commission and impact per asset for signed dollar trades, account currency.

    ``volatility`` is the daily return volatility (fraction) per asset.
    """
    gross = np.abs(trade_usd)
    return half_spread * gross, commission * gross, impact_eta * volatility / adv_usd * trade_usd ** 2


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
