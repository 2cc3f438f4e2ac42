"""Interchangeable lots: in an account no sale is taxed, an asset's lots pool into one.

The program prices a lot only through its tax (``lot_tax_cost``, the wait premium) and
bounds it by ``lot_sell_max``; everything else sees the sale per asset. In a tax-exempt
account (:meth:`TaxRules.none`: both rates 0) every lot of an asset is
therefore the same, and the program with one pooled slot per asset (capacity the sum of
the lots' ``lot_sell_max``) has the same optimum as the one with a slot per lot, with
``lot_slots`` times fewer sale variables: at 500 assets x 5 lots about 5x fewer variables
and a several times faster solve (``benchmarks/solve_speed.py``, rows ``ours_exempt``).

:func:`unpool_sells` hands each asset's pooled sale back to its lots in the portfolio's
lot order (each up to its ``lot_sell_max``): a first-in, first-out relief where the
portfolio lists lots oldest first. The trade per asset, the objective and every hard rule
are those of the pooled answer; only which of equal lots is sold is a choice.

Households (one program over several accounts), user terms (which may price lots) and
accounts with any taxed or valued realization are never pooled.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from optimizer.problem_data import ProblemData, known_shape
from optimizer.terms.base import Trade


def lots_interchangeable(data: ProblemData) -> bool:
    """True when ``data``'s lots of one asset are interchangeable and there is more than one slot:
    no sale is taxed or valued (both rates 0, so nothing is deferred either, and every lot's tax,
    cost and wait premium 0) and it is one account."""
    return (data.shape.lot_slots > 1 and not data.shape.accounts
            and data.tax.short_term_rate == 0 and data.tax.long_term_rate == 0
            and not (data.lot_tax.any() or data.lot_tax_cost.any() or data.lot_wait_cost.any()))


def pool_lots(data: ProblemData) -> ProblemData:
    """``data`` with one lot slot per asset: quantities, values and sale capacities summed,
    the basis the quantity-weighted mean, the id the first lot's (only the solve reads it)."""
    slots = data.shape.lot_slots
    n = data.shape.n_assets

    def per_asset(values: np.ndarray) -> np.ndarray:
        return values.reshape(n, slots).sum(axis=1)

    quantity = per_asset(data.lot_quantity)
    cost = per_asset(data.lot_quantity * data.lot_basis)
    occupied = (data.lot_ids != "").reshape(n, slots)
    first = np.where(occupied.any(axis=1), occupied.argmax(axis=1), 0)
    lot_ids = np.where(occupied.any(axis=1), data.lot_ids.reshape(n, slots)[np.arange(n), first], "").astype(object)
    return replace(
        data,
        shape=known_shape(replace(data.shape, lot_slots=1)),
        lot_ids=lot_ids,
        lot_value=per_asset(data.lot_value),
        lot_quantity=quantity,
        lot_basis=np.divide(cost, quantity, out=np.zeros(n), where=quantity > 0),
        lot_long_term=occupied.all(axis=1) & data.lot_long_term.reshape(n, slots).all(axis=1),
        lot_tax=np.zeros(n),
        lot_tax_cost=np.zeros(n),
        lot_wait_cost=np.zeros(n),
        lot_sell_max=per_asset(data.lot_sell_max),
    )


def unpool_sells(data: ProblemData, pooled: Trade) -> Trade:
    """The pooled answer on ``data``'s own lot slots: each asset's sale filled into its slots
    in order, each up to its ``lot_sell_max``; a solver's excess above the capacity (within
    its tolerance) stays on the asset's last slot with capacity, so sales per asset are kept."""
    slots = data.shape.lot_slots
    n = data.shape.n_assets
    capacity = data.lot_sell_max.reshape(n, slots)
    before = np.cumsum(capacity, axis=1) - capacity
    sold = np.clip(pooled.sell[:, None] - before, 0.0, capacity)
    excess = np.maximum(pooled.sell - sold.sum(axis=1), 0.0)
    has_room = capacity > 0
    last = np.where(has_room.any(axis=1), slots - 1 - np.argmax(has_room[:, ::-1], axis=1), 0)
    sold[np.arange(n), last] += excess
    return Trade(pooled.buy, sold.ravel(), pooled.short, pooled.overlay_trade)


__all__ = ["lots_interchangeable", "pool_lots", "unpool_sells"]
