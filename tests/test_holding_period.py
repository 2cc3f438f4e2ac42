"""Holding-period awareness: a short-term lot at a gain that turns long-term soon is worth
waiting for (``TaxRules.wait_cost``), so the engine sells another lot instead."""

import numpy as np
import pytest

from case_factories import make_case, one_factor_risk
from optimizer import Rebalancer, Settings, TaxRules

NAV = 1_000_000.0


def test_wait_cost_is_the_rate_difference_per_year_of_waiting():
    tax = TaxRules(short_term_rate=0.37, long_term_rate=0.20, long_term_days=365, wait_for_long_term=True)
    gain = np.array([0.5, 0.5, 0.5, -0.2, 0.5])
    held = np.array([360.0, 265.0, 366.0, 360.0, 0.0])
    # 6 days left: 0.17 * 0.5 / (6 / 365.25); 101 days left; long-term already; a loss; bought today.
    expected = [0.085 / (6 / 365.25), 0.085 / (101 / 365.25), 0.0, 0.0, 0.085 / (366 / 365.25)]
    np.testing.assert_allclose(tax.wait_cost(gain, held), expected, rtol=1e-12)
    off = TaxRules(short_term_rate=0.37, long_term_rate=0.20, wait_for_long_term=False)
    np.testing.assert_allclose(off.wait_cost(gain, held), 0.0)


def two_equal_lots_case(wait: bool):
    """One asset held in two equal short-term lots of equal basis (a 40% gain); one turns
    long-term in 5 days, the other in 205. The book is 70% in it against a 50% target, with a
    small drift, so about 20% of NAV must be sold and both lots are equally taxed now."""
    price, basis = 100.0, 60.0
    lots = [("soon-long", "X", 3500.0, basis, 361), ("later-long", "X", 3500.0, basis, 161)]
    return make_case({"X": price}, lots, cash_usd=0.3 * NAV, target={"X": 0.5}, lower={"X": 0.0},
                     upper={"X": 0.55}, risk=one_factor_risk(["X"], [1.0], 0.03, [0.01]), half_spread=0.0005,
                     settings=Settings(risk_aversion=10.0, bands="hard", wash_sale=False),
                     tax=TaxRules(wait_for_long_term=wait))


def test_it_sells_the_lot_that_is_not_about_to_turn_long_term():
    result = Rebalancer().solve_case(two_equal_lots_case(wait=True))
    sold = result.lot_sales["proceeds_usd"].reindex(["soon-long", "later-long"]).fillna(0.0)
    assert result.trades.loc["X", "weight_after"] <= 0.55 + 1e-6
    assert sold["later-long"] >= 0.15 * NAV               # the forced sale comes from the other lot
    assert sold["soon-long"] <= 1e-6 * NAV                 # the lot 5 days from long-term is kept


def test_without_waiting_the_two_lots_are_interchangeable():
    """The same book with the rule off: both lots cost the same now, and the objective is no
    higher than with the waiting premium (the premium only adds charges)."""
    off = Rebalancer().solve_case(two_equal_lots_case(wait=False))
    on = Rebalancer().solve_case(two_equal_lots_case(wait=True))
    assert off.lot_sales["proceeds_usd"].sum() == pytest.approx(on.lot_sales["proceeds_usd"].sum(), rel=0.05)
    assert off.objective_bps <= on.objective_bps + 1e-6
