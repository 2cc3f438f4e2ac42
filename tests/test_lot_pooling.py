"""Tax-exempt accounts solve with one pooled lot slot per asset (optimizer/lot_pooling.py).

Oracles: the unpooled program (a Rebalancer with a user term never pools) on the same data,
the numpy rule checker ``verify`` on the account's own lots, a hand-filled case, and a
property of the fill order.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from optimizer import Rebalancer, TaxRules
from optimizer.lot_pooling import lots_interchangeable, pool_lots, unpool_sells
from optimizer.problem_data import prepare
from optimizer.program import objective_value, verify
from optimizer.terms.base import Trade
from problems.synthetic import synthetic_case


def exempt_data(n_assets: int = 12, seed: int = 3, tax: TaxRules = TaxRules.none(), **settings):
    case = synthetic_case(n_assets, 4, 3, seed=seed)
    if settings:
        case = dataclasses.replace(case, settings=dataclasses.replace(case.settings, **settings))
    options = {**case.options(), "tax": tax}
    return prepare(case.portfolio, case.targets, case.market, case.settings, **options)


def never_pooling() -> Rebalancer:
    """A rebalancer with a (no-op) user term: user terms may price lots, so it never pools."""
    return Rebalancer(terms=[lambda shape, variables: None])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pooled_answer_matches_the_program_with_every_lot(seed):
    data = exempt_data(seed=seed)
    assert lots_interchangeable(data)
    rebalancer = Rebalancer()
    pooled, _, trade = rebalancer.solve_parts(data)
    full, _, full_trade = never_pooling().solve_parts(data)
    # only the pooled shape was built, with one slot per asset
    assert rebalancer.builds == 1
    assert [shape.lot_slots for shape in rebalancer._programs] == [1]
    assert verify(data, trade) is None
    assert pooled.objective_bps == pytest.approx(full.objective_bps, rel=1e-6, abs=1e-6)
    assert objective_value(data, trade) == pytest.approx(pooled.objective_bps, rel=1e-12)
    np.testing.assert_allclose(trade.net(data), full_trade.net(data), atol=1e-6)
    # every lot sale belongs to a real lot and the sales per asset add up to the asset's sale
    sold = pooled.lot_sales.groupby("asset")["proceeds_usd"].sum()
    sales = pooled.trades["sell_usd"]
    np.testing.assert_allclose(sold.reindex(sales.index, fill_value=0.0), sales, rtol=1e-9, atol=0.01)  # dust not listed
    assert set(pooled.lot_sales.index) <= set(data.lot_ids[data.lot_ids != ""])


def test_whole_units_round_on_the_accounts_own_lots():
    data = exempt_data(seed=4)
    result = Rebalancer().solve(data, whole_units=True)
    buys = result.trades["buy_usd"] > 0
    assert np.allclose(result.trades.loc[buys, "shares"], np.round(result.trades.loc[buys, "shares"]))
    # each lot sale is whole shares or the whole (possibly fractional) lot, never above it
    quantity = dict(zip(data.lot_ids, data.lot_quantity))
    for lot_id, shares in result.lot_sales["shares"].items():
        assert 0 < shares <= quantity[lot_id] + 1e-9
        assert shares == pytest.approx(round(shares)) or shares == pytest.approx(quantity[lot_id])


@pytest.mark.parametrize("tax", [TaxRules(), TaxRules(short_term_rate=0.0, long_term_rate=0.2),
                                 TaxRules(short_term_rate=0.2, long_term_rate=0.0)],
                         ids=["taxable", "long-term only", "short-term only"])
def test_taxed_or_valued_sales_never_pool(tax):
    assert not lots_interchangeable(exempt_data(tax=tax))


def test_one_slot_per_asset_has_nothing_to_pool():
    data = exempt_data()
    assert not lots_interchangeable(pool_lots(data))


def test_pooled_data_sums_the_lots():
    data = exempt_data()
    pooled = pool_lots(data)
    n, slots = data.shape.n_assets, data.shape.lot_slots
    assert pooled.shape.lot_slots == 1 and pooled.shape.n_lots == n
    np.testing.assert_allclose(pooled.lot_sell_max, data.lot_sell_max.reshape(n, slots).sum(axis=1))
    np.testing.assert_allclose(pooled.lot_value, data.lot_value.reshape(n, slots).sum(axis=1))
    cost = (data.lot_quantity * data.lot_basis).reshape(n, slots).sum(axis=1)
    np.testing.assert_allclose(pooled.lot_quantity * pooled.lot_basis, cost)


def test_unpool_fills_slots_in_order_by_hand():
    data = exempt_data(n_assets=2)
    slots = data.shape.lot_slots
    capacity = np.zeros(2 * slots)
    capacity[:3] = [0.03, 0.0, 0.02]          # asset 0: slots 0 and 2 have room
    capacity[slots:slots + 2] = [0.01, 0.01]  # asset 1
    data = data.with_bounds(lot_sell_max=capacity)
    pooled = Trade(np.zeros(2), np.array([0.04, 0.02 + 1e-12]), np.zeros(2), np.zeros(0))
    sell = unpool_sells(data, pooled).sell.reshape(2, slots)
    np.testing.assert_allclose(sell[0, :3], [0.03, 0.0, 0.01])
    assert sell[1, 0] == 0.01 and sell[1, 1] == pytest.approx(0.01 + 1e-12, abs=1e-15)  # excess on the last slot with room
    assert sell[1].sum() == pytest.approx(0.02 + 1e-12, abs=1e-15)


@hsettings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4), st.floats(0.0, 1.0))
def test_unpool_property_first_slots_fill_first(capacity, share):
    data = exempt_data(n_assets=1)
    slots = data.shape.lot_slots
    cap = np.array((capacity + [0.0] * slots)[:slots])
    data = data.with_bounds(lot_sell_max=cap)
    sale = share * cap.sum()
    sell = unpool_sells(data, Trade(np.zeros(1), np.array([sale]), np.zeros(1), np.zeros(0))).sell
    assert sell.sum() == pytest.approx(sale, rel=1e-12, abs=1e-15)
    assert np.all(sell >= 0) and np.all(sell <= cap * (1 + 1e-12) + 1e-15)
    for k in range(1, slots):  # a slot sells only once every earlier slot is full
        if sell[k] > 1e-15:
            np.testing.assert_allclose(sell[:k], cap[:k], rtol=1e-12, atol=1e-15)
