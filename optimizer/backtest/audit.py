"""An independent wash-sale audit of a backtest's trade logs.

Deliberately shares no code with the ledger's or the engine's wash-sale handling: it only
reads the two logs a run produces (:attr:`BacktestResult.buys` and
:attr:`BacktestResult.lot_reliefs`) and pairs them up.

A *violation* is a pair (loss relief, buy) where

* the relief lost more than :data:`LOSS_USD` (one cent) on that lot,
* the buy is of the same asset, or of one in the same group of substantially identical
  securities (``identical_groups``: asset -> group name; an asset not listed is its own
  group), on a date at most ``window_days`` calendar days before or after the relief
  date (same day included), and
* the buy is not the purchase that created the relieved lot itself (the relief's
  ``bought_lot_id`` when the log has that column, e.g. a lot split off a purchase by a
  wash-sale basis adjustment; else its ``lot_id``).

One relief may pair with several buys and one buy with several reliefs: each pair is a
row. Disallowance amounts are not computed; this only finds the pairs.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from optimizer.errors import InputError

#: A relief losing more than this many dollars is a loss sale.
LOSS_USD = 0.01
VIOLATION_COLUMNS = ["asset", "loss_date", "lot_id", "loss_usd", "buy_date", "buy_lot_id", "buy_asset"]
BUY_NEEDS = ("date", "asset", "lot_id")
RELIEF_NEEDS = ("date", "asset", "lot_id", "gain_usd")


def _check(frame: pd.DataFrame, needs: tuple[str, ...], field: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(field, f"expected a DataFrame, got {type(frame).__name__}")
    missing = [c for c in needs if c not in frame.columns]
    if missing:
        raise InputError(field, f"lacks columns {missing}")


def wash_sale_violations(buys: pd.DataFrame, lot_reliefs: pd.DataFrame, window_days: int = 30,
                         identical_groups: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Every (loss relief, buy) pair of the same wash group within ``window_days`` calendar days.

    Parameters
    ----------
    buys:
        One row per buy with ``date, asset, lot_id`` (other columns ignored).
    lot_reliefs:
        One row per lot relief with ``date, asset, lot_id, gain_usd`` (dollars).
    window_days:
        Days either side of the loss date (>= 0).
    identical_groups:
        Asset -> group name of substantially identical securities; ``None`` or an asset
        not listed: the asset is its own group.

    Returns
    -------
    pd.DataFrame
        Columns ``asset, loss_date, lot_id, loss_usd, buy_date, buy_lot_id, buy_asset``;
        ``asset`` is the relieved one, ``loss_usd`` the relief's loss as a positive number
        of dollars. Sorted by loss date, asset, lot, buy date and buy lot.
    """
    _check(buys, BUY_NEEDS, "buys")
    _check(lot_reliefs, RELIEF_NEEDS, "lot_reliefs")
    if not (isinstance(window_days, (int, float)) and window_days >= 0):
        raise InputError("window_days", f"is {window_days!r}; use a number of days >= 0")
    groups = dict(identical_groups or {})
    if not all(isinstance(g, str) and g for g in groups.values()):
        raise InputError("identical_groups", "maps an asset to something other than a non-empty group name")
    own = lot_reliefs["bought_lot_id"] if "bought_lot_id" in lot_reliefs.columns else lot_reliefs["lot_id"]
    losses = lot_reliefs.assign(own_lot=own.astype(str))
    losses = losses.loc[losses["gain_usd"].astype(float) < -LOSS_USD,
                        ["date", "asset", "lot_id", "gain_usd", "own_lot"]]
    losses = losses.assign(date=pd.to_datetime(losses["date"]), loss_usd=-losses["gain_usd"].astype(float),
                           group=losses["asset"].astype(str).map(lambda a: groups.get(a, a)))
    bought = buys.loc[:, ["date", "asset", "lot_id"]].assign(date=lambda f: pd.to_datetime(f["date"]))
    bought = bought.assign(group=bought["asset"].astype(str).map(lambda a: groups.get(a, a)))
    pairs = losses.merge(bought, on="group", suffixes=("_loss", "_buy"))
    apart = (pairs["date_buy"] - pairs["date_loss"]).abs()
    keep = (apart <= pd.Timedelta(days=window_days)) & (pairs["own_lot"] != pairs["lot_id_buy"].astype(str))
    out = pairs.loc[keep].rename(columns={"asset_loss": "asset", "date_loss": "loss_date", "lot_id_loss": "lot_id",
                                          "date_buy": "buy_date", "lot_id_buy": "buy_lot_id",
                                          "asset_buy": "buy_asset"})
    out = out[VIOLATION_COLUMNS].sort_values(["loss_date", "asset", "lot_id", "buy_date", "buy_lot_id"],
                                             kind="stable")
    return out.reset_index(drop=True)
