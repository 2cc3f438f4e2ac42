"""The result's tables are built on first read, once, and survive pickling and ``replace``."""

from __future__ import annotations

import dataclasses
import pickle

import cvxpy as cp
import numpy as np
import pandas as pd
import pytest

from optimizer import Settings, solve_case
from optimizer.result import RebalanceResult
from optimizer.terms.base import assign
from problems.synthetic import synthetic_case

TABLES = ("trades", "lot_sales", "overlay", "exposures")


@pytest.fixture(scope="module")
def result() -> RebalanceResult:
    return solve_case(synthetic_case(8, 3, 3, seed=4, settings=Settings()))


def test_tables_are_built_once_on_first_read(result):
    fresh = dataclasses.replace(result)  # replace reads every table: they are DataFrames now
    calls = []

    def builder():
        calls.append(1)
        return pd.DataFrame({"x": [1.0]})

    lazy = dataclasses.replace(fresh, overlay=builder)
    assert calls == []
    first, second = lazy.overlay, lazy.overlay
    assert calls == [1] and first is second


def test_tables_match_the_trade(result):
    trades = result.trades
    assert np.allclose(trades["trade_usd"], trades["buy_usd"] - trades["sell_usd"] - trades["short_usd"])
    sold = result.lot_sales.groupby("asset")["proceeds_usd"].sum()
    assert np.allclose(sold.to_numpy(), trades.loc[sold.index, "sell_usd"].to_numpy())
    change = (result.exposures["after"] - result.exposures["before"]).sum()
    assert change == pytest.approx(trades["trade_usd"].sum() / result.nav_usd, abs=1e-9)


def test_pickle_round_trip_builds_every_table(result):
    copy = pickle.loads(pickle.dumps(result))
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(copy, name), getattr(result, name))


def test_a_table_field_is_required():
    fields = {f.name: f for f in dataclasses.fields(RebalanceResult)}
    assert all(fields[name].default is dataclasses.MISSING for name in TABLES)


def test_assign_checks_the_shape_and_writes_the_value():
    p = cp.Parameter(3, name="p")
    assign(p, [1, 2, 3])
    assert np.array_equal(p.value, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="'p' expects shape"):
        assign(p, [1.0, 2.0])
    scalar = cp.Parameter(name="s")
    assign(scalar, 2)
    assert scalar.value == 2.0


def test_with_tables_replaces_some_and_leaves_the_others_unbuilt(result):
    calls = []

    def builder():
        calls.append(1)
        return pd.DataFrame({"x": [1.0]})

    lazy = result.with_tables(overlay=builder)
    changed = lazy.with_tables(trades=result.trades.iloc[:1])
    assert calls == [] and len(changed.trades) == 1 and len(result.trades) > 1
    assert changed.overlay is changed.overlay and calls == [1]
    with pytest.raises(TypeError, match="not a result table"):
        result.with_tables(costs=pd.DataFrame())
