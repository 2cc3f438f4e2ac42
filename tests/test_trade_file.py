"""Executable orders: one side per row, no dust, no float noise, cash never below zero, readable files."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optimizer import solve_case
from optimizer.case_file import read_case
from optimizer.errors import InputError
from optimizer.files import write_text
from optimizer.trade_file import ORDER_COLUMNS, OrderRules, orders_cash_after, orders_csv, orders_frame

CASES = Path(__file__).resolve().parents[1] / "problems" / "cases"


@pytest.fixture(scope="module")
def three_asset():
    """The three-asset case solved in whole shares (a sell of VTI, a buy of BND)."""
    case = read_case(CASES / "three_asset.yaml")
    return case, solve_case(case, whole_units=True)


def _with(result, **changes):
    """A copy of ``result`` with its per-asset trade table edited (``asset -> {column: value}``)."""
    trades = result.trades.copy()
    for asset, values in changes.pop("rows", {}).items():
        for column, value in values.items():
            trades.loc[asset, column] = value
    return dataclasses.replace(result, trades=trades, **changes)


def test_whole_share_orders_match_the_result_exactly(three_asset):
    case, result = three_asset
    frame = orders_frame(result, "ACC1", cash_floor_usd=0.0)
    assert list(frame.columns) == list(ORDER_COLUMNS)
    orders = frame.set_index("asset")
    traded = result.to_frame()
    assert set(orders.index) == set(traded.index)
    for asset, row in traded.iterrows():
        order = orders.loc[asset]
        # hand check: side from the sign, shares are |trade| / price in whole shares, notional = shares * price
        assert order["side"] == ("buy" if row["trade_usd"] > 0 else "sell")
        assert order["shares"] == round(abs(row["trade_usd"]) / row["price"])
        assert order["notional"] == pytest.approx(order["shares"] * row["price"], abs=0.005)
        assert order["account_id"] == "ACC1" and order["currency"] == "USD"
        assert order["date"] == str(case.market.date.date())
    sold = orders[orders["side"] == "sell"]
    for asset, order in sold.iterrows():
        lots = result.lot_sales[result.lot_sales["asset"] == asset]
        assert order["lot_ids"].split(";") == list(lots.index)
        assert sum(float(s) for s in order["lot_shares"].split(";")) == pytest.approx(order["shares"])
    assert orders_cash_after(result, orders.reset_index()) >= 0


def test_noise_on_the_other_side_never_makes_a_sell_on_a_buy_row(three_asset):
    _, result = three_asset
    noisy = _with(result, rows={"BND": {"sell_usd": 2.7e-06, "trade_usd": result.trades.loc["BND", "trade_usd"]
                                        - 2.7e-06}})
    orders = orders_frame(noisy, "A").set_index("asset")
    assert orders.loc["BND", "side"] == "buy"
    assert orders.loc["BND", "lot_ids"] == ""
    assert float(orders.loc["BND", "shares"]).is_integer()  # the 2.7e-06 does not survive as a fraction


def test_dust_is_relative_to_the_account(three_asset):
    _, result = three_asset
    # a $47.87 buy of solver noise: kept on a small account, dropped on a $100bn one (dust 1e-6 of NAV)
    extra = {"VTI": {"trade_usd": 47.87, "buy_usd": 47.87, "sell_usd": 0.0}}
    small = _with(result, rows=extra, cash_after_usd=result.cash_after_usd - 47.87)
    assert "VTI" in set(orders_frame(small, "A", rules=OrderRules(min_notional_usd=1.0))["asset"])
    huge = _with(result, rows=extra, nav_usd=1e11, cash_after_usd=result.cash_after_usd - 47.87)
    assert "VTI" not in set(orders_frame(huge, "A")["asset"])
    # and a fixed minimum notional drops it whatever the NAV
    assert "VTI" not in set(orders_frame(small, "A", rules=OrderRules(min_notional_usd=100.0))["asset"])


def test_a_small_sell_the_cash_needs_is_kept_and_buys_shrink_to_keep_cash_nonnegative(three_asset):
    _, result = three_asset
    # cash after trading is -$0.07 (solver noise): the largest buy gives up one share
    short = dataclasses.replace(result, cash_after_usd=-0.07)
    orders = orders_frame(short, "A").set_index("asset")
    assert orders.loc["BND", "shares"] == round(result.trades.loc["BND", "trade_usd"] / 72.0) - 1
    assert orders_cash_after(short, orders.reset_index()) >= 0
    # a $0.50 sell below the $1 minimum is kept when dropping it would overdraw the account
    tiny_sell = _with(result, rows={"VTI": {"trade_usd": -0.5, "sell_usd": 0.5, "buy_usd": 0.0}},
                      cash_after_usd=0.2)
    kept = orders_frame(tiny_sell, "A", rules=OrderRules(min_notional_usd=1.0)).set_index("asset")
    assert kept.loc["VTI", "side"] == "sell" and kept.loc["VTI", "notional"] == pytest.approx(0.5)


def test_reasons_harvest_cash_raise_and_wash_sale_fix(three_asset):
    _, result = three_asset
    sales = result.lot_sales.copy()
    sales["gain_usd"] = -100.0
    harvest = dataclasses.replace(result, lot_sales=sales, wash_sale_fixes=[])
    assert orders_frame(harvest, "A").set_index("asset").loc["VTI", "reason"] == "harvest"
    plain = dataclasses.replace(result, wash_sale_fixes=[])
    assert orders_frame(plain, "A", cash_floor_usd=0.0).set_index("asset")["reason"].tolist() == \
        ["rebalance", "rebalance"]
    raising = orders_frame(plain, "A", cash_floor_usd=result.cash_before_usd + 1000.0).set_index("asset")
    assert raising.loc["VTI", "reason"] == "cash raise" and raising.loc["BND", "reason"] == "rebalance"
    fixed = dataclasses.replace(result, wash_sale_fixes=["BND: kept the buy, no loss lots sold"])
    assert orders_frame(fixed, "A").set_index("asset").loc["BND", "reason"] == "wash-sale fix"


def test_whole_shares_demanded_of_a_fractional_result_is_refused(three_asset):
    case, _ = three_asset
    fractional = solve_case(case)
    with pytest.raises(InputError, match="whole_units"):
        orders_frame(fractional, "A", rules=OrderRules(whole_shares=True))
    orders = orders_frame(fractional, "A")
    decimals = orders["shares"].map(lambda s: len(f"{s:.12g}".split(".")[1]) if "." in f"{s:.12g}" else 0)
    assert (decimals <= 6).all()
    assert orders_cash_after(fractional, orders) >= 0
    for bad in ({"min_notional_usd": -1.0}, {"dust_fraction": float("nan")}, {"share_decimals": 12},
                {"currency": ""}, {"min_notional_usd": True}):
        with pytest.raises(InputError):
            OrderRules(**bad)


def test_csv_has_cents_and_no_float_noise(three_asset):
    _, result = three_asset
    text = orders_csv(orders_frame(result, "A"))
    frame = pd.read_csv(pd.io.common.StringIO(text))
    assert list(frame.columns) == list(ORDER_COLUMNS)
    for line in text.splitlines()[1:]:
        notional = line.split(",")[6]
        assert len(notional.split(".")[1]) == 2
    assert np.isfinite(frame["notional"]).all()


def test_files_are_readable_by_others_and_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_text(tmp_path / "orders.csv", "a,b\n")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        os.umask(0o077)
        path = write_text(tmp_path / "private.csv", "a,b\n")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(old)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left
