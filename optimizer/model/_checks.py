"""Small validators shared by the input data classes; each raises :class:`InputError`."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from optimizer.errors import InputError


def is_number(value) -> bool:
    """True for an int or float (numpy's too), False for bool, text and everything else."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def is_missing(value) -> bool:
    """True for ``None`` and float NaN / ``pd.NA`` / ``NaT`` (an empty cell)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and np.isnan(value)


def numeric_values(series: pd.Series, field: str) -> None:
    """Raise on the first value that is text, a bool or any other non-number (naming its asset).

    ``astype(float)`` would read ``"370"`` as 370.0 and ``True`` as 1.0; inputs must say what they mean.
    """
    if pd.api.types.is_bool_dtype(series.dtype):
        if len(series):
            raise InputError(field, f"is {series.iloc[0]!r}; expected a number, not a boolean",
                             asset=str(series.index[0]))
        return
    if pd.api.types.is_numeric_dtype(series.dtype):
        return
    for name, value in series.items():
        if not (is_number(value) or is_missing(value)):
            raise InputError(field, f"is {value!r} ({type(value).__name__}); expected a number", asset=str(name))


def str_labels(index: pd.Index) -> pd.Index:
    """``index`` with every label a string (already-text indexes are returned as they are)."""
    return index if isinstance(index.dtype, pd.StringDtype) else index.map(str)


def as_series(values, field: str, *, dtype=float) -> pd.Series:
    """Return ``values`` as a float Series indexed by name; dicts and Series are accepted.

    Values must be numbers (text and booleans are refused, not converted).
    """
    if isinstance(values, pd.Series):
        series = values.copy()
    elif isinstance(values, dict):
        series = pd.Series(values, dtype=object) if values else pd.Series(dtype=dtype)
    else:
        raise InputError(field, f"expected a pandas Series or a dict keyed by name, got {type(values).__name__}")
    if series.index.has_duplicates:
        dup = series.index[series.index.duplicated()][0]
        raise InputError(field, "appears more than once", asset=str(dup))
    if dtype is float:
        numeric_values(series, field)
    try:
        series = series.astype(dtype)
    except (TypeError, ValueError) as exc:
        raise InputError(field, f"values must be numbers ({exc})") from None
    series.index = str_labels(series.index)
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
    """Return ``value`` as float, raising if it is not a finite number (text and booleans are not) or below ``minimum``."""
    if not is_number(value):
        raise InputError(field, f"is {value!r} ({type(value).__name__}); expected a number")
    try:
        value = float(value)
    except OverflowError:
        raise InputError(field, "is too large to be a number of this engine") from None
    if not np.isfinite(value):
        raise InputError(field, f"is {value!r}; it must be a finite number")
    if minimum is not None and value < minimum:
        raise InputError(field, f"is {value!r}; it must be at least {minimum!r}")
    return value


def whole_number(value, field: str, *, minimum: int | None = None) -> int:
    """Return ``value`` as int, raising unless it is a whole number (not a bool, text or 3.5) >= ``minimum``."""
    number = finite_number(value, field, minimum=minimum)
    if number != int(number):
        raise InputError(field, f"is {value!r}; expected a whole number")
    return int(number)


def flag(value, field: str, *, asset: str | None = None) -> bool:
    """Return ``value`` as bool, raising unless it is ``True`` or ``False`` (not ``"false"``, ``0`` or ``"no"``)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise InputError(field, f"is {value!r} ({type(value).__name__}); expected true or false", asset=asset)


def timestamp(value, field: str, *, asset: str | None = None, lot: str | None = None) -> pd.Timestamp:
    """Return ``value`` as a ``pd.Timestamp``, refusing numbers (``20240628`` is not a date) and bad text."""
    import datetime as _dt

    if isinstance(value, (pd.Timestamp, _dt.date, np.datetime64)):
        stamp = pd.Timestamp(value)
    elif isinstance(value, str):
        try:
            stamp = pd.Timestamp(_dt.datetime.fromisoformat(value.strip()))
        except ValueError:
            raise InputError(field, f"{value!r} is not a date (use YYYY-MM-DD)", asset=asset, lot=lot) from None
    else:
        raise InputError(field, f"is {value!r} ({type(value).__name__}); expected a date (YYYY-MM-DD)",
                         asset=asset, lot=lot)
    if stamp is pd.NaT or pd.isna(stamp):
        raise InputError(field, "is missing; expected a date (YYYY-MM-DD)", asset=asset, lot=lot)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert(None)
    return stamp


def numeric_frame(frame, field: str) -> pd.DataFrame:
    """``frame`` as a float DataFrame, refusing anything but a DataFrame of numbers (row named on error)."""
    if not isinstance(frame, pd.DataFrame):
        raise InputError(field, f"expected a pandas DataFrame, got {type(frame).__name__}")
    for column in frame.columns:
        numeric_values(frame[column], f"{field}[{column}]")
    return frame.astype(float)
