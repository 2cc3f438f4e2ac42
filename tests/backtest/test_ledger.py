"""Ledger arithmetic against hand-computed numbers: lot relief, terms, tax netting."""

import numpy as np
import pandas as pd
import pytest

from optimizer.backtest import Ledger, net_tax
from optimizer.errors import InputError
from optimizer.model import TaxRules

TAX = TaxRules(short_term_rate=0.40, long_term_rate=0.20, long_term_days=365)


def two_lot_ledger(relief: str) -> Ledger:
    ledger = Ledger(["A", "B"], TAX, relief)
    ledger.buy(0, 10.0, 100.0, "2020-01-02")   # L0000000, low basis, older
    ledger.buy(0, 10.0, 120.0, "2020-06-01")   # L0000001, high basis, newer
    return ledger


def test_fifo_relieves_oldest_lot_first():
    ledger = two_lot_ledger("fifo")
    short, long = ledger.sell(0, 15.0, 130.0, "2020-09-01")
    assert short == pytest.approx(10 * 30 + 5 * 10)
    assert long == 0.0
    assert ledger.shares[0] == pytest.approx(5.0)
    assert ledger.lots_frame()["cost_basis"].tolist() == [120.0]


def test_hifo_relieves_highest_basis_first():
    ledger = two_lot_ledger("hifo")
    short, long = ledger.sell(0, 15.0, 130.0, "2020-09-01")
    assert short == pytest.approx(10 * 10 + 5 * 30)
    assert ledger.lots_frame()["cost_basis"].tolist() == [100.0]


def test_specific_lots_first_then_method():
    ledger = two_lot_ledger("hifo")
    short, _ = ledger.sell(0, 12.0, 130.0, "2020-09-01", specific={"L0000000": 4.0})
    # 4 named shares at basis 100, then 8 by HIFO at basis 120
    assert short == pytest.approx(4 * 30 + 8 * 10)
    left = ledger.lots_frame().set_index("lot_id")["quantity"]
    assert left.to_dict() == pytest.approx({"L0000000": 6.0, "L0000001": 2.0})


def test_short_and_long_term_split_by_holding_period():
    ledger = two_lot_ledger("fifo")
    # 2021-03-01: first lot held 424 days (long), second 273 days (short)
    short, long = ledger.sell(0, 20.0, 90.0, "2021-03-01")
    assert long == pytest.approx(10 * (90 - 100))
    assert short == pytest.approx(10 * (90 - 120))
    assert ledger.year_short_usd == pytest.approx(-300.0)
    assert ledger.year_long_usd == pytest.approx(-100.0)
    assert ledger.last_loss_sale["A"] == pd.Timestamp("2021-03-01")
    assert ledger.shares[0] == 0.0 and ledger.lots[0] == []


def test_overselling_raises_typed_error():
    ledger = two_lot_ledger("fifo")
    with pytest.raises(InputError, match="only 20 are held"):
        ledger.sell(0, 25.0, 130.0, "2020-09-01")
    with pytest.raises(InputError, match="does not hold"):
        ledger.sell(0, 1.0, 130.0, "2020-09-01", specific={"nope": 1.0})


def test_net_tax_offsets_and_carries_losses():
    # short loss offsets long gain, the rest taxed long-term
    assert net_tax(-100.0, 300.0, TAX) == pytest.approx((0.20 * 200, 0.0, 0.0, 0.0))
    # a net short-term loss of 400: all of it offsets ordinary income (credit at the short rate)
    assert net_tax(-500.0, 100.0, TAX) == pytest.approx((-0.40 * 400, 0.0, 0.0, 400.0))
    # a short carry meets short-term gains first
    assert net_tax(1000.0, 100.0, TAX, carry_short=400.0) == pytest.approx((0.40 * 600 + 0.20 * 100, 0, 0, 0))
    # a long carry meets long-term gains first
    assert net_tax(100.0, 1000.0, TAX, carry_long=400.0) == pytest.approx((0.40 * 100 + 0.20 * 600, 0, 0, 0))


def test_settle_tax_pays_from_cash_and_resets_period():
    ledger = two_lot_ledger("fifo")
    ledger.cash_usd = 1000.0
    ledger.sell(0, 10.0, 150.0, "2020-09-01")        # short-term gain 500
    paid = ledger.settle_tax()
    assert paid == pytest.approx(0.40 * 500)
    assert ledger.cash_usd == pytest.approx(1000.0 - 200.0)
    assert ledger.year_settled_usd == pytest.approx(200.0) and ledger.settle_tax() == 0.0


def test_liquidation_tax_on_unrealized_gains():
    ledger = two_lot_ledger("fifo")
    prices = np.array([150.0, 1.0])
    # on 2021-03-01 lot 1 is long-term (gain 500), lot 2 short-term (gain 300)
    assert ledger.liquidation_tax_usd(prices, "2021-03-01") == pytest.approx(0.20 * 500 + 0.40 * 300)
