"""Whole-share and whole-contract rounding, a post-step after the continuous solve.

Rules, in order:

1. Lot sales round to the nearest whole share, never above the lot (a full-lot sale
   stays a full-lot sale, fractional lot included).
2. Buys round *down* to whole shares; shorts round to the nearest share.
3. Overlay positions round to the nearest whole contract, then step toward zero while
   the gross limit is exceeded.
4. While cash after costs and margin is below zero (in a household: any account's own
   cash), the largest buy (of that account) gives up shares; if no buy is left, lot sales
   (of that account) round up (within their lots).

Rounding can move exposures slightly outside bands; the result reports it.
"""

from __future__ import annotations

import numpy as np

from optimizer.problem_data import ProblemData
from optimizer.terms import cash, overlay
from optimizer.terms.base import Trade


def round_to_whole_units(data: ProblemData, trade: Trade) -> Trade:
    """Return ``trade`` in whole shares and contracts, keeping cash (after margin) >= 0."""
    nav, L = data.nav_usd, data.shape.lot_slots
    price = data.price
    slot_price = np.repeat(price, L)
    sell_shares = np.minimum(np.round(trade.sell * nav / slot_price), data.lot_quantity)
    full = trade.sell >= data.lot_value - 1e-9
    sell_shares = np.where(full & (data.lot_value > 0), data.lot_quantity * (trade.sell > 0), sell_shares)
    buy_shares = np.floor(trade.buy * nav / price + 1e-9)
    short_shares = np.round(trade.short * nav / price)

    overlay_trade = trade.overlay_trade
    if len(data.overlay0):
        per_contract = data.overlay_notional_usd / nav
        after = np.round((data.overlay0 + overlay_trade) / per_contract)
        limit = data.overlay_gross_limit
        while np.abs(after * per_contract).sum() > limit + 1e-12 and np.any(after != 0):
            k = int(np.argmax(np.abs(after * per_contract)))
            after[k] -= np.sign(after[k])
        overlay_trade = after * per_contract - data.overlay0

    def build() -> Trade:
        return Trade(buy_shares * price / nav, sell_shares * slot_price / nav, short_shares * price / nav,
                     overlay_trade)

    rounded = build()
    while True:
        free, mine = _free_cash(data, rounded)
        if free >= 0:
            break
        slot_mine = np.repeat(mine, L)
        if np.any((buy_shares > 0) & mine):
            i = int(np.argmax(np.where(mine, buy_shares * price, -1.0)))
            buy_shares[i] = max(0.0, buy_shares[i] - max(1.0, np.ceil(-free * nav / price[i])))
        else:
            room = data.lot_quantity - sell_shares
            candidates = np.nonzero((room > 0) & (data.lot_sell_max > 0) & slot_mine)[0]
            if len(candidates) == 0:
                break
            j = candidates[0]
            sell_shares[j] = min(data.lot_quantity[j], np.floor(sell_shares[j]) + 1.0)
        rounded = build()
    return rounded


def _free_cash(data: ProblemData, trade: Trade) -> tuple[float, np.ndarray]:
    """The lowest free cash (NAV fraction) after linear costs, impact and overlay margin, and the
    positions that draw on it: all of them, or in a household the short account's own."""
    if data.shape.accounts:
        free = cash.account_cash_free_after(data, trade)
        worst = int(np.argmin(free))
        return float(free[worst]), np.array(data.shape.asset_account) == worst
    return cash.cash_after(data, trade) - overlay.margin(data, trade), np.ones(data.shape.n_assets, dtype=bool)
