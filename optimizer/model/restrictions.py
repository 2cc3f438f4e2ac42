"""Per-asset trading limits: no-trade, no-buy, no-sell, shorting, and a maximum trade size."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.model._checks import flag, is_missing, is_number, str_labels

FLAG_COLUMNS = ("no_trade", "no_buy", "no_sell", "allow_short")
SIZE_COLUMNS = ("max_trade_usd", "max_short_usd")


@dataclass(frozen=True)
class Restrictions:
    """Limits per asset; assets not listed trade freely (long-only).

    ``table`` is indexed by asset with any of the boolean columns ``no_trade``,
    ``no_buy``, ``no_sell``, ``allow_short`` and the size columns ``max_trade_usd``
    (gross traded value cap, account currency) and ``max_short_usd`` (largest short
    position allowed when ``allow_short``).
    """

    table: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(index=pd.Index([], dtype=str)))

    def __post_init__(self) -> None:
        if not isinstance(self.table, pd.DataFrame):
            raise InputError("restrictions", f"expected a pandas DataFrame indexed by asset, got {type(self.table).__name__}")
        table = self.table.copy()
        table.index = str_labels(table.index)
        if table.index.has_duplicates:
            raise InputError("restrictions", "lists an asset twice", asset=str(table.index[table.index.duplicated()][0]))
        unknown = [c for c in table.columns if c not in FLAG_COLUMNS + SIZE_COLUMNS]
        if unknown:
            close = difflib.get_close_matches(str(unknown[0]), FLAG_COLUMNS + SIZE_COLUMNS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InputError(f"restrictions.{unknown[0]}", f"unknown column{hint} Known: {list(FLAG_COLUMNS + SIZE_COLUMNS)}")
        for column in FLAG_COLUMNS:
            if column not in table:
                table[column] = False
                continue
            # Only true/false: "false", "no" or 0 would read as True (or False) by accident.
            table[column] = [False if is_missing(v) else flag(v, f"restrictions.{column}", asset=str(a))
                             for a, v in table[column].items()]
            table[column] = table[column].astype(bool)
        for column in SIZE_COLUMNS:
            if column not in table:
                table[column] = np.inf
                continue
            values = []
            for asset, value in table[column].items():
                if is_missing(value):
                    values.append(np.inf)  # empty: unlimited
                    continue
                if not is_number(value):
                    raise InputError(f"restrictions.{column}", f"is {value!r} ({type(value).__name__}); expected a "
                                     "number of dollars or null (unlimited)", asset=str(asset))
                if not float(value) >= 0:
                    raise InputError(f"restrictions.{column}", f"is {value!r}; it must not be negative", asset=str(asset))
                values.append(float(value))
            table[column] = pd.Series(values, index=table.index, dtype=float)
        object.__setattr__(self, "table", table)

    def flag(self, column: str, assets: list[str]) -> np.ndarray:
        """Boolean ``column`` per asset of ``assets`` (False where not listed)."""
        if self.table.empty:
            return np.zeros(len(assets), dtype=bool)
        return self.table[column].reindex(assets).fillna(False).to_numpy(dtype=bool)

    def size(self, column: str, assets: list[str]) -> np.ndarray:
        """Size limit ``column`` per asset of ``assets`` (inf where not listed)."""
        if self.table.empty:
            return np.full(len(assets), np.inf)
        return self.table[column].reindex(assets).fillna(np.inf).to_numpy(dtype=float)
