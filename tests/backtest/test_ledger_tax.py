"""US-style tax netting of the ledger against hand-computed numbers (TaxRules defaults:
short 37%, long 20%, 3000 dollars a year of ordinary-income offset)."""

import numpy as np
import pytest

from optimizer.backtest import Ledger, net_tax
from optimizer.errors import InputError
from optimizer.model import TaxRules

TAX = TaxRules()


def outcome(*args, **kwargs) -> tuple[float, float, float, float]:
    return tuple(net_tax(*args, **kwargs))


def test_short_gain_net_of_long_loss_taxed_short():
    assert outcome(10_000.0, -4_000.0, TAX) == pytest.approx((0.37 * 6_000, 0.0, 0.0, 0.0))


def test_net_loss_below_the_cap_is_all_offset_against_ordinary_income():
    # ST -5k, LT +2k -> net -3k short: all of it offsets, saving 0.37 * 3k, nothing carried
    assert outcome(-5_000.0, 2_000.0, TAX) == pytest.approx((-0.37 * 3_000, 0.0, 0.0, 3_000.0))


def test_large_short_loss_offsets_3000_and_carries_the_rest_as_short():
    assert outcome(-20_000.0, 0.0, TAX) == pytest.approx((-0.37 * 3_000, 17_000.0, 0.0, 3_000.0))


def test_short_carry_crosses_to_long_gains_next_year():
    # next year: LT +20k against a 17k short carry -> 3k taxed at the long rate
    assert outcome(0.0, 20_000.0, TAX, carry_short=17_000.0) == pytest.approx((0.20 * 3_000, 0.0, 0.0, 0.0))


def test_long_loss_carries_as_long():
    assert outcome(0.0, -10_000.0, TAX) == pytest.approx((-0.37 * 3_000, 0.0, 7_000.0, 3_000.0))


def test_offset_uses_short_loss_first_then_long():
    # ST -2k, LT -5k: the 3k offset takes all 2k short and 1k long; 4k long carried
    assert outcome(-2_000.0, -5_000.0, TAX) == pytest.approx((-0.37 * 3_000, 0.0, 4_000.0, 3_000.0))


def test_long_carry_meets_long_gains_then_short():
    # carry long 5k: LT +1k - 5k = -4k, then against ST +8k -> 4k short taxed at 37%
    assert outcome(8_000.0, 1_000.0, TAX, carry_long=5_000.0) == pytest.approx((0.37 * 4_000, 0.0, 0.0, 0.0))


def test_larger_long_loss_keeps_long_character_after_crossing():
    # ST +1k, LT -6k -> net -5k long: offset 3k, 2k carried long
    assert outcome(1_000.0, -6_000.0, TAX) == pytest.approx((-0.37 * 3_000, 0.0, 2_000.0, 3_000.0))


def test_both_carries_and_gains():
    # ST 500 - 1k carry = -500; LT 3k - 1k carry = 2k; net 1.5k long
    assert outcome(500.0, 3_000.0, TAX, carry_short=1_000.0, carry_long=1_000.0) == pytest.approx(
        (0.20 * 1_500, 0.0, 0.0, 0.0))


def test_zero_cap_carries_everything_and_credits_nothing():
    rules = TaxRules(ordinary_offset_usd=0.0)
    assert outcome(-5_000.0, 0.0, rules) == pytest.approx((0.0, 5_000.0, 0.0, 0.0))


def test_bad_inputs_raise_typed_errors():
    with pytest.raises(InputError, match="carry_short"):
        net_tax(0.0, 0.0, TAX, carry_short=-1.0)
    with pytest.raises(InputError, match="ordinary_offset_usd"):
        TaxRules(ordinary_offset_usd=-1.0)


def loss_then_gain_ledger() -> Ledger:
    """Lot L0 100 sh @ 100 and lot L1 200 sh @ 200, both bought 2020-01-02."""
    ledger = Ledger(["A"], TAX, "hifo")
    ledger.buy(0, 100.0, 100.0, "2020-01-02")
    ledger.buy(0, 200.0, 200.0, "2020-01-02")
    ledger.cash_usd = 10_000.0
    return ledger


def test_ledger_credits_the_offset_and_carries_into_next_year():
    ledger = loss_then_gain_ledger()
    ledger.sell(0, 200.0, 100.0, "2020-06-01")                 # L1: ST loss 20k
    assert ledger.settle_tax() == pytest.approx(-1_110.0)       # credited 0.37 * 3k
    assert ledger.cash_usd == pytest.approx(11_110.0)
    ledger.sell(0, 100.0, 300.0, "2021-03-01")                 # L0: LT gain 20k; closes 2020
    assert (ledger.carry_short_usd, ledger.carry_long_usd) == pytest.approx((17_000.0, 0.0))
    assert ledger.settle_tax() == pytest.approx(0.20 * 3_000)
    assert ledger.tax_paid_usd == pytest.approx(-1_110.0 + 600.0)


def test_settling_often_grants_the_offset_once_per_year():
    ledger = loss_then_gain_ledger()
    ledger.sell(0, 50.0, 100.0, "2020-03-02")                  # ST loss 5k
    assert ledger.settle_tax() == pytest.approx(-1_110.0)
    ledger.sell(0, 50.0, 100.0, "2020-04-01")                  # another ST loss 5k
    assert ledger.settle_tax() == pytest.approx(0.0)
    ledger.sell(0, 100.0, 300.0, "2020-05-01")                 # L1 left: ST gain 10k; year net 0
    assert ledger.settle_tax() == pytest.approx(1_110.0)         # the credit is reversed
    assert ledger.tax_paid_usd == pytest.approx(0.0)


def test_liquidation_nets_year_realized_unrealized_and_carry():
    ledger = loss_then_gain_ledger()
    ledger.sell(0, 200.0, 100.0, "2020-06-01")                 # ST loss 20k in 2020, not settled
    prices = np.array([300.0])
    # same year: realized -20k short, unrealized +20k short -> 0
    assert ledger.liquidation_tax_usd(prices, "2020-12-31") == pytest.approx(0.0)
    # next year: 2020 closes (credit 1110 still due), 17k short carry meets the 20k LT gain
    assert ledger.liquidation_tax_usd(prices, "2021-03-01") == pytest.approx(-1_110.0 + 0.20 * 3_000)
    ledger.settle_tax()
    assert ledger.liquidation_tax_usd(prices, "2021-03-01") == pytest.approx(0.20 * 3_000)
    # a liquidation at a net loss is credited
    assert ledger.liquidation_tax_usd(np.array([50.0]), "2021-03-01") == pytest.approx(-0.37 * 3_000)
