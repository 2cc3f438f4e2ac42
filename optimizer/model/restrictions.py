"""Per-asset trading limits: no-trade, no-buy, no-sell, shorting, and a maximum trade size."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from optimizer.errors import InputError

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
        table = self.table.copy()
        table.index = table.index.map(str)
        if table.index.has_duplicates:
            raise InputError("restrictions", "lists an asset twice", asset=str(table.index[table.index.duplicated()][0]))
        unknown = [c for c in table.columns if c not in FLAG_COLUMNS + SIZE_COLUMNS]
        if unknown:
            raise InputError("restrictions", f"unknown column {unknown[0]!r}; known: {list(FLAG_COLUMNS + SIZE_COLUMNS)}")
        for column in FLAG_COLUMNS:
            table[column] = table[column].fillna(False).astype(bool) if column in table else False
        for column in SIZE_COLUMNS:
            values = pd.to_numeric(table[column], errors="coerce") if column in table else pd.Series(np.inf, index=table.index)
            values = values.fillna(np.inf)
            if (values < 0).any():
                raise InputError(f"restrictions.{column}", "must not be negative", asset=str(values.index[(values < 0).argmax()]))
            table[column] = values.astype(float)
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
