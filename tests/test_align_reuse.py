"""``align`` reuses the last layout for a decision labelled like the last one
(optimizer/problem_data.py): the oracle is the uncached ``_align`` on the same inputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from case_factories import DATE
from optimizer.errors import InputError
from optimizer.problem_data import _align, align
from test_prepare_steps import market, portfolio, targets

PROPERTY = hsettings(max_examples=60, deadline=None, derandomize=True, database=None)


def assert_same_layout(got, want):
    for field in dataclasses.fields(want):
        a, b = getattr(got, field.name), getattr(want, field.name)
        if isinstance(b, np.ndarray):
            np.testing.assert_array_equal(a, b, err_msg=field.name)
        else:
            assert a == b, field.name


def book(prices, lots, classes=None):
    mkt = market(prices, classes=classes, keys=["eq", "bd"])
    return portfolio(lots), targets(["eq", "bd"]), mkt


@PROPERTY
@given(st.lists(st.floats(1.0, 500.0), min_size=3, max_size=3),
       st.permutations([("a1", "A", 1, 1, 10), ("b1", "B", 2, 1, 10), ("a2", "A", 3, 1, 10), ("c1", "C", 1, 1, 10)]),
       st.sampled_from(["eq", "bd"]))
def test_reused_layout_equals_a_fresh_one(prices, lots, class_of_c):
    """Each call follows a different previous call (hypothesis runs them in a row): new prices,
    lots in another order or another class for C must give exactly the fresh layout."""
    port, tgt, mkt = book(dict(zip("ABC", prices)), lots, classes={"A": "eq", "B": "bd", "C": class_of_c})
    assert_same_layout(align(port, tgt, mkt, [], None), _align(port, tgt, mkt, [], None))


def test_same_labels_reuse_the_layout_but_read_prices_afresh():
    port, tgt, mkt = book({"A": 10.0, "B": 20.0}, [("a1", "A", 1, 1, 10)], classes={"A": "eq", "B": "bd"})
    first = align(port, tgt, mkt, [], None)
    repriced = dataclasses.replace(mkt, prices=pd.Series({"A": 11.0, "B": 19.0}))
    second = align(port, tgt, repriced, [], None)
    assert second.at_market is first.at_market          # reused
    np.testing.assert_array_equal(second.price, [11.0, 19.0])


def test_a_late_lot_is_caught_on_the_reused_path_too():
    port, tgt, mkt = book({"A": 10.0, "B": 20.0}, [("a1", "A", 1, 1, 10)], classes={"A": "eq", "B": "bd"})
    align(port, tgt, mkt, [], None)
    late = port.lots.copy()
    late["acquired"] = DATE + pd.Timedelta(days=3)
    late_port = dataclasses.replace(port, lots=late)
    with pytest.raises(InputError, match="after the decision date"):
        align(late_port, tgt, mkt, [], None)


def test_a_changed_universe_or_class_is_not_reused():
    port, tgt, mkt = book({"A": 10.0, "B": 20.0}, [("a1", "A", 1, 1, 10)], classes={"A": "eq", "B": "bd"})
    align(port, tgt, mkt, [], None)
    assert align(port, tgt, mkt, [], ["B", "A"]).assets == ("B", "A")
    reclassed = dataclasses.replace(mkt, asset_class=pd.Series({"A": "bd", "B": "bd"}))
    assert align(port, tgt, reclassed, [], None).asset_keys == ("bd", "bd")


def test_a_frame_changed_in_place_is_not_reused():
    port, tgt, mkt = book({"A": 10.0, "B": 20.0}, [("a1", "A", 1, 1, 10), ("b1", "B", 1, 1, 10)],
                          classes={"A": "eq", "B": "bd"})
    align(port, tgt, mkt, [], None)
    mkt.asset_class.loc["B"] = "eq"          # the same Series object, changed in place
    port.lots.loc[:, "asset"] = ["B", "A"]   # the same frame, lots now the other way round
    assert_same_layout(align(port, tgt, mkt, [], None), _align(port, tgt, mkt, [], None))
    assert align(port, tgt, mkt, [], None).asset_keys == ("eq", "eq")
