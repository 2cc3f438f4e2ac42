"""Fuzz corpus, Python API: bad values handed straight to the input classes and to ``rebalance``.

Each entry builds the inputs of a valid three-asset decision with one keyword replaced
and expects an :class:`InputError` naming the field (and the asset / lot where there is
one). ``pd.Series({"A": "10"}).astype(float)`` used to read text as numbers, and
``pd.Timestamp(20240628)`` a number as a date in 1970: both are refused now.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fuzz_support import ANY, Bad, check_error
from optimizer import (Case, Market, OverlayInstrument, Portfolio, Restrictions, RiskModel, Settings, Targets,
                       TaxRules, rebalance)

DATE = pd.Timestamp("2024-06-28")
ASSETS = ["AAA", "BBB", "CCC"]


def lots(**column):
    frame = pd.DataFrame({"lot_id": ["L1", "L2", "L3"], "asset": ASSETS, "quantity": [100.0, 50.0, 200.0],
                          "cost_basis": [40.0, 90.0, 25.0],
                          "acquired": pd.to_datetime(["2023-01-03", "2024-01-02", "2022-05-05"])})
    for name, values in column.items():
        frame[name] = values
    return frame


def risk(**kw):
    args = {"loadings": pd.DataFrame({"F0": [1.0, 0.8, 0.5]}, index=ASSETS),
            "factor_cov": pd.DataFrame([[0.03]], index=["F0"], columns=["F0"]),
            "specific_var": pd.Series([0.02, 0.03, 0.04], index=ASSETS)}
    return RiskModel(**{**args, **kw})


def market(**kw):
    args = {"date": DATE, "prices": pd.Series({"AAA": 50.0, "BBB": 100.0, "CCC": 20.0}),
            "asset_class": pd.Series({a: a for a in ASSETS}), "risk": risk(),
            "volatility": pd.Series(0.01, index=ASSETS), "adv_usd": pd.Series(1e8, index=ASSETS),
            "half_spread": pd.Series(0.0005, index=ASSETS), "commission": pd.Series(0.0, index=ASSETS)}
    return Market(**{**args, **kw})


def portfolio(**kw):
    return Portfolio(**{"lots": lots(), "cash_usd": 1000.0, **kw})


def targets(**kw):
    weight = pd.Series({"AAA": 0.4, "BBB": 0.3, "CCC": 0.2})
    args = {"weight": weight, "band_lower": weight - 0.05, "band_upper": weight + 0.05, "cash_weight": 0.1}
    return Targets(**{**args, **kw})


def overlay(**kw):
    return OverlayInstrument(**{"name": "ES", "multiplier": 50.0, "price": 5000.0, "exposure": {"AAA": 1.0}, **kw})


def series(**values):
    return pd.Series(values, dtype=object)


API = [
    # Market
    Bad("market-date-int", lambda: market(date=20240628), "date"),
    Bad("market-date-float", lambda: market(date=2024.5), "date"),
    Bad("market-date-text", lambda: market(date="June"), "date"),
    Bad("market-date-none", lambda: market(date=None), "date"),
    Bad("market-price-text", lambda: market(prices=series(AAA="50", BBB=100.0, CCC=20.0)), "prices", asset="AAA"),
    Bad("market-price-bool", lambda: market(prices=series(AAA=50.0, BBB=True, CCC=20.0)), "prices", asset="BBB"),
    Bad("market-price-bool-dtype", lambda: market(prices=pd.Series([True, True, True], index=ASSETS)), "prices"),
    Bad("market-price-list", lambda: market(prices=[50.0, 100.0, 20.0]), "prices"),
    Bad("market-price-dict-text", lambda: market(prices={"AAA": "cheap", "BBB": 1.0, "CCC": 1.0}), "prices",
        asset="AAA"),
    Bad("market-vol-text", lambda: market(volatility=series(AAA=0.01, BBB="high", CCC=0.01)), "volatility",
        asset="BBB"),
    Bad("market-adv-missing", lambda: market(adv_usd=pd.Series({"AAA": 1e8, "BBB": 1e8})), "adv_usd", asset="CCC"),
    Bad("market-class-none", lambda: market(asset_class=series(AAA="AAA", BBB=None, CCC="CCC")), "asset_class",
        asset="BBB"),
    Bad("market-class-list", lambda: market(asset_class=["AAA", "BBB", "CCC"]), "asset_class"),
    Bad("market-risk-loading-text", lambda: market(risk=risk(loadings=pd.DataFrame({"F0": [1.0, "x", 0.5]},
                                                                                     index=ASSETS))),
        "risk.loadings[F0]", asset="BBB"),
    Bad("risk-cov-text", lambda: risk(factor_cov=pd.DataFrame([["0.03"]], index=["F0"], columns=["F0"])),
        "risk.factor_cov[F0]", asset="F0"),
    Bad("risk-cov-array", lambda: risk(factor_cov=np.array([[0.03]])), "risk.factor_cov"),
    Bad("risk-specific-text", lambda: risk(specific_var=series(AAA=0.02, BBB="0.03", CCC=0.04)),
        "risk.specific_var", asset="BBB"),
    # Portfolio
    Bad("lots-acquired-int", lambda: portfolio(lots=lots(acquired=[20230103, 20240102, 20220505])),
        "lots.acquired", asset="AAA", lot="L1"),
    Bad("lots-acquired-text", lambda: portfolio(lots=lots(acquired=["2023-01-03", "later", "2022-05-05"])),
        "lots.acquired", asset="BBB", lot="L2"),
    Bad("lots-quantity-text", lambda: portfolio(lots=lots(quantity=["100", 50.0, 200.0])), "lots.quantity",
        asset="AAA", lot="L1"),
    Bad("lots-quantity-bool", lambda: portfolio(lots=lots(quantity=[True, True, True])), "lots.quantity",
        lot="L1"),
    Bad("lots-basis-text", lambda: portfolio(lots=lots(cost_basis=[40.0, 90.0, "n/a"])), "lots.cost_basis",
        lot="L3"),
    Bad("lots-id-none", lambda: portfolio(lots=lots(lot_id=["L1", None, "L3"])), "lots.lot_id", asset="BBB"),
    Bad("lots-asset-nan", lambda: portfolio(lots=lots(asset=["AAA", np.nan, "CCC"])), "lots.asset", lot="L2"),
    Bad("lots-list", lambda: portfolio(lots=[("L1", "AAA", 1.0, 1.0, DATE)]), "lots"),
    Bad("lots-missing-column", lambda: portfolio(lots=lots().drop(columns="acquired")), "lots"),
    Bad("cash-text", lambda: portfolio(cash_usd="1000"), "cash_usd"),
    Bad("cash-bool", lambda: portfolio(cash_usd=True), "cash_usd"),
    Bad("cash-none", lambda: portfolio(cash_usd=None), "cash_usd"),
    Bad("untradeable-text", lambda: portfolio(untradeable_usd=series(PE="1e6")), "untradeable_usd", asset="PE"),
    Bad("loss-sales-int", lambda: portfolio(recent_loss_sales={"AAA": 20240601}), "recent_loss_sales", asset="AAA"),
    Bad("loss-sales-text", lambda: portfolio(recent_loss_sales={"AAA": "last week"}), "recent_loss_sales",
        asset="AAA"),
    Bad("realized-gain-text", lambda: portfolio(realized_gain_usd="0"), "realized_gain_usd"),
    # Targets
    Bad("targets-weight-text", lambda: targets(weight=series(AAA="0.4", BBB=0.3, CCC=0.2)), "targets.weight",
        asset="AAA"),
    Bad("targets-cash-bool", lambda: targets(cash_weight=True), "targets.cash_weight"),
    Bad("targets-weight-list", lambda: targets(weight=[0.4, 0.3, 0.2]), "targets.weight"),
    Bad("targets-width-text", lambda: Targets.absolute(pd.Series({"AAA": 0.5, "BBB": 0.5}), "0.05"), "targets.width"),
    Bad("targets-fraction-bool", lambda: Targets.relative(pd.Series({"AAA": 0.5, "BBB": 0.5}), True),
        "targets.fraction"),
    # Restrictions: only true/false
    *[Bad(f"restrictions-{name}", lambda v=value: Restrictions(pd.DataFrame({"no_sell": [v]}, index=["AAA"])),
          "restrictions.no_sell", asset="AAA")
      for name, value in [("text-false", "false"), ("text-0", "0"), ("text-no", "no"), ("int-1", 1), ("int-0", 0)]],
    Bad("restrictions-unknown-column", lambda: Restrictions(pd.DataFrame({"nosell": [True]}, index=["AAA"])),
        "restrictions.nosell"),
    Bad("restrictions-size-text", lambda: Restrictions(pd.DataFrame({"max_trade_usd": ["1e6"]}, index=["AAA"])),
        "restrictions.max_trade_usd", asset="AAA"),
    Bad("restrictions-dict", lambda: Restrictions({"AAA": {"no_sell": True}}), "restrictions"),
    # Settings, TaxRules, OverlayInstrument
    Bad("settings-wash-text", lambda: Settings(wash_sale="false"), "settings.wash_sale"),
    Bad("settings-aversion-text", lambda: Settings(risk_aversion="10"), "settings.risk_aversion"),
    Bad("settings-aversion-bool", lambda: Settings(risk_aversion=True), "settings.risk_aversion"),
    Bad("settings-solvers-string", lambda: Settings(solvers="PIQP"), "settings.solvers"),
    Bad("settings-solvers-none-item", lambda: Settings(solvers=(None,)), "settings.solvers"),
    Bad("settings-bands-list", lambda: Settings(bands=["soft"]), "settings.bands"),
    Bad("tax-days-fraction", lambda: TaxRules(long_term_days=365.5), "tax.long_term_days"),
    Bad("tax-rate-text", lambda: TaxRules(short_term_rate="0.3"), "tax.short_term_rate"),
    Bad("tax-horizon-none", lambda: TaxRules(at_horizon=None), "tax.at_horizon"),
    Bad("overlay-exposure-list", lambda: overlay(exposure=["AAA"]), "overlays[ES].exposure"),
    Bad("overlay-name-none", lambda: overlay(name=None), "overlays.name"),
    Bad("overlay-max-text", lambda: overlay(max_notional_usd="1e6"), "overlays[ES].max_notional_usd"),
    Bad("overlay-price-text", lambda: overlay(price="5000"), "overlays[ES].price"),
    # the whole decision
    Bad("case-portfolio-type", lambda: Case(portfolio="p", targets=targets(), market=market()), "portfolio"),
    Bad("case-lot-after-date", lambda: Case(portfolio=portfolio(lots=lots(acquired=pd.to_datetime(
        ["2023-01-03", "2024-07-01", "2022-05-05"]))), targets=targets(), market=market()), "lots.acquired",
        asset="BBB", lot="L2"),
    Bad("rebalance-lot-after-date", lambda: rebalance(portfolio(lots=lots(acquired=pd.to_datetime(
        ["2025-01-03", "2024-01-02", "2022-05-05"]))), targets(), market(), Settings()), "lots.acquired",
        asset="AAA", lot="L1"),
    Bad("rebalance-unknown-lot-asset", lambda: rebalance(portfolio(lots=lots(asset=["AAA", "BBB", "ZZZ"])),
                                                         targets(), market(), Settings()), "lots.asset", asset="ZZZ"),
]


def test_the_base_inputs_are_valid():
    Case(portfolio=portfolio(), targets=targets(), market=market())
    overlay()
    Restrictions(pd.DataFrame({"no_sell": [True, False], "max_trade_usd": [np.nan, 1e6]}, index=["AAA", "BBB"]))


@pytest.mark.parametrize("bad", API, ids=[b.id for b in API])
def test_bad_api_input_is_refused_with_the_field_named(bad):
    with pytest.raises(Exception) as caught:
        bad.mutate()
    check_error(caught.value, bad)


def test_accepted_by_design():
    """Numpy numbers are numbers, numpy bools are flags, a missing flag is False and a missing size unlimited,
    integer dates given as datetime64 are dates, and ISO text is a date."""
    table = pd.DataFrame({"no_sell": [np.True_, None], "max_trade_usd": [np.float32(5.0), None]}, index=["AAA", "BBB"])
    rules = Restrictions(table)
    assert list(rules.flag("no_sell", ["AAA", "BBB"])) == [True, False]
    assert rules.size("max_trade_usd", ["AAA", "BBB"])[0] == 5.0 and np.isinf(rules.size("max_trade_usd", ["BBB"])[0])
    assert market(date="2024-06-28").date == DATE
    assert market(prices=pd.Series({"AAA": np.int64(50), "BBB": 100, "CCC": 20})).prices["AAA"] == 50.0
    assert Settings(risk_aversion=np.float64(3.0)).risk_aversion == 3.0
    assert ANY is not None


WRONG_TYPES = [
    Bad("rebalance-portfolio-dict", lambda: rebalance({"lots": []}, targets(), market(), Settings()), "portfolio"),
    Bad("rebalance-targets-none", lambda: rebalance(portfolio(), None, market(), Settings()), "targets"),
    Bad("rebalance-market-dict", lambda: rebalance(portfolio(), targets(), {}, Settings()), "market"),
    Bad("rebalance-settings-dict", lambda: rebalance(portfolio(), targets(), market(), {"bands": "soft"}), "settings"),
    Bad("rebalance-tax-float", lambda: rebalance(portfolio(), targets(), market(), Settings(), tax=0.3), "tax"),
    Bad("rebalance-overlays-dict-items", lambda: rebalance(portfolio(), targets(), market(), Settings(),
                                                           overlays=[{"name": "ES"}]), "overlays"),
    Bad("rebalance-overlays-number", lambda: rebalance(portfolio(), targets(), market(), Settings(), overlays=5),
        "overlays"),
    Bad("rebalance-restrictions-frame", lambda: rebalance(portfolio(), targets(), market(), Settings(),
                                                          restrictions=pd.DataFrame()), "restrictions"),
    Bad("huge-integer-cash", lambda: portfolio(cash_usd=10 ** 400), "cash_usd"),
    Bad("recent-buys-int-date", lambda: portfolio(recent_buys=pd.DataFrame(
        {"asset": ["AAA"], "lot_id": [""], "acquired": [20240601]})), "recent_buys.acquired", asset="AAA"),
]


@pytest.mark.parametrize("bad", WRONG_TYPES, ids=[b.id for b in WRONG_TYPES])
def test_wrong_types_handed_to_rebalance_are_named(bad):
    with pytest.raises(Exception) as caught:
        bad.mutate()
    check_error(caught.value, bad)
