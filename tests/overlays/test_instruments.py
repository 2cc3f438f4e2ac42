"""Contract arithmetic, calendars, conversion to the core instrument and option delta."""

import math

import pandas as pd
import pytest

from optimizer.errors import InputError
from optimizer.overlays import (Future, OptionPosition, TotalReturnSwap, black_scholes_delta, contracts_for_exposure,
                                quarterly_expiries, roll_date, third_friday, whole_contracts)


def test_25m_at_5000_times_250_is_20_contracts():
    assert contracts_for_exposure(25e6, 5000.0, 250.0) == pytest.approx(20.0)
    big_sp = Future("SP", "US_EQUITY", multiplier=250.0)
    assert big_sp.whole_contracts_for(25e6, 5000.0) == 20
    assert big_sp.whole_contracts_for(-25e6, 5000.0) == -20
    assert big_sp.notional_usd(5000.0, 20) == pytest.approx(25e6)


def test_whole_contract_rounding_is_half_away_from_zero():
    assert [whole_contracts(x) for x in (20.4, 20.5, -20.5, -0.49, 0.0)] == [20, 21, -21, 0, 0]
    with pytest.raises(InputError):
        whole_contracts(float("nan"))


def test_bond_future_maps_by_duration_ratio():
    beta = Future.duration_ratio(6.5, 8.125)
    assert beta == pytest.approx(0.8)
    ty = Future("TY", "BONDS", multiplier=1000.0, beta=beta, initial_margin=0.025, maintenance_margin=0.02)
    # $10M of 8.125-duration exposure needs 10M / (0.8 * 125 * 1000) = 100 contracts at 125.
    assert ty.contracts_for(10e6, 125.0) == pytest.approx(100.0)
    assert ty.exposure_usd(125.0, 100) == pytest.approx(10e6)
    assert ty.initial_margin_usd(125.0, -100) == pytest.approx(0.025 * 12.5e6)


def test_conversion_to_core_overlay_instrument():
    es = Future("ES", "US_EQUITY", multiplier=50.0, initial_margin=0.06, maintenance_margin=0.05,
                cost_per_contract_usd=8.25)
    inst = es.to_overlay_instrument(4000.0)
    assert inst.notional_per_contract_usd == pytest.approx(200_000.0)
    assert dict(inst.exposure) == {"US_EQUITY": 1.0}
    assert inst.initial_margin == 0.06 and inst.cost_per_contract_usd == 8.25
    swap = TotalReturnSwap("SPX_TRS", "US_EQUITY", trade_cost_bps=2.0, collateral=0.1).to_overlay_instrument()
    assert swap.notional_per_contract_usd == 1.0 and swap.cost_per_contract_usd == pytest.approx(2e-4)


def test_spec_validation_names_the_field():
    with pytest.raises(InputError, match="maintenance_margin"):
        Future("ES", "US_EQUITY", multiplier=50.0, initial_margin=0.05, maintenance_margin=0.06)
    with pytest.raises(InputError, match="reset_months"):
        TotalReturnSwap("S", "US_EQUITY", reset_months=0)


def test_quarterly_expiries_and_roll_dates():
    assert third_friday(2020, 3) == pd.Timestamp("2020-03-20")
    assert third_friday(2019, 12) == pd.Timestamp("2019-12-20")
    assert quarterly_expiries("2020-01-01", "2020-07-01") == [pd.Timestamp(d) for d in
                                                               ("2020-03-20", "2020-06-19", "2020-09-18")]
    calendar = pd.bdate_range("2020-03-02", "2020-03-31")
    assert roll_date("2020-03-20", calendar, 5) == pd.Timestamp("2020-03-13")
    assert roll_date("2020-03-20", calendar, 0) == pd.Timestamp("2020-03-20")
    es = Future("ES", "US_EQUITY", multiplier=50.0, roll_days_before_expiry=5)
    assert es.roll_dates(pd.bdate_range("2020-01-02", "2020-12-31")) == [
        pd.Timestamp(d) for d in ("2020-03-13", "2020-06-12", "2020-09-11", "2020-12-11")]


def test_swap_counterparty_clip_and_monthly_resets():
    swap = TotalReturnSwap("S", "US_EQUITY", counterparty_limit_usd=100e6, reset_months=3)
    assert swap.clip_notional(250e6) == 100e6 and swap.clip_notional(-250e6) == -100e6
    resets = swap.reset_dates(pd.bdate_range("2020-01-01", "2020-12-31"))
    assert resets == [pd.Timestamp(d) for d in ("2020-03-31", "2020-06-30", "2020-09-30", "2020-12-31")]


def test_black_scholes_delta_atm_call_known_value():
    # S = K = 100, T = 1, r = 5%, q = 0, vol 20%: d1 = 0.35, N(0.35) = 0.636831.
    assert black_scholes_delta(100, 100, 1.0, 0.05, 0.0, 0.2, "call") == pytest.approx(0.636831, abs=1e-6)
    assert black_scholes_delta(100, 100, 1.0, 0.05, 0.0, 0.2, "put") == pytest.approx(0.636831 - 1, abs=1e-6)
    # With a dividend yield: call - put = exp(-qT) (delta parity).
    call = black_scholes_delta(120, 100, 0.5, 0.03, 0.02, 0.25, "call")
    put = black_scholes_delta(120, 100, 0.5, 0.03, 0.02, 0.25, "put")
    assert call - put == pytest.approx(math.exp(-0.02 * 0.5))
    assert black_scholes_delta(120, 100, 0.0, 0.03, 0.0, 0.25, "call") == 1.0
    assert black_scholes_delta(80, 100, 0.0, 0.03, 0.0, 0.25, "call") == 0.0


def test_option_position_delta_exposure():
    written_calls = OptionPosition("SPX C", "US_EQUITY", "call", strike=100.0, expiry=pd.Timestamp("2021-01-01"),
                                   contracts=-10, multiplier=100.0)
    exposure = written_calls.delta_exposure_usd("2020-01-01", 100.0, 0.05, 0.0, 0.2)
    years = 366 / 365.25
    delta = black_scholes_delta(100.0, 100.0, years, 0.05, 0.0, 0.2)
    assert exposure == pytest.approx(-10 * 100 * 100.0 * delta)
    assert exposure < 0
