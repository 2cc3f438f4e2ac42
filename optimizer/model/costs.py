"""Per-asset trading costs shared by the optimizer policy and the simulator (plain input data).

The formulas that price a trade with these numbers live once, in the terms
(:mod:`optimizer.terms.linear_costs`, :mod:`optimizer.terms.impact`); the simulator's
fills call them through :func:`optimizer.backtest.costs.price_trade`.

Stress-time costs
-----------------
With ``stress`` (a date-indexed level: the VIX close in points, or an annualised realized
volatility in percent) spreads and impact widen with market stress. On date ``t``, with
``L_t`` the last level on or before ``t`` (no look-ahead) and ``L_ref = stress_reference``::

    spread_scale_t = clip((L_t / L_ref) ** spread_stress_exponent, 1, stress_cap)
    impact_scale_t = clip((L_t / L_ref) ** impact_stress_exponent, 1, stress_cap)
    half_spread_t  = half_spread * spread_scale_t           (commission is not scaled)
    adv_usd_t      = adv_usd / impact_scale_t               (impact = eta * vol / ADV_t * u^2)

A calm day (``L_t <= L_ref``) costs the base numbers (the floor of 1: the base costs are
the calm-market costs); the cap bounds a spike. Exponent 1 makes the half spread
proportional to the stress level above the reference, the usual first-order rule that
quoted spreads move with volatility. Impact already grows with each asset's own trailing
volatility (``vol`` above); its stress scale stands for depth drying up (a smaller
effective ADV), so a stressed impact grows roughly with the square of volatility until the
cap. :meth:`CostModel.stress_multipliers` gives both scales per date (the simulator calls
it once per run); :meth:`CostModel.on` gives one date's arrays (the optimizer policy's
market), so fills and decisions see the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.model._checks import finite_number


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
    stress:
        Optional stress level per date (DatetimeIndex, sorted, finite, > 0): VIX points or
        annualised realized volatility in percent. ``None``: costs do not depend on the date.
    stress_reference:
        Level at and below which costs are the base numbers (same units as ``stress``;
        20 suits the VIX, about its long-run mean; realized volatility runs lower).
    stress_cap:
        Largest multiplier of the half spread and of impact, >= 1.
    spread_stress_exponent, impact_stress_exponent:
        Elasticity of the half spread and of impact to ``L_t / L_ref`` (>= 0; 0 disables).
    stress_max_age_days:
        A date whose latest stress level is older than this many calendar days raises
        (a VIX file that ends must not price later years silently).
    """

    half_spread: float | pd.Series = 0.0002
    commission: float | pd.Series = 0.0001
    adv_usd: float | pd.Series = 5e8
    impact_eta: float = 1.0
    vol_window: int = 63
    stress: pd.Series | None = None
    stress_reference: float = 20.0
    stress_cap: float = 4.0
    spread_stress_exponent: float = 1.0
    impact_stress_exponent: float = 1.0
    stress_max_age_days: int = 10

    def __post_init__(self) -> None:
        if self.stress is None:
            return
        level = self.stress
        if not isinstance(level, pd.Series) or not isinstance(level.index, pd.DatetimeIndex):
            raise InputError("costs.stress", "must be a pandas Series indexed by date (a DatetimeIndex)")
        if len(level) == 0 or not level.index.is_monotonic_increasing or level.index.has_duplicates:
            raise InputError("costs.stress", "must be non-empty, with sorted unique dates")
        values = pd.to_numeric(level, errors="coerce").to_numpy(dtype=float)
        if not np.all(np.isfinite(values)) or (values <= 0).any():
            raise InputError("costs.stress", "levels must be finite and positive (drop missing dates first)")
        finite_number(self.stress_reference, "costs.stress_reference", minimum=1e-12)
        finite_number(self.stress_cap, "costs.stress_cap", minimum=1.0)
        finite_number(self.spread_stress_exponent, "costs.spread_stress_exponent", minimum=0.0)
        finite_number(self.impact_stress_exponent, "costs.impact_stress_exponent", minimum=0.0)
        finite_number(self.stress_max_age_days, "costs.stress_max_age_days", minimum=0.0)

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

    def with_stress(self, level: pd.Series, *, reference: float = 20.0, cap: float = 4.0,
                    spread_exponent: float = 1.0, impact_exponent: float = 1.0,
                    max_age_days: int = 10) -> "CostModel":
        """These costs, widened with market stress ``level`` (e.g. ``datasets.load_vix()``,
        or a realized volatility in percent with its own ``reference``); see the module notes."""
        from dataclasses import replace

        return replace(self, stress=level, stress_reference=reference, stress_cap=cap,
                       spread_stress_exponent=spread_exponent, impact_stress_exponent=impact_exponent,
                       stress_max_age_days=max_age_days)

    def stress_multipliers(self, dates) -> tuple[np.ndarray, np.ndarray]:
        """``(spread_scale, impact_scale)`` per date of ``dates`` (dimensionless, in [1, cap]).

        Both are ones without ``stress``. Each date uses the last level on or before it.

        Raises
        ------
        InputError
            ``costs.stress`` if a date has no level on or before it, or only one older than
            ``stress_max_age_days``.
        """
        index = pd.DatetimeIndex(pd.to_datetime(dates))
        if self.stress is None:
            return np.ones(len(index)), np.ones(len(index))
        level = self.stress.astype(float)
        position = level.index.searchsorted(index, side="right") - 1
        if (position < 0).any():
            first = index[position < 0][0]
            raise InputError("costs.stress", f"has no level on or before {first.date()}")
        age_days = (index - level.index[position]).days
        if (age_days > self.stress_max_age_days).any():
            stale = index[age_days > self.stress_max_age_days][0]
            raise InputError("costs.stress", f"has no level within {self.stress_max_age_days} days before "
                                             f"{stale.date()} (the series ends or has a gap)")
        ratio = level.to_numpy()[position] / self.stress_reference
        return (np.clip(ratio ** self.spread_stress_exponent, 1.0, self.stress_cap),
                np.clip(ratio ** self.impact_stress_exponent, 1.0, self.stress_cap))

    def on(self, date, assets: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(half_spread, commission, adv_usd)`` per asset on ``date``, stress scaling applied:
        the half spread times the spread scale, the ADV divided by the impact scale (see the
        module notes); the same numbers the simulator fills with on that date."""
        half_spread, commission, adv_usd = self.arrays(assets)
        spread_scale, impact_scale = self.stress_multipliers([date])
        return half_spread * spread_scale[0], commission, adv_usd / impact_scale[0]
