"""Bad input is refused at the boundary with an InputError that names the field, asset and lot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from case_factories import DATE, lots_frame, make_market, one_factor_risk
from optimizer import InputError, Market, Portfolio, RiskModel, Settings, Targets
from optimizer.model.portfolio import check_lots_match_positions
from optimizer.problem_data import prepare

ASSETS = ["AAA", "BBB", "CCC"]
PRICES = {"AAA": 50.0, "BBB": 100.0, "CCC": 20.0}
LOTS = [("AAA-1", "AAA", 1000.0, 40.0, 400), ("AAA-2", "AAA", 500.0, 60.0, 100),
        ("BBB-1", "BBB", 300.0, 90.0, 700), ("CCC-1", "CCC", 2000.0, 25.0, 50)]


def risk(keys=ASSETS, specific=(0.02, 0.03, 0.04)):
    return one_factor_risk(keys, [1.0] * len(keys), 0.03, list(specific))


def targets(weight=None, width=0.05, cash_weight=0.1):
    weight = weight or {"AAA": 0.4, "BBB": 0.3, "CCC": 0.2}
    return Targets.absolute(pd.Series(weight), width, cash_weight=cash_weight)


def check(error: InputError, field: str, asset: str | None, lot: str | None = None) -> None:
    assert isinstance(error, ValueError)  # InputError is also a ValueError for generic callers
    assert error.field == field
    assert error.asset == asset
    assert error.lot == lot
    if asset is not None:
        assert asset in str(error)
    assert field in str(error)


def test_the_base_inputs_are_valid():
    data = prepare(Portfolio(lots=lots_frame(LOTS), cash_usd=10_000.0), targets(), make_market(PRICES, risk()),
                   Settings())
    assert data.shape.assets == tuple(ASSETS)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 0.0, -5.0])
def test_bad_price_names_the_asset(bad):
    with pytest.raises(InputError) as caught:
        make_market({**PRICES, "BBB": bad}, risk())
    check(caught.value, "prices", "BBB")


@pytest.mark.parametrize("field", ["volatility", "half_spread", "commission", "adv_usd"])
def test_bad_market_data_names_the_asset(field):
    values = {a: 0.01 for a in ASSETS} if field != "adv_usd" else {a: 1e7 for a in ASSETS}
    values["CCC"] = np.nan
    with pytest.raises(InputError) as caught:
        make_market(PRICES, risk(), **{field: values})
    check(caught.value, field, "CCC")


def test_missing_market_data_names_the_asset():
    with pytest.raises(InputError) as caught:
        make_market(PRICES, risk(), adv_usd={"AAA": 1e7, "BBB": 1e7})
    check(caught.value, "adv_usd", "CCC")


def test_lots_that_do_not_add_up_to_the_position():
    lots = lots_frame(LOTS)
    positions = pd.Series({"AAA": 1500.0, "BBB": 310.0, "CCC": 2000.0})
    with pytest.raises(InputError) as caught:
        check_lots_match_positions(lots, positions)
    check(caught.value, "lots.quantity", "BBB")
    check_lots_match_positions(lots, positions.replace(310.0, 300.0))  # the right positions pass


def test_lots_without_a_stated_position():
    with pytest.raises(InputError) as caught:
        check_lots_match_positions(lots_frame(LOTS), pd.Series({"AAA": 1500.0, "BBB": 300.0}))
    check(caught.value, "lots.asset", "CCC")


def test_targets_not_summing_to_one():
    with pytest.raises(InputError) as caught:
        targets(cash_weight=0.2)
    check(caught.value, "targets.weight", None)
    assert "1.1" in str(caught.value)


def test_band_not_containing_the_target():
    weight = pd.Series({"AAA": 0.4, "BBB": 0.3, "CCC": 0.2})
    lower = pd.Series({"AAA": 0.35, "BBB": 0.31, "CCC": 0.15})
    upper = pd.Series({"AAA": 0.45, "BBB": 0.40, "CCC": 0.25})
    with pytest.raises(InputError) as caught:
        Targets(weight, lower, upper, cash_weight=0.1)
    check(caught.value, "targets.band_lower", "BBB")


def test_band_missing_for_a_target():
    weight = pd.Series({"AAA": 0.4, "BBB": 0.3, "CCC": 0.2})
    with pytest.raises(InputError) as caught:
        Targets(weight, weight - 0.05, (weight + 0.05).drop("CCC"), cash_weight=0.1)
    check(caught.value, "targets.band_upper", "CCC")


def test_unknown_asset_in_lots():
    lots = LOTS + [("ZZZ-1", "ZZZ", 10.0, 5.0, 100)]
    with pytest.raises(InputError) as caught:
        prepare(Portfolio(lots=lots_frame(lots), cash_usd=10_000.0), targets(), make_market(PRICES, risk()),
                Settings())
    check(caught.value, "lots.asset", "ZZZ")


def test_missing_specific_variance_for_a_key():
    with pytest.raises(InputError) as caught:
        RiskModel(loadings=pd.DataFrame({"F0": [1.0, 1.0, 1.0]}, index=ASSETS),
                  factor_cov=pd.DataFrame([[0.03]], index=["F0"], columns=["F0"]),
                  specific_var=pd.Series({"AAA": 0.02, "CCC": 0.04}))
    check(caught.value, "risk.specific_var", "BBB")


def test_no_loadings_row_for_an_asset_class():
    with pytest.raises(InputError) as caught:
        make_market(PRICES, risk(keys=["AAA", "CCC"], specific=(0.02, 0.04)))
    check(caught.value, "risk.loadings", "BBB")


def test_target_key_without_risk_data():
    """Targets on a key the risk model does not know are refused when the decision is prepared."""
    market = make_market(PRICES, risk())
    weight = {"AAA": 0.4, "BBB": 0.3, "CCC": 0.1, "DDD": 0.1}
    with pytest.raises(InputError) as caught:
        prepare(Portfolio(lots=lots_frame(LOTS), cash_usd=10_000.0), targets(weight), market, Settings())
    check(caught.value, "risk.loadings", "DDD")


def test_duplicate_lot_ids():
    lots = LOTS + [("BBB-1", "BBB", 5.0, 90.0, 30)]
    with pytest.raises(InputError) as caught:
        Portfolio(lots=lots_frame(lots))
    check(caught.value, "lots.lot_id", "BBB", "BBB-1")


def test_negative_cash_beyond_the_overdraft():
    with pytest.raises(InputError) as caught:
        Portfolio(lots=lots_frame(LOTS), cash_usd=-5_000.0, overdraft_usd=1_000.0)
    check(caught.value, "cash_usd", None)
    assert Portfolio(lots=lots_frame(LOTS), cash_usd=-500.0, overdraft_usd=1_000.0).cash_usd == -500.0


@pytest.mark.parametrize("basis", [np.nan, np.inf, -1.0])
def test_bad_cost_basis_names_the_lot(basis):
    lots = [*LOTS[:2], ("BBB-1", "BBB", 300.0, basis, 700), LOTS[3]]
    with pytest.raises(InputError) as caught:
        Portfolio(lots=lots_frame(lots))
    check(caught.value, "lots.cost_basis", "BBB", "BBB-1")


@pytest.mark.parametrize("quantity", [-10.0, 0.0, np.nan])
def test_bad_quantity_names_the_lot(quantity):
    lots = [LOTS[0], ("AAA-2", "AAA", quantity, 60.0, 100), *LOTS[2:]]
    with pytest.raises(InputError) as caught:
        Portfolio(lots=lots_frame(lots))
    check(caught.value, "lots.quantity", "AAA", "AAA-2")


def test_bad_acquisition_date_names_the_lot():
    lots = lots_frame(LOTS)
    lots["acquired"] = lots["acquired"].astype(object)
    lots.loc[3, "acquired"] = "not a date"
    with pytest.raises(InputError) as caught:
        Portfolio(lots=lots)
    check(caught.value, "lots.acquired", "CCC", "CCC-1")


def test_untradeable_asset_also_in_lots():
    with pytest.raises(InputError) as caught:
        Portfolio(lots=lots_frame(LOTS), untradeable_usd=pd.Series({"CCC": 1e5}))
    check(caught.value, "untradeable_usd", "CCC")


def test_withdrawal_larger_than_the_book():
    portfolio = Portfolio(lots=lots_frame(LOTS), cash_usd=10_000.0)
    nav = portfolio.nav_usd(pd.Series(PRICES))
    with pytest.raises(InputError) as caught:
        prepare(portfolio, targets(), make_market(PRICES, risk()), Settings(cash_flow_usd=-2 * nav))
    check(caught.value, "cash_flow_usd", None)


def test_asset_without_an_exposure_key():
    market = make_market(PRICES, risk())
    with pytest.raises(InputError) as caught:
        Market(date=DATE, prices=market.prices, asset_class=market.asset_class.drop("AAA"), risk=market.risk,
               volatility=market.volatility, adv_usd=market.adv_usd, half_spread=market.half_spread,
               commission=market.commission)
    check(caught.value, "asset_class", "AAA")
