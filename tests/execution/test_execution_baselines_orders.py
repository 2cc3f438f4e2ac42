"""TWAP, VWAP and child orders, against hand-computed schedules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optimizer.errors import InputError
from optimizer.execution import almgren_chriss, child_orders, expected_cost_and_variance, schedule, twap, vwap


def test_twap_is_equal_slices_on_the_time_index():
    path = twap(1000.0, 4, horizon=2.0)
    assert path.index.name == "time"
    np.testing.assert_allclose(path.index.to_numpy(), [0.0, 0.5, 1.0, 1.5, 2.0])
    np.testing.assert_allclose(path.to_numpy(), [1000.0, 750.0, 500.0, 250.0, 0.0])


def test_vwap_slices_in_proportion_to_volume():
    path = vwap(-600.0, pd.Series([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(path.to_numpy(), [-600.0, -500.0, -300.0, 0.0])
    np.testing.assert_allclose(vwap(500.0, [1, 1, 1, 1, 1]).to_numpy(), twap(500.0, 5).to_numpy())


@pytest.mark.parametrize("call,field", [
    (lambda: twap(0.0, 3), "shares"), (lambda: twap(10.0, 0), "periods"), (lambda: twap(10.0, 3, -1.0), "horizon"),
    (lambda: vwap(10.0, [0.0, 0.0]), "volume_profile"), (lambda: vwap(10.0, [1.0, -1.0]), "volume_profile"),
    (lambda: vwap(10.0, []), "volume_profile"), (lambda: vwap(10.0, ["a"]), "volume_profile"),
])
def test_baseline_inputs_are_checked(call, field):
    with pytest.raises(InputError) as caught:
        call()
    assert caught.value.field == field


def test_child_orders_add_up_in_whole_shares_and_sell_a_long_position():
    path = almgren_chriss(1_000_001, 5.0, 5, 0.95, 2.5e-6, 2.5e-7, 1e-6)
    orders = child_orders(path)
    assert list(orders["period"]) == [1, 2, 3, 4, 5]
    assert (orders["side"] == "sell").all()
    assert orders["shares"].sum() == 1_000_001
    assert (orders["shares"] == orders["shares"].round()).all()
    assert (orders["trade_shares"] == -orders["shares"]).all()
    assert orders["remaining_shares"].iloc[-1] == 0
    # each slice is within one share of the exact schedule
    assert (np.abs(orders["shares"].to_numpy() - (-np.diff(path.to_numpy()))) <= 1.0).all()


def test_child_orders_of_a_buy_program_are_buys_and_accept_a_schedule_object():
    solved = schedule(-3000.0, 3, sigma=0.5, eta=1e-4)
    orders = child_orders(solved)
    assert (orders["side"] == "buy").all()
    assert list(orders["trade_shares"]) == [1000.0, 1000.0, 1000.0]
    assert orders["end_time"].iloc[-1] == 3.0


def test_fractional_orders_and_their_checks():
    with pytest.raises(InputError) as caught:
        child_orders(twap(10.5, 2))
    assert caught.value.field == "schedule"
    np.testing.assert_allclose(child_orders(twap(10.5, 2), whole_shares=False)["shares"], [5.25, 5.25])
    with pytest.raises(InputError):
        child_orders([10.0, 0.0])


def test_all_at_once_costs_the_temporary_impact_of_one_block():
    # Hand-computed: x = (X, 0, 0): E = gamma*0 + eps*X + eta/tau*X^2, V = 0.
    path = pd.Series([1e6, 0.0, 0.0], index=pd.Index([0.0, 1.0, 2.0], name="time"))
    got = expected_cost_and_variance(path, 0.95, 2.5e-6, 2.5e-7, spread=0.0625)
    assert got.expected_cost == pytest.approx(0.0625e6 + 2.5e-6 * 1e12)
    assert got.variance == 0.0
    with pytest.raises(InputError) as caught:
        expected_cost_and_variance([1.0, 0.0], 0.95, 2.5e-6, 2.5e-7)
    assert caught.value.field == "horizon"
