"""Policies speak pandas at their edges: orders as an asset-indexed Series, the state as a DataFrame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optimizer.backtest import BacktestConfig, Simulator
from optimizer.errors import InputError
from optimizer.policies.base import Orders, Policy, State


def prices() -> pd.DataFrame:
    dates = pd.bdate_range("2021-01-04", periods=6)
    return pd.DataFrame({"A": np.linspace(100, 105, 6), "B": np.linspace(50, 48, 6), "C": 20.0}, index=dates)


class SeriesBuyer(Policy):
    """Buys $1,000 of B on the third date, given as a Series naming only B."""

    name = "series"

    def __init__(self, target, orders: pd.Series):
        super().__init__(target)
        self.orders = orders
        self.frames: list[pd.DataFrame] = []

    def decide(self, date, state: State):
        self.frames.append(state.frame())
        return Orders(self.orders) if state.step == 2 else None


class ArrayBuyer(SeriesBuyer):
    def decide(self, date, state: State):
        return Orders(self.orders.reindex(list(state.assets)).fillna(0.0).to_numpy()) if state.step == 2 else None


TARGET = {"A": 0.3, "B": 0.3, "C": 0.3}


def test_series_orders_fill_exactly_like_the_aligned_array():
    orders = pd.Series({"B": 1_000.0})
    by_series = Simulator(prices(), BacktestConfig()).run(SeriesBuyer(TARGET, orders))
    by_array = Simulator(prices(), BacktestConfig()).run(ArrayBuyer(TARGET, orders))
    pd.testing.assert_frame_equal(by_series.table("holdings_usd"), by_array.table("holdings_usd"))
    pd.testing.assert_series_equal(by_series.table("cash_usd"), by_array.table("cash_usd"))
    assert by_series.table("traded_usd").loc[prices().index[2], "B"] == pytest.approx(1_000.0, rel=1e-6)
    assert by_series.buys["asset"].tolist()[-1] == "B"


def test_state_frame_is_indexed_by_asset_and_consistent():
    policy = SeriesBuyer(TARGET, pd.Series({"B": 1_000.0}))
    Simulator(prices(), BacktestConfig()).run(policy)
    frame = policy.frames[1]
    assert list(frame.index) == ["A", "B", "C"]
    assert np.allclose(frame["holdings_usd"], frame["weight"] * frame["holdings_usd"].sum() / frame["weight"].sum())
    assert np.allclose(frame["price"], prices().iloc[1])


@pytest.mark.parametrize("orders, asset", [(pd.Series({"ZZZ": 5.0}), "ZZZ"), (pd.Series({"A": np.nan}), "A")])
def test_bad_series_orders_name_the_asset(orders, asset):
    with pytest.raises(InputError) as raised:
        Orders(orders).trade_array(("A", "B", "C"))
    assert raised.value.field == "orders.trade_usd" and raised.value.asset == asset


def test_an_array_of_the_wrong_length_is_refused():
    with pytest.raises(InputError, match="3 amounts"):
        Orders(np.zeros(2)).trade_array(("A", "B", "C"))


def test_result_table_refuses_what_is_not_a_per_date_array():
    result = Simulator(prices(), BacktestConfig()).run(SeriesBuyer(TARGET, pd.Series({"B": 1.0})))
    assert list(result.table("holdings_usd").columns) == ["A", "B", "C"]
    with pytest.raises(InputError, match="policy"):
        result.table("policy")
