"""Hand-computed values of what a realization costs the engine (``TaxRules.realization_cost``)."""

import numpy as np
import pytest

from optimizer.errors import InputError
from optimizer.model import TaxRules


def test_liquidation_at_a_horizon_charges_the_rate_now_less_the_discounted_deferred_tax():
    tax = TaxRules(short_term_rate=0.40, long_term_rate=0.20, horizon_years=10, discount_rate=0.05)
    deferred = 0.20 / 1.05 ** 10                      # 0.122783...
    cost = tax.realization_cost(np.array([False, True]))
    np.testing.assert_allclose(cost, [0.40 - deferred, 0.20 - deferred], rtol=1e-12)
    # A $1,000 short-term loss harvested is worth 277.2 dollars, not 400.
    assert -1000 * cost[0] == pytest.approx(-277.2165, abs=1e-3)


def test_step_up_or_donation_charges_the_full_rate_now():
    tax = TaxRules(short_term_rate=0.40, long_term_rate=0.20, at_horizon="step_up")
    np.testing.assert_allclose(tax.realization_cost(np.array([False, True])), [0.40, 0.20])


def test_an_immediate_horizon_without_discount_leaves_only_the_rate_difference():
    tax = TaxRules(short_term_rate=0.37, long_term_rate=0.20, horizon_years=0, discount_rate=0.0)
    np.testing.assert_allclose(tax.realization_cost(np.array([False, True])), [0.17, 0.0], atol=1e-15)


def test_bad_valuation_settings_name_the_field():
    with pytest.raises(InputError, match="at_horizon"):
        TaxRules(at_horizon="never")
    with pytest.raises(InputError, match="discount_rate"):
        TaxRules(discount_rate=-0.01)
