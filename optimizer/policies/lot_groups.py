"""Bounded lot slots: group an account's tax lots so each asset has at most ``max_groups``.

A book traded weekly for years holds dozens of lots per asset; one lot slot each would
grow the program (and rebuild it whenever the count grows). Lots whose tax per dollar
sold is (nearly) equal are interchangeable for the optimizer, so they are merged:

* lots are first split by *kind*: short- or long-term, gain or loss (a group never
  mixes a loss with a gain, so selling a "gain" group can never realize a loss and break
  the wash-sale rule, and its term decides its rate);
* within a kind, lots are sorted by gain per dollar ``1 - basis / price`` and cut into
  runs of consecutive lots; the ``max_groups`` slots are shared among the kinds present
  in proportion to their lot counts (each kind at least one);
* a group's basis is its members' quantity-weighted basis, so selling all of it realizes
  exactly their total gain; its acquisition date is its newest member's (the most
  conservative for the holding period and the wash-sale look-back).

When the optimizer sells part of a group, :func:`relieve` picks the members with the
least gain per dollar first, so the realized tax is never more than the group's linear
price (the optimizer is conservative, never optimistic).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.errors import InputError


@dataclass(frozen=True)
class LotGroups:
    """Grouped lots for the engine, and which ledger lots each group holds.

    Attributes
    ----------
    group_id:
        Per group (ordered by asset position, then kind and gain), its id
        ``"<asset>#<kind><k>"`` (object array of text).
    group_asset:
        Per group, its asset's position in ``asset_names``.
    asset_names:
        The asset names the positions refer to (object array).
    quantity, basis, acquired:
        Per group: shares, quantity-weighted basis per share, newest member's acquisition
        date (datetime64[ns]).
    loss:
        Per group: True when its lots are at a loss.
    member_group:
        Per ledger lot (in relief order: by group, least gain per dollar first), the
        group it belongs to.
    member_id, member_quantity:
        The ledger lot ids and their shares, in the same order.

    :attr:`lots` lays the groups out as the engine's lot table (``lot_id, asset, quantity,
    cost_basis, acquired``), on first use.
    """

    group_id: np.ndarray
    group_asset: np.ndarray
    asset_names: np.ndarray
    quantity: np.ndarray
    basis: np.ndarray
    acquired: np.ndarray
    loss: np.ndarray
    member_group: np.ndarray
    member_id: np.ndarray
    member_quantity: np.ndarray

    @property
    def n_groups(self) -> int:
        return len(self.group_id)

    @property
    def lots(self) -> pd.DataFrame:
        """One row per group with the engine's lot columns (built on first use, kept)."""
        frame = self.__dict__.get("_lots")
        if frame is None:
            frame = pd.DataFrame({"lot_id": pd.array(self.group_id.tolist(), dtype=str),
                                  "asset": pd.array(self.asset_names[self.group_asset], dtype=str),
                                  "quantity": self.quantity, "cost_basis": self.basis, "acquired": self.acquired})
            object.__setattr__(self, "_lots", frame)
        return frame

    def acquired_by_id(self) -> dict[str, pd.Timestamp]:
        """Each group's acquisition date (its newest member's), by group id."""
        return dict(zip(self.group_id.tolist(), pd.DatetimeIndex(self.acquired)))

    def position(self) -> dict[str, int]:
        """The row of ``lots`` of each group id (built on first use, kept)."""
        rows = self.__dict__.get("_position")
        if rows is None:
            rows = {g: k for k, g in enumerate(self.group_id.tolist())}
            object.__setattr__(self, "_position", rows)
        return rows


LOT_COLUMNS = ["lot_id", "asset", "quantity", "cost_basis", "acquired"]


def group_lots(lots: pd.DataFrame, prices: pd.Series, date: pd.Timestamp, long_term_days: int,
               max_groups: int = 8) -> LotGroups:
    """Group ``lots`` (the engine's lot columns) so no asset has more than ``max_groups``.

    ``prices`` are per share, indexed by asset; ``date`` decides short or long term.
    """
    if lots.empty:
        return group_lot_arrays(np.zeros(0, dtype=object), np.zeros(0, dtype=int), np.zeros(0, dtype=object),
                                np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0, dtype="datetime64[ns]"),
                                date, long_term_days, max_groups)
    asset_codes, asset_names = pd.factorize(lots["asset"].to_numpy())
    return group_lot_arrays(lots["lot_id"].to_numpy(dtype=object), asset_codes, np.asarray(asset_names, dtype=object),
                            prices.reindex(asset_names).to_numpy(dtype=float),
                            lots["quantity"].to_numpy(dtype=float), lots["cost_basis"].to_numpy(dtype=float),
                            lots["acquired"].to_numpy(dtype="datetime64[ns]"), date, long_term_days, max_groups)


def group_lot_arrays(lot_id: np.ndarray, asset_code: np.ndarray, asset_names: np.ndarray, asset_price: np.ndarray,
                     quantity: np.ndarray, basis: np.ndarray, acquired: np.ndarray, date: pd.Timestamp,
                     long_term_days: int, max_groups: int = 8) -> LotGroups:
    """:func:`group_lots` on arrays, one entry per lot: ``lot_id``, ``asset_code`` (a
    position in ``asset_names`` and ``asset_price``, price per share), ``quantity``
    (shares), ``basis`` (per share) and ``acquired`` (datetime64[ns]).

    A backtest's ledger hands its lots over this way, without a DataFrame. Groups come out
    ordered by asset code, so any codes in the same order as the assets' first lots (e.g.
    the ledger's asset positions, its lots listed asset by asset) give the same groups.
    """
    if max_groups < 4:
        raise InputError("max_groups", f"is {max_groups}; at least 4 (one per short/long x gain/loss kind)")
    if not len(lot_id):
        return LotGroups(np.zeros(0, dtype=object), np.zeros(0, dtype=int), np.asarray(asset_names, dtype=object),
                         np.zeros(0), np.zeros(0), np.zeros(0, dtype="datetime64[ns]"), np.zeros(0, dtype=bool),
                         np.zeros(0, dtype=int), np.zeros(0, dtype=object), np.zeros(0))
    price = asset_price[asset_code]
    gain = 1.0 - basis / price
    held_days = (np.datetime64(pd.Timestamp(date), "ns") - acquired) / np.timedelta64(1, "D")
    kind = np.where(held_days > long_term_days, 2, 0) + (gain > 0)

    order = np.lexsort((gain, kind, asset_code))
    segment = asset_code[order] * 4 + kind[order]                 # (asset, kind) of each sorted lot
    seg_start = np.flatnonzero(_changes(segment))
    seg_count = _run_lengths(seg_start, len(order))
    asset_start = np.flatnonzero(_changes(segment[seg_start] // 4))     # each asset's first segment
    asset_end = np.append(asset_start[1:], len(seg_start))
    slots = seg_count.copy()             # an asset with no more lots than slots: one slot per lot
    for a in np.flatnonzero(np.add.reduceat(seg_count, asset_start) > max_groups):
        slots[asset_start[a]:asset_end[a]] = _slots_per_kind(seg_count[asset_start[a]:asset_end[a]], max_groups)
    rank = np.arange(len(order)) - np.repeat(seg_start, seg_count)
    sub = (rank * np.repeat(slots, seg_count)) // np.repeat(seg_count, seg_count)
    key = segment * max_groups + sub      # non-decreasing: segments in order, ``sub`` rising within each
    new_group = _changes(key)
    group_start = np.flatnonzero(new_group)
    group_keys = key[group_start]
    member_group = np.cumsum(new_group) - 1

    q = quantity[order]
    n_groups = len(group_keys)
    group_quantity = np.bincount(member_group, q, n_groups)
    group_basis = np.bincount(member_group, q * basis[order], n_groups) / group_quantity
    newest = np.maximum.reduceat(acquired[order].astype(np.int64), group_start).astype("datetime64[ns]")
    group_asset = (group_keys // max_groups) // 4
    group_ids = np.array([f"{a}#{(k // max_groups) % 4}{k % max_groups}"
                          for a, k in zip(asset_names[group_asset].tolist(), group_keys.tolist())], dtype=object)
    loss = ((group_keys // max_groups) % 4) % 2 == 0
    return LotGroups(group_ids, group_asset, asset_names, group_quantity, group_basis, newest, loss, member_group,
                     lot_id[order], q)


def _changes(values: np.ndarray) -> np.ndarray:
    """Per entry of a non-empty array: True where it differs from the previous one (the first: True)."""
    change = np.empty(len(values), dtype=bool)
    change[0] = True
    np.not_equal(values[1:], values[:-1], out=change[1:])
    return change


def _run_lengths(starts: np.ndarray, total: int) -> np.ndarray:
    """Lengths of the runs starting at ``starts`` (ascending) in an array of ``total`` entries."""
    lengths = np.empty(len(starts), dtype=starts.dtype)
    lengths[:-1] = starts[1:] - starts[:-1]
    lengths[-1] = total - starts[-1]
    return lengths


def _slots_per_kind(counts: np.ndarray, max_groups: int) -> np.ndarray:
    """Share ``max_groups`` slots among one asset's kinds (lot ``counts`` each), in proportion.

    Every kind gets at least one slot and never more slots than lots.
    """
    if counts.sum() <= max_groups:     # room for every lot: what the sharing below gives too
        return counts.copy()
    count = counts.tolist()            # at most four kinds: Python numbers, not numpy calls
    share = [1] * len(count)
    spare = max_groups - len(count)
    extra = [c - 1 for c in count]
    total = sum(extra)
    if spare > 0 and total > 0:
        share = [1 + min(math.floor(e / total * spare), e) for e in extra]
        for k in sorted(range(len(count)), key=lambda k: -count[k]):     # hand out what rounding left (stable)
            add = min(count[k] - share[k], max_groups - sum(share))
            share[k] += max(add, 0)
    return np.array(share, dtype=int)


def relieve(groups: LotGroups, group_shares: dict[str, float]) -> dict[str, float]:
    """Ledger lots to sell for the shares sold per group: least gain per dollar first.

    Returns ``{ledger lot_id: shares}``; raises :class:`InputError` for an unknown group.
    A sale above the group's quantity is capped at it: the engine verified its answer to
    1e-6 of NAV, so any excess is solver rounding (for a tiny group it can be a large
    fraction of the group).
    """
    position = groups.position()
    out: dict[str, float] = {}
    for group_id, shares in group_shares.items():
        k = position.get(group_id)
        if k is None:
            raise InputError("lot_sales", "names a lot group the policy did not make", lot=str(group_id))
        members = np.nonzero(groups.member_group == k)[0]
        held = float(groups.member_quantity[members].sum())
        left = float(shares)
        left = min(left, held)     # the engine verified the sale to 1e-6 of NAV: the rest is rounding
        for m in members:
            if left <= 0:
                break
            take = min(float(groups.member_quantity[m]), left)
            out[str(groups.member_id[m])] = take
            left -= take
    return out
