"""Input checks shared by the execution functions: each failure is an InputError naming the argument."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from optimizer.errors import InputError


def finite_number(name: str, value: object) -> float:
    """``value`` as a float; InputError if it is not a finite real number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(name, f"must be a real number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise InputError(name, f"must be finite, got {number}")
    return number


def nonzero_shares(name: str, value: object) -> float:
    """The signed quantity to trade (shares); InputError if not finite or zero."""
    number = finite_number(name, value)
    if number == 0.0:
        raise InputError(name, "must be non-zero (nothing to trade)")
    return number


def positive(name: str, value: object) -> float:
    number = finite_number(name, value)
    if number <= 0.0:
        raise InputError(name, f"must be > 0, got {number}")
    return number


def nonnegative(name: str, value: object) -> float:
    number = finite_number(name, value)
    if number < 0.0:
        raise InputError(name, f"must be >= 0, got {number}")
    return number


def period_count(name: str, value: object) -> int:
    """A whole number of trading periods >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(name, f"must be a whole number of periods, got {value!r}")
    if int(value) < 1:
        raise InputError(name, f"must be >= 1, got {int(value)}")
    return int(value)


def per_period(name: str, value: object, periods: int, *, strictly_positive: bool) -> np.ndarray:
    """A scalar or a sequence of length ``periods`` as a float array of that length.

    InputError if the length is wrong, a value is not finite, or it is negative (or zero when
    ``strictly_positive``).
    """
    if isinstance(value, (Sequence, np.ndarray)) or hasattr(value, "to_numpy"):
        raw = value.to_numpy() if hasattr(value, "to_numpy") else value
        try:
            array = np.asarray(raw, dtype=float).reshape(-1)
        except (TypeError, ValueError) as error:
            raise InputError(name, f"must hold numbers: {error}") from error
        if array.size != periods:
            raise InputError(name, f"must hold one value per period ({periods}), got {array.size}")
    else:
        array = np.full(periods, finite_number(name, value))
    bad = ~np.isfinite(array)
    if bad.any():
        raise InputError(name, f"value for period {int(np.flatnonzero(bad)[0]) + 1} is not finite")
    low = array <= 0.0 if strictly_positive else array < 0.0
    if low.any():
        k = int(np.flatnonzero(low)[0])
        bound = "> 0" if strictly_positive else ">= 0"
        raise InputError(name, f"must be {bound}; period {k + 1} has {array[k]}")
    return array


def period_length(horizon: float, periods: int) -> float:
    """tau = T / N, the length of one period in the horizon's time unit."""
    return horizon / periods


def boundary_times(horizon: float, periods: int) -> np.ndarray:
    """t_k = k tau for k = 0..N (the index of every schedule Series)."""
    return np.linspace(0.0, horizon, periods + 1)
