"""Cash flows of the overlay book against hand-computed cases, limits and margin calls."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.errors import InputError
from optimizer.overlays import (Future, MarginCallError, OverlayBook, TotalReturnSwap, futures_fair_value, roll_cost,
                                swap_payment, variation_margin)

ES = Future("ES", "US_EQUITY", multiplier=50.0, initial_margin=0.06, maintenance_margin=0.05,
            cost_per_contract_usd=8.25, roll_days_before_expiry=5)
EXPIRY = pd.Timestamp("2020-03-20")


def test_variation_margin_and_cash_interest_over_three_days():
    book = OverlayBook(cash_usd=1_000_000.0)
    cost = book.trade_futures("ES", 10, 4000.0, future=ES, expiry=EXPIRY)
    assert cost == pytest.approx(82.5)
    assert book.cash_usd == pytest.approx(999_917.5)
    # Day 1: cash earns 1 bp, future settles at 4040: +10 * 50 * 40 = +20,000.
    book.accrue_cash(1e-4)
    assert book.mark_futures({"ES": 4040.0}) == pytest.approx(20_000.0)
    day1 = 999_917.5 * 1.0001 + 20_000.0
    assert book.cash_usd == pytest.approx(day1)
    # Day 2: settles at 3980: -10 * 50 * 60 = -30,000.
    book.accrue_cash(1e-4)
    assert book.mark_futures({"ES": 3980.0}) == pytest.approx(-30_000.0)
    day2 = day1 * 1.0001 - 30_000.0
    assert book.cash_usd == pytest.approx(day2)
    # Day 3: sell 4 contracts at 3990 after the mark: +10 * 50 * 10 VM, then 4 * 8.25 cost.
    book.accrue_cash(0.0)
    book.mark_futures({"ES": 3990.0})
    book.trade_futures("ES", -4, 3990.0)
    assert book.futures["ES"].contracts == 6
    assert book.cash_usd == pytest.approx(day2 + 5_000.0 - 33.0)
    assert book.exposure_usd() == {"US_EQUITY": pytest.approx(6 * 50 * 3990.0)}
    assert book.costs_usd["futures_trade"] == pytest.approx(82.5 + 33.0)


def test_trading_needs_whole_contracts_and_a_fresh_mark():
    book = OverlayBook(cash_usd=1e6)
    with pytest.raises(InputError, match="whole contracts"):
        book.trade_futures("ES", 1.5, 4000.0, future=ES, expiry=EXPIRY)
    book.trade_futures("ES", 2, 4000.0, future=ES, expiry=EXPIRY)
    with pytest.raises(InputError, match="mark"):
        book.trade_futures("ES", 1, 4100.0)


def test_variation_margin_function():
    assert variation_margin(-3, 1000.0, 120.0, 119.5) == pytest.approx(1500.0)


def test_futures_plus_cash_earn_total_return_under_cost_of_carry():
    """Index flat over a quarter: the future converges from S e^{(r-q)T} to S; VM plus the cash
    rate on the notional is the dividend yield, i.e. the total return (to second order)."""
    spot, r, q, years = 4000.0, 0.03, 0.015, 0.25
    f0 = futures_fair_value(spot, r, q, years)
    assert f0 == pytest.approx(4000.0 * math.exp(0.00375))
    vm_points = variation_margin(1, 1.0, f0, futures_fair_value(spot, r, q, 0.0))
    cash_points = spot * (math.exp(r * years) - 1)
    dividend_points = spot * (math.exp(q * years) - 1)
    assert vm_points + cash_points == pytest.approx(dividend_points, rel=5e-3)


def test_swap_financing_accrual_hand_computed():
    # $10M, reference 100 -> 102 over 30 days, 3m rate 2% + 40 bp spread, Act/360:
    # 10M * 2% - 10M * 2.4% * 30/360 = 200,000 - 20,000 = 180,000.
    assert swap_payment(10e6, 100.0, 102.0, 0.02, 0.004, 30 / 360) == pytest.approx(180_000.0)
    # Short the same swap: pay the 2% return, receive 2% - 0.4%: -200,000 + 10M * 1.6% * 30/360.
    assert swap_payment(-10e6, 100.0, 102.0, 0.02, 0.004, 30 / 360) == pytest.approx(-200_000.0 + 13_333.3333)
    swap = TotalReturnSwap("TRS", "US_EQUITY", financing_spread=0.004, counterparty_limit_usd=50e6,
                           trade_cost_bps=2.0, collateral=0.1)
    book = OverlayBook(cash_usd=5e6)
    cost = book.trade_swap("2020-01-01", "TRS", 10e6, 100.0, 0.02, swap=swap)
    assert cost == pytest.approx(2_000.0)
    book.mark_swaps("2020-01-16", {"TRS": 101.0})
    # Half way: 10M * 1% - 10M * 2.4% * 15/360 = 100,000 - 10,000 unsettled, in NAV not cash.
    assert book.swap_value_usd() == pytest.approx(90_000.0)
    assert book.cash_usd == pytest.approx(5e6 - 2_000.0)
    book.mark_swaps("2020-01-31", {"TRS": 102.0})
    assert book.reset_swap("TRS", rate=0.025) == pytest.approx(180_000.0)
    assert book.cash_usd == pytest.approx(5e6 - 2_000.0 + 180_000.0)
    assert book.costs_usd["swap_spread"] == pytest.approx(10e6 * 0.004 * 30 / 360)
    assert book.swap_value_usd() == pytest.approx(0.0)
    # Next period re-strikes at 102 with the rate fixed at the reset (2.5%).
    book.mark_swaps("2020-03-01", {"TRS": 102.0})
    assert book.swap_value_usd() == pytest.approx(-10e6 * 0.029 * 30 / 360)


def test_swap_counterparty_limit_is_enforced():
    swap = TotalReturnSwap("TRS", "US_EQUITY", counterparty_limit_usd=50e6)
    book = OverlayBook(cash_usd=10e6)
    book.trade_swap("2020-01-01", "TRS", 40e6, 100.0, 0.02, swap=swap)
    with pytest.raises(InputError, match="counterparty limit"):
        book.trade_swap("2020-01-02", "TRS", 20e6, 100.0, 0.02)
    assert book.swaps["TRS"].notional_usd == pytest.approx(40e6)
    book.trade_swap("2020-01-02", "TRS", -90e6, 100.0, 0.02)  # -50M: exactly at the limit, short
    assert book.swaps["TRS"].notional_usd == pytest.approx(-50e6)


def test_roll_cost_and_roll():
    assert roll_cost(-20, 8.25, 6.25) == pytest.approx(20 * (2 * 8.25 + 6.25))
    book = OverlayBook(cash_usd=1e6)
    book.trade_futures("ES", 20, 4000.0, future=ES, expiry=EXPIRY)
    cash = book.cash_usd
    assert book.roll_future("ES", 4012.0, pd.Timestamp("2020-06-19"), calendar_spread_usd=6.25) == pytest.approx(455.0)
    assert book.cash_usd == pytest.approx(cash - 455.0)
    position = book.futures["ES"]
    assert (position.contracts, position.expiry, position.price) == (20, pd.Timestamp("2020-06-19"), 4012.0)
    assert book.costs_usd["futures_roll"] == pytest.approx(455.0)


def test_margin_call_raised_below_maintenance_and_must_be_resolved():
    book = OverlayBook(cash_usd=130_000.0)
    book.trade_futures("ES", 10, 4000.0, future=ES, expiry=EXPIRY)  # notional 2M: IM 120k, MM 100k
    assert book.check_margin("2020-01-02") is None
    book.mark_futures({"ES": 3900.0})  # -50,000
    call = book.check_margin("2020-01-03")
    assert call is not None and call.maintenance_usd == pytest.approx(0.05 * 10 * 50 * 3900)
    assert call.shortfall_usd == pytest.approx(0.06 * 10 * 50 * 3900 - book.cash_usd)
    with pytest.raises(MarginCallError):
        book.resolve_margin_call()
    book.trade_futures("ES", -5, 3900.0)  # halve the overlay: IM now 58,500 < cash
    book.resolve_margin_call()
    assert book.open_call is None and len(book.margin_calls) == 1


@settings(max_examples=40, deadline=None)
@given(moves=st.lists(st.floats(-0.08, 0.08), min_size=3, max_size=15), cash=st.floats(1e4, 3e5),
       contracts=st.integers(-40, 40))
def test_cash_never_negative_without_a_margin_call(moves, cash, contracts):
    book = OverlayBook(cash_usd=cash)
    price = 4000.0
    if contracts:
        book.trade_futures("ES", contracts, price, future=ES, expiry=EXPIRY)
    for day, move in enumerate(moves):
        price *= 1.0 + move
        book.mark_futures({"ES": price})
        call = book.check_margin(pd.Timestamp("2020-01-01") + pd.Timedelta(days=day))
        if book.cash_usd < 0:
            assert call is not None and call.cash_usd == book.cash_usd
        if call is not None:  # resolve by closing the overlay; cash may stay negative -> must raise
            held = book.futures["ES"].contracts
            if held:
                book.trade_futures("ES", -held, price)
            if book.cash_usd < 0:
                with pytest.raises(MarginCallError):
                    book.resolve_margin_call()
                return
            book.resolve_margin_call()
    assert np.isfinite(book.cash_usd)
