"""Per-asset trading costs shared by the optimizer policy and the simulator (plain input data).

The formulas that price a trade with these numbers live once, in the terms
(:mod:`optimizer.terms.linear_costs`, :mod:`optimizer.terms.impact`); the simulator's
fills call them through :func:`optimizer.backtest.costs.price_trade`.
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
