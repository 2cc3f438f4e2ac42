"""Strategic policy plus tactical tilts: target paths over time and a policy that follows one.

A *target path* is a DataFrame (dates x assets) of target weights, NAV fractions (the
rest of each row is cash); row ``d`` holds the target in force from date ``d`` until the
next row. :func:`tactical_path` builds one from strategic :class:`optimizer.Targets` and
dated tilts (each clipped to its limit by :meth:`optimizer.Targets.with_tilt`);
:class:`TargetPathCalendar` trades back to the target in force on each due date.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.model.targets import Targets
from optimizer.policies.base import Orders, Policy, Schedule, State, target_array


def tactical_path(strategic: Targets, tilts: pd.DataFrame, limit: float | pd.Series) -> pd.DataFrame:
    """Tactical target weights per date: ``strategic.with_tilt(tilts.loc[d], limit)`` per row.

    Parameters
    ----------
    strategic:
        Strategic targets on assets (the keys are asset names).
    tilts:
        Dates x keys, NAV fractions (+ overweight); a missing key or NaN is no tilt.
    limit:
        Largest absolute tilt per key, NAV fraction (scalar or per key).

    Returns
    -------
    pandas.DataFrame
        Dates x ``strategic.keys``, tactical weights (rows sum to ``1 - cash weight``).

    Raises
    ------
    InputError
        From :meth:`Targets.with_tilt`, naming the asset; ``tilts`` if it is not a
        date-indexed DataFrame.
    """
    if not isinstance(tilts, pd.DataFrame) or not isinstance(tilts.index, pd.DatetimeIndex):
        raise InputError("tilts", "must be a pandas DataFrame indexed by date (dates x assets)")
    rows = [strategic.with_tilt(row.dropna(), limit).weight for _, row in tilts.iterrows()]
    return pd.DataFrame(rows, index=tilts.index, columns=strategic.keys).fillna(0.0)


def path_on(path: pd.DataFrame | pd.Series, calendar: pd.DatetimeIndex, assets, field: str) -> np.ndarray:
    """Target weights in force on each date of ``calendar`` (dates x assets array, NAV fractions).

    A Series is one constant target. A DataFrame's row ``d`` applies from ``d`` on (the last
    row dated on or before each date); a date before the first row is an error.
    """
    if isinstance(path, (pd.Series, dict)):
        return np.tile(target_array(path, assets, field), (len(calendar), 1))
    if not isinstance(path, pd.DataFrame) or not isinstance(path.index, pd.DatetimeIndex):
        raise InputError(field, "must be a Series of weights or a DataFrame indexed by date (dates x assets)")
    if len(path) == 0 or path.index[0] > calendar[0]:
        raise InputError(field, f"has no target in force on {calendar[0].date()} (its first row must be on or "
                                "before the first date)")
    frame = path.sort_index()
    rows = np.array([target_array(frame.iloc[i].dropna(), assets, field) for i in range(len(frame))])
    position = frame.index.searchsorted(calendar, side="right") - 1
    return rows[position]


class TargetPathCalendar(Policy):
    """Trade everything back to the target in force on each due date of a calendar.

    Parameters
    ----------
    path:
        Target path (dates x assets, NAV fractions; see the module docstring), e.g. from
        :func:`tactical_path`. Its first row must be on or before the backtest's first date;
        that row is the policy's ``target`` (the initial investment).
    frequency, when:
        As :class:`optimizer.policies.Calendar`.
    name:
        Label in results (default ``"target_path"``).
    """

    def __init__(self, path: pd.DataFrame, frequency: str = "M", *, when: str = "last", name: str | None = None):
        if not isinstance(path, pd.DataFrame) or not isinstance(path.index, pd.DatetimeIndex) or len(path) == 0:
            raise InputError("path", "must be a non-empty DataFrame indexed by date (dates x assets)")
        self.path = path.sort_index()
        super().__init__(self.path.iloc[0].dropna())
        self.schedule = Schedule(frequency, when)
        self.name = name or "target_path"

    def start(self, assets: tuple[str, ...]) -> None:
        super().start(assets)
        self._rows = np.array([target_array(self.path.iloc[i].dropna(), assets, "path")
                               for i in range(len(self.path))])

    def decide(self, date: pd.Timestamp, state: State) -> Orders | None:
        if not self.schedule.due(date, state.next_date):
            return None
        position = int(self.path.index.searchsorted(date, side="right")) - 1
        if position < 0:
            raise InputError("path", f"has no target in force on {date.date()}")
        return Orders((self._rows[position] - state.weights) * state.nav_usd)
