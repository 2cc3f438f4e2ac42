"""Strategic targets and tolerance bands on exposure keys (asset classes or assets)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.model._checks import as_series, finite_number, nonnegative

SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Targets:
    """Target weights and bands, as fractions of NAV, on exposure keys.

    The keys are whatever ``Market.asset_class`` maps assets to: asset classes, or the
    assets themselves for per-asset targets. Cash is not a key; its target is
    ``cash_weight``, and ``weight.sum() + cash_weight`` must be 1.

    Build symmetric or relative bands with :meth:`absolute` and :meth:`relative`;
    pass ``band_lower``/``band_upper`` directly for asymmetric ones.
    """

    weight: pd.Series
    band_lower: pd.Series
    band_upper: pd.Series
    cash_weight: float = 0.0

    def __post_init__(self) -> None:
        weight = as_series(self.weight, "targets.weight")
        nonnegative(weight, "targets.weight")
        cash = finite_number(self.cash_weight, "targets.cash_weight", minimum=0.0)
        total = float(weight.sum()) + cash
        if abs(total - 1.0) > SUM_TOLERANCE:
            raise InputError("targets.weight", f"target weights plus cash_weight sum to {total:.8f}, not 1")
        lower = as_series(self.band_lower, "targets.band_lower").reindex(weight.index)
        upper = as_series(self.band_upper, "targets.band_upper").reindex(weight.index)
        for name, band in (("targets.band_lower", lower), ("targets.band_upper", upper)):
            if band.isna().any():
                raise InputError(name, "has no value for this target", asset=str(band.index[band.isna()][0]))
        for key in weight.index:
            if not (lower[key] - 1e-12 <= weight[key] <= upper[key] + 1e-12):
                raise InputError("targets.band_lower", f"band [{lower[key]:g}, {upper[key]:g}] does not contain the "
                                 f"target {weight[key]:g}", asset=str(key))
        object.__setattr__(self, "weight", weight)
        object.__setattr__(self, "band_lower", lower.clip(lower=0.0))
        object.__setattr__(self, "band_upper", upper)
        object.__setattr__(self, "cash_weight", cash)

    @classmethod
    def absolute(cls, weight, width: float | pd.Series, cash_weight: float = 0.0) -> "Targets":
        """Bands ``weight +/- width`` (e.g. width 0.05 = five percentage points)."""
        weight = as_series(weight, "targets.weight")
        width = _per_key(width, weight, "targets.width")
        return cls(weight, weight - width, weight + width, cash_weight)

    @classmethod
    def relative(cls, weight, fraction: float | pd.Series, cash_weight: float = 0.0) -> "Targets":
        """Bands ``weight * (1 +/- fraction)`` (e.g. 0.2 around a 10% target gives 8%..12%)."""
        weight = as_series(weight, "targets.weight")
        fraction = _per_key(fraction, weight, "targets.fraction")
        return cls(weight, weight * (1 - fraction), weight * (1 + fraction), cash_weight)

    @classmethod
    def asymmetric(cls, weight, below: float | pd.Series, above: float | pd.Series,
                   cash_weight: float = 0.0) -> "Targets":
        """Absolute bands ``[weight - below, weight + above]``."""
        weight = as_series(weight, "targets.weight")
        return cls(weight, weight - _per_key(below, weight, "targets.below"),
                   weight + _per_key(above, weight, "targets.above"), cash_weight)

    @property
    def keys(self) -> list[str]:
        return list(self.weight.index)


def _per_key(value, weight: pd.Series, field: str) -> pd.Series:
    if np.isscalar(value):
        series = pd.Series(finite_number(value, field), index=weight.index)
    else:
        series = as_series(value, field).reindex(weight.index)
        if series.isna().any():
            raise InputError(field, "has no value for this target", asset=str(series.index[series.isna()][0]))
    nonnegative(series, field)
    return series
