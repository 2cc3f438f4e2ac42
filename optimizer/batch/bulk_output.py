"""A chunk's output tables built from numpy columns instead of per-account DataFrames.

Per account the general path lays out the result's tables (:class:`~optimizer.RebalanceResult`
``trades`` / ``lot_sales``), turns them into orders (:func:`optimizer.trade_file.orders_frame`)
and concatenates small frames: ~8 ms of pandas per account at 50 assets, several times the
solve. Here the same rows are computed from the decision's arrays (``ProblemData`` and the
final ``Trade``), with the formulas of :func:`optimizer.result.trade_table`,
:func:`optimizer.result.lot_sales_table` and the order rules of
:func:`optimizer.trade_file.orders_frame`, and each table of a chunk becomes one DataFrame.
``tests/batch/test_bulk_output.py`` checks every row and column against the general path.

Accounts with overlay instruments keep the general path (their orders carry contract rows).
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from optimizer.problem_data import ProblemData
from optimizer.result import MIN_REPORTED_TRADE_USD
from optimizer.terms import tax as tax_term
from optimizer.terms.base import Trade
from optimizer.trade_file import OrderRules, _number, _snap, order_reason, sized_orders

TRADE_COLUMNS = ("account_id", "asset", "asset_class", "price", "shares", "trade_usd", "buy_usd", "sell_usd",
                 "short_usd", "weight_before", "weight_after")
LOT_SALE_COLUMNS = ("account_id", "lot_id", "asset", "shares", "proceeds_usd", "basis_usd", "gain_usd", "term")
#: Tables whose text columns the general path keeps as ``object`` (orders_frame); the others infer pandas' text dtype.
OBJECT_TEXT = {"orders"}
TEXT = {"account_id", "asset", "asset_class", "lot_id", "term", "date", "side", "currency", "lot_ids", "lot_shares",
        "reason"}


def account_columns(account_id: str, data: ProblemData, trade: Trade, result, rules: OrderRules,
                    cash_floor_usd: float) -> dict[str, dict[str, np.ndarray]] | None:
    """One account's ``trades``, ``lot_sales`` and ``orders`` rows as columns, or ``None`` when the
    general path must make them (overlay instruments, or a result not in whole units while
    the rules require them: ``orders_frame`` raises that error)."""
    if len(data.overlay0) or (rules.whole_shares and not result.whole_units):
        return None
    nav = data.nav_usd
    shape = data.shape
    assets = np.array(shape.assets, dtype=object)
    price = data.price
    net = trade.net(data)
    gross = trade.gross(data) * nav
    shown = gross >= MIN_REPORTED_TRADE_USD
    trade_usd = net * nav
    trades = {
        "asset": assets[shown],
        "asset_class": np.array(shape.asset_keys, dtype=object)[shown],
        "price": price[shown],
        "shares": (net * nav / price)[shown],
        "trade_usd": trade_usd[shown],
        "buy_usd": (trade.buy * nav)[shown],
        "sell_usd": (trade.sold(data) * nav)[shown],
        "short_usd": (trade.short * nav)[shown],
        "weight_before": data.weight0[shown],
        "weight_after": (data.weight0 + net)[shown],
    }

    L = shape.lot_slots
    sold_slots = np.nonzero((trade.sell * nav >= MIN_REPORTED_TRADE_USD) & (data.lot_ids != ""))[0]
    slot_price = np.repeat(price, L)[sold_slots]
    proceeds = trade.sell[sold_slots] * nav
    gain_usd = (tax_term.realized_gain(data, trade) * nav)[sold_slots]
    sale_assets = assets[sold_slots // L]
    lot_ids = data.lot_ids[sold_slots].astype(str).astype(object)
    sale_shares = proceeds / slot_price
    lot_sales = {
        "lot_id": lot_ids,
        "asset": sale_assets,
        "shares": sale_shares,
        "proceeds_usd": proceeds,
        "basis_usd": proceeds / slot_price * data.lot_basis[sold_slots],
        "gain_usd": gain_usd,
        "term": np.where(data.lot_long_term[sold_slots], "long", "short").astype(object),
    }
    orders = _orders(account_id, str(pd.Timestamp(result.date).date()), assets, price, trade_usd, result,
                     rules, cash_floor_usd, sold_slots // L, lot_ids, sale_shares, gain_usd)
    for table in (trades, lot_sales):
        table["account_id"] = np.full(len(next(iter(table.values()))), account_id, dtype=object)
    return {"trades": trades, "lot_sales": lot_sales, "orders": orders}


def _orders(account_id: str, date: str, assets: np.ndarray, price: np.ndarray, net_usd: np.ndarray,
            result, rules: OrderRules, cash_floor_usd: float, sale_positions: np.ndarray, lot_ids: np.ndarray,
            sale_shares: np.ndarray, gains: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`optimizer.trade_file.orders_frame` on arrays (same rules, same order of rows).

    ``sale_positions``: the asset position of each lot sale, non-decreasing (the sales come in
    slot order, an asset's lots next to each other), so each sold asset's lots are one run."""
    shares, side, notional, keep, _ = sized_orders(net_usd, price, result, rules)
    fixed = {str(fix).split(":", 1)[0].strip() for fix in result.wash_sale_fixes}
    n = len(assets)
    lot_text = np.full(n, "", dtype=object)        # per asset: its sold lots' ids, shares and gain
    share_text = np.full(n, "", dtype=object)
    lot_gain = np.zeros(n)
    if len(sale_positions):
        snapped = _snap(sale_shares, result.whole_units, rules.share_decimals)
        starts = np.flatnonzero(np.concatenate(([True], sale_positions[1:] != sale_positions[:-1]))).tolist()
        for start, end in zip(starts, starts[1:] + [len(sale_positions)]):
            k = int(sale_positions[start])
            run = snapped[start:end]
            named = run > 0
            lot_text[k] = ";".join(lot_ids[start:end][named])
            share_text[k] = ";".join(_number(v) for v in run[named])
            lot_gain[k] = float(gains[start:end].copy().sum())
    raising_cash = float(result.cash_before_usd) < float(cash_floor_usd) - 0.005
    kept = np.nonzero(keep)[0]
    selling = side[kept] == "sell"
    kept_lots = np.where(selling, lot_text[kept], "").astype(object)
    kept_shares = np.where(selling, share_text[kept], "").astype(object)
    kept_gain = np.where(selling, lot_gain[kept], 0.0)
    wash = [str(a) in fixed for a in assets[kept]] if fixed else [False] * len(kept)
    reasons = [order_reason(w, s, bool(ids), g, raising_cash)
               for w, s, ids, g in zip(wash, selling.tolist(), kept_lots.tolist(), kept_gain.tolist())]
    count = len(kept)
    return {
        "account_id": np.full(count, str(account_id), dtype=object),
        "date": np.full(count, date, dtype=object),
        "asset": assets[kept].astype(object),
        "side": side[kept].astype(object),
        "shares": shares[kept].astype(float),
        "price": price[kept].astype(float),
        "notional": notional[kept].astype(float),
        "currency": np.full(count, rules.currency, dtype=object),
        "lot_ids": kept_lots,
        "lot_shares": kept_shares,
        "reason": np.array(reasons, dtype=object),
    }


class ChunkTables:
    """Collects each account's rows (columns from :func:`account_columns`, or frames from the
    general path) in account order, and makes one DataFrame per table."""

    def __init__(self, columns: dict[str, tuple[str, ...]]):
        self.columns = columns
        self._pieces: dict[str, list] = {name: [] for name in columns}

    def add_columns(self, produced: dict[str, dict[str, np.ndarray]]) -> None:
        for name, table in produced.items():
            self._pieces[name].append(table)

    def add_frames(self, produced: dict[str, pd.DataFrame]) -> None:
        for name, frame in produced.items():
            if name in self._pieces:
                self._pieces[name].append(frame)

    def frame(self, name: str) -> pd.DataFrame:
        """The table ``name``: its columns, text as object and numbers as float (like the parts before)."""
        columns = self.columns[name]
        frames, run = [], []

        def flush() -> None:
            if run:
                text = object if name in OBJECT_TEXT else None  # as the general path's frames have them
                frames.append(pd.DataFrame({c: (pd.Series(np.concatenate([t[c] for t in run]), dtype=text)
                                                if c in TEXT else np.concatenate([t[c] for t in run]).astype(float))
                                            for c in columns}))
                run.clear()

        for piece in self._pieces[name]:
            if isinstance(piece, pd.DataFrame):
                flush()
                if len(piece):
                    frames.append(piece.loc[:, list(columns)])
            else:
                run.append(piece)
        flush()
        frames = [f for f in frames if len(f)]
        if not frames:
            return pd.DataFrame({c: pd.Series(dtype=object if c in TEXT else float) for c in columns})
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)


__all__ = ["ChunkTables", "account_columns"]
