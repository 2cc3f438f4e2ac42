"""Small validators shared by the input data classes; each raises :class:`InputError`."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from optimizer.errors import InputError


def as_series(values, field: str, *, dtype=float) -> pd.Series:
    """Return ``values`` as a float Series indexed by name; dicts and Series are accepted."""
    if isinstance(values, pd.Series):
        series = values.copy()
    elif isinstance(values, dict):
        series = pd.Series(values, dtype=dtype)
    else:
        raise InputError(field, f"expected a pandas Series or a dict keyed by name, got {type(values).__name__}")
    if series.index.has_duplicates:
        dup = series.index[series.index.duplicated()][0]
        raise InputError(field, "appears more than once", asset=str(dup))
    try:
        series = series.astype(dtype)
    except (TypeError, ValueError) as exc:
        raise InputError(field, f"values must be numbers ({exc})") from None
    series.index = series.index.map(str)
    return series


def finite(series: pd.Series, field: str) -> None:
    """Raise on the first NaN or infinite value, naming its asset."""
    bad = ~np.isfinite(series.to_numpy(dtype=float))
    if bad.any():
        name = series.index[bad.argmax()]
        raise InputError(field, f"is {series.iloc[bad.argmax()]!r}; it must be a finite number", asset=str(name))


def positive(series: pd.Series, field: str) -> None:
    """Raise on the first non-finite or non-positive value."""
    finite(series, field)
    bad = series.to_numpy(dtype=float) <= 0
    if bad.any():
        name = series.index[bad.argmax()]
        raise InputError(field, f"is {series.iloc[bad.argmax()]!r}; it must be positive", asset=str(name))


def nonnegative(series: pd.Series, field: str) -> None:
    """Raise on the first non-finite or negative value."""
    finite(series, field)
    bad = series.to_numpy(dtype=float) < 0
    if bad.any():
        name = series.index[bad.argmax()]
        raise InputError(field, f"is {series.iloc[bad.argmax()]!r}; it must not be negative", asset=str(name))


def covers(series: pd.Series, names: Iterable[str], field: str) -> None:
    """Raise if ``series`` lacks any of ``names`` (missing data for a known asset)."""
    missing = [n for n in names if n not in series.index]
    if missing:
        raise InputError(field, f"has no value ({len(missing)} missing in all)", asset=str(missing[0]))


def known(names: Iterable[str], universe: Iterable[str], field: str) -> None:
    """Raise on the first name not in ``universe`` (an unknown asset)."""
    universe = set(universe)
    for name in names:
        if name not in universe:
            raise InputError(field, "is not a known asset of the market snapshot", asset=str(name))


def finite_number(value: float, field: str, *, minimum: float | None = None) -> float:
    """Return ``value`` as float, raising if it is not finite or below ``minimum``."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputError(field, f"{value!r} is not a number") from None
    if not np.isfinite(value):
        raise InputError(field, f"is {value!r}; it must be a finite number")
    if minimum is not None and value < minimum:
        raise InputError(field, f"is {value!r}; it must be at least {minimum!r}")
    return value
