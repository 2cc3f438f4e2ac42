"""Strategic targets and tolerance bands on exposure keys (asset classes or assets)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.model._checks import as_series, finite, finite_number, nonnegative

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

    def with_tilt(self, tilt: pd.Series | dict, limit: float | pd.Series) -> "Targets":
        """Tactical targets: these (strategic) weights plus a tilt clipped to ``+/- limit``.

        ``tilt`` (NAV fractions per key; keys left out get no tilt) is clipped per key to
        ``[-limit, +limit]`` around the strategic weight; what the clipped tilts do not net
        out goes to or comes from cash (``cash_weight - sum(clipped tilt)``). The bands move
        with the target (same widths, lower edge floored at 0).

        Raises
        ------
        InputError
            ``targets.tilt`` naming the key if it is unknown or the tilted weight would be
            negative; ``targets.tilt`` if the tilts would leave a negative cash weight.
        """
        tilt = as_series(tilt, "targets.tilt")
        finite(tilt, "targets.tilt")
        unknown = [key for key in tilt.index if key not in self.weight.index]
        if unknown:
            raise InputError("targets.tilt", "names a key that has no strategic target", asset=str(unknown[0]))
        limit = _per_key(limit, self.weight, "targets.tilt_limit")
        clipped = tilt.reindex(self.weight.index).fillna(0.0).clip(lower=-limit, upper=limit)
        weight = self.weight + clipped
        for key in weight.index:
            if weight[key] < -1e-12:
                raise InputError("targets.tilt", f"tilt {clipped[key]:+g} takes the weight {self.weight[key]:g} "
                                 f"below zero", asset=str(key))
        cash = self.cash_weight - float(clipped.sum())
        if cash < -SUM_TOLERANCE:
            raise InputError("targets.tilt", f"tilts add {float(clipped.sum()):+g} to the risky weights, more than "
                             f"the cash target {self.cash_weight:g}; offset them")
        return Targets(weight.clip(lower=0.0), self.band_lower + clipped, self.band_upper + clipped, max(cash, 0.0))


def _per_key(value, weight: pd.Series, field: str) -> pd.Series:
    if np.isscalar(value):
        series = pd.Series(finite_number(value, field), index=weight.index)
    else:
        series = as_series(value, field).reindex(weight.index)
        if series.isna().any():
            raise InputError(field, "has no value for this target", asset=str(series.index[series.isna()][0]))
    nonnegative(series, field)
    return series
