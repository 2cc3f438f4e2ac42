"""Tolerance bands for heuristic policies: absolute, relative or asymmetric, per asset."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.model._checks import as_series


@dataclass(frozen=True)
class Bands:
    """Band around each target weight (NAV fractions).

    ``relative=False``: ``[w* - below, w* + above]``; ``relative=True``:
    ``[w* (1 - below), w* (1 + above)]``. ``below``/``above`` are scalars or per-asset
    Series. Build with :meth:`absolute`, :meth:`relative` or :meth:`asymmetric`.
    """

    below: float | pd.Series
    above: float | pd.Series
    relative: bool = False

    @classmethod
    def absolute(cls, width: float | pd.Series) -> "Bands":
        """``w* +/- width`` (0.05 = five percentage points)."""
        return cls(width, width, False)

    @classmethod
    def relative_to_target(cls, fraction: float | pd.Series) -> "Bands":
        """``w* (1 +/- fraction)`` (0.2 around 10% gives 8%..12%)."""
        return cls(fraction, fraction, True)

    @classmethod
    def asymmetric(cls, below: float | pd.Series, above: float | pd.Series, relative: bool = False) -> "Bands":
        """Different room below and above the target."""
        return cls(below, above, relative)

    def label(self) -> str:
        def text(v):
            return f"{v:g}" if np.isscalar(v) else "per-asset"
        kind = "rel" if self.relative else "abs"
        if np.isscalar(self.below) and np.isscalar(self.above) and self.below == self.above:
            return f"{kind} {text(self.below)}"
        return f"{kind} -{text(self.below)}/+{text(self.above)}"

    def limits(self, target: np.ndarray, assets: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)`` weights per asset."""
        below = _per_asset(self.below, assets, "bands.below")
        above = _per_asset(self.above, assets, "bands.above")
        if self.relative:
            return target * (1.0 - below), target * (1.0 + above)
        return np.maximum(target - below, 0.0), target + above


def _per_asset(value, assets: tuple[str, ...], field: str) -> np.ndarray:
    if np.isscalar(value):
        out = np.full(len(assets), float(value))
    else:
        series = as_series(value, field).reindex(list(assets))
        if series.isna().any():
            raise InputError(field, "has no value", asset=str(series.index[series.isna()][0]))
        out = series.to_numpy(dtype=float)
    if not np.all(np.isfinite(out)) or (out < 0).any():
        raise InputError(field, "must be finite and non-negative")
    return out
