"""The independent wash-sale checker on hand-made logs, and against a brute-force double loop."""

from collections import Counter

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.backtest.audit import VIOLATION_COLUMNS, wash_sale_violations
from optimizer.backtest.ledger import BUY_COLUMNS, RELIEF_COLUMNS
from optimizer.errors import InputError

DAY0 = pd.Timestamp("2021-01-04")


def day(n: int) -> pd.Timestamp:
    return DAY0 + pd.Timedelta(days=n)


def buys(*rows) -> pd.DataFrame:
    """rows: (day, asset, lot_id)."""
    return pd.DataFrame([(day(d), a, lot, 10.0, 100.0) for d, a, lot in rows], columns=BUY_COLUMNS)


def reliefs(*rows) -> pd.DataFrame:
    """rows: (day, asset, lot_id, gain_usd[, bought_lot_id]); bought_lot_id defaults to lot_id."""
    rows = [row if len(row) == 5 else (*row, row[2]) for row in rows]
    return pd.DataFrame([(day(d), a, lot, 10.0, 90.0, 100.0, day(0), g, False, own) for d, a, lot, g, own in rows],
                        columns=RELIEF_COLUMNS)


def test_buy_ten_days_after_a_loss_is_a_violation():
    found = wash_sale_violations(buys((0, "A", "L0"), (50, "A", "L1")), reliefs((40, "A", "L0", -100.0)))
    assert list(found.columns) == VIOLATION_COLUMNS
    assert found.to_dict("records") == [{"asset": "A", "loss_date": day(40), "lot_id": "L0", "loss_usd": 100.0,
                                         "buy_date": day(50), "buy_lot_id": "L1",
                                         "buy_asset": "A"}]


def test_buy_31_days_after_a_loss_is_not():
    assert len(wash_sale_violations(buys((0, "A", "L0"), (71, "A", "L1")), reliefs((40, "A", "L0", -100.0)))) == 0
    # the window is inclusive: 30 days after is still one
    assert len(wash_sale_violations(buys((0, "A", "L0"), (70, "A", "L1")), reliefs((40, "A", "L0", -100.0)))) == 1


def test_buy_20_days_before_a_loss_sale_of_another_lot_is_a_violation():
    found = wash_sale_violations(buys((0, "A", "L0"), (20, "A", "L1")), reliefs((40, "A", "L0", -5.0)))
    assert found[["buy_lot_id", "lot_id"]].values.tolist() == [["L1", "L0"]]


def test_the_lots_own_purchase_is_not_a_violation():
    assert len(wash_sale_violations(buys((0, "A", "L0")), reliefs((10, "A", "L0", -100.0)))) == 0


def test_gain_sales_other_assets_and_sub_cent_losses_are_not_violations():
    logged = buys((0, "A", "L0"), (15, "A", "L1"), (15, "B", "L2"))
    assert len(wash_sale_violations(logged, reliefs((10, "A", "L0", 50.0)))) == 0
    assert len(wash_sale_violations(logged, reliefs((10, "A", "L0", -0.01)))) == 0
    assert len(wash_sale_violations(logged, reliefs((10, "B", "L9", 0.0), (10, "C", "L8", -9.0)))) == 0
    assert len(wash_sale_violations(logged, reliefs((10, "A", "L0", -0.02)))) == 1


def test_a_buy_of_a_substantially_identical_security_is_a_violation():
    logged, sold = buys((0, "A", "L0"), (50, "B", "L1"), (50, "C", "L2")), reliefs((40, "A", "L0", -100.0))
    assert len(wash_sale_violations(logged, sold)) == 0                       # no groups: B is another asset
    found = wash_sale_violations(logged, sold, identical_groups={"A": "sp500", "B": "sp500"})
    assert found[["asset", "buy_asset", "buy_lot_id"]].values.tolist() == [["A", "B", "L1"]]
    with pytest.raises(InputError, match="identical_groups"):
        wash_sale_violations(logged, sold, identical_groups={"A": ""})


def test_a_lot_split_off_its_purchase_is_not_replaced_by_that_purchase():
    # lot L0w3 was split off purchase L0 (a wash-sale basis adjustment): L0's buy is its own
    logged = buys((0, "A", "L0"))
    assert len(wash_sale_violations(logged, reliefs((10, "A", "L0w3", -100.0, "L0")))) == 0
    assert len(wash_sale_violations(logged, reliefs((10, "A", "L0w3", -100.0)))) == 1   # without the column


def test_window_and_bad_inputs():
    logged, sold = buys((0, "A", "L0"), (45, "A", "L1")), reliefs((10, "A", "L0", -100.0))
    assert len(wash_sale_violations(logged, sold, window_days=35)) == 1
    assert len(wash_sale_violations(logged, sold, window_days=30)) == 0
    with pytest.raises(InputError, match="window_days"):
        wash_sale_violations(logged, sold, window_days=-1)
    with pytest.raises(InputError, match="lot_reliefs"):
        wash_sale_violations(logged, sold.drop(columns="gain_usd"))


def brute_force(buy_rows, relief_rows, window: int, groups=None) -> Counter:
    groups = groups or {}
    found = Counter()
    for r_day, r_asset, r_lot, gain in relief_rows:
        for b_day, b_asset, b_lot in buy_rows:
            same = groups.get(r_asset, r_asset) == groups.get(b_asset, b_asset)
            if gain < -0.01 and same and abs(b_day - r_day) <= window and r_lot != b_lot:
                found[(r_asset, day(r_day), r_lot, day(b_day), b_lot)] += 1
    return found


assets = st.sampled_from(["A", "B", "C"])
lot_ids = st.sampled_from([f"L{i}" for i in range(6)])
gains = st.one_of(st.sampled_from([-0.011, -0.01, -0.009, 0.0, 0.01]),
                  st.floats(-1_000.0, 1_000.0, allow_nan=False))


@settings(max_examples=150, deadline=None)
@given(buy_rows=st.lists(st.tuples(st.integers(0, 120), assets, lot_ids), max_size=12),
       relief_rows=st.lists(st.tuples(st.integers(0, 120), assets, lot_ids, gains), max_size=12),
       window=st.integers(0, 45))
def test_matches_a_brute_force_double_loop(buy_rows, relief_rows, window):
    found = wash_sale_violations(buys(*buy_rows), reliefs(*relief_rows), window_days=window)
    rows = Counter(zip(found["asset"], found["loss_date"], found["lot_id"], found["buy_date"], found["buy_lot_id"]))
    assert rows == brute_force(buy_rows, relief_rows, window)
    groups = {"A": "g", "B": "g"}
    grouped = wash_sale_violations(buys(*buy_rows), reliefs(*relief_rows), window, identical_groups=groups)
    rows = Counter(zip(grouped["asset"], grouped["loss_date"], grouped["lot_id"], grouped["buy_date"],
                       grouped["buy_lot_id"]))
    assert rows == brute_force(buy_rows, relief_rows, window, groups)
    assert (found["loss_usd"] > 0.01).all()
