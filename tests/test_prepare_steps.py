"""Each named step of ``prepare`` (optimizer/problem_data.py) tested alone, against oracles
written here: hand-computed tiny cases (two to five assets, a few lots), the dense
covariance of the risk model, and a plain per-slot loop for the wash-sale window.

Steps: ``check_types``, ``align`` (every ``InputError`` it raises, with field and asset),
``lots_to_slots``, ``lot_taxes``, ``trade_bounds``, ``trade_costs``, ``risk_arrays``,
``overlay_arrays`` and the private ``_bought_in_window``.
Amounts are USD unless named weight (NAV fraction); ``DATE`` is the decision date.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from case_factories import DATE, lots_frame, one_factor_risk
from optimizer.errors import InputError
from optimizer.model import (Market, OverlayInstrument, Portfolio, Restrictions, RiskModel, Settings, Targets,
                             TaxRules)
from optimizer.problem_data import (UNLIMITED, LotSlots, _bought_in_window, align, check_types, lot_taxes,
                                    lots_to_slots, overlay_arrays, prepare, risk_arrays, trade_bounds, trade_costs)

PROPERTY = hsettings(max_examples=100, deadline=None, derandomize=True, database=None)
NS = "datetime64[ns]"


# ----------------------------------------------------------------------------- builders


def market(prices: dict[str, float], *, classes: dict[str, str] | None = None, keys: list[str] | None = None,
           risk: RiskModel | None = None, volatility=0.01, adv_usd=1e9, half_spread=0.0, commission=0.0) -> Market:
    """A snapshot on ``DATE``; each asset its own key unless ``classes`` says otherwise;
    a one-factor risk model on ``keys`` (default: the classes' keys)."""
    classes = classes or {a: a for a in prices}
    keys = keys or sorted(set(classes.values()))
    risk = risk or one_factor_risk(keys, [1.0] * len(keys), 0.04, [0.01] * len(keys))

    def per_asset(value):
        return pd.Series(value if isinstance(value, dict) else {a: float(value) for a in prices}, dtype=float)

    return Market(date=DATE, prices=pd.Series(prices, dtype=float), asset_class=pd.Series(classes), risk=risk,
                  volatility=per_asset(volatility), adv_usd=per_asset(adv_usd),
                  half_spread=per_asset(half_spread), commission=per_asset(commission))


def targets(keys: list[str]) -> Targets:
    """Equal targets on ``keys`` with wide bands."""
    weight = pd.Series({k: 1.0 / len(keys) for k in keys})
    return Targets.absolute(weight, 1.0)


def portfolio(lots=(), **options) -> Portfolio:
    """Lots from ``(lot_id, asset, quantity, basis_per_share, days_held)`` rows."""
    return Portfolio(lots=lots_frame(list(lots)), **options)


def layout_of(port: Portfolio, mkt: Market, keys: list[str] | None = None, overlays=(), universe=None):
    keys = keys or sorted(set(mkt.asset_class.reindex(universe or mkt.assets).dropna()) |
                          {str(k) for k in mkt.asset_class.reindex(list(port.untradeable_usd.index)).dropna()})
    return align(port, targets(keys), mkt, list(overlays), universe)


def raises(field: str, asset: str | None = None):
    """Context manager: an InputError naming ``field`` (and ``asset``)."""

    class Check:
        def __enter__(self):
            self.ctx = pytest.raises(InputError)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            handled = self.ctx.__exit__(*exc)
            error = self.info.value
            assert error.field == field, f"field {error.field!r} != {field!r}: {error}"
            assert error.asset == asset, f"asset {error.asset!r} != {asset!r}: {error}"
            return handled

    return Check()


def ago(days: int) -> np.datetime64:
    return np.datetime64(DATE - pd.Timedelta(days=days), "ns")


# ----------------------------------------------------------------------------- step 1: check_types


def test_check_types_names_the_field_of_a_wrong_type():
    port, mkt = portfolio(), market({"A": 10.0})
    good = dict(portfolio=port, targets=targets(["A"]), market=mkt, settings=Settings(), tax=TaxRules(),
                overlays=(), restrictions=None)
    for name, wrong in (("portfolio", {"A": 1}), ("targets", pd.Series({"A": 1.0})), ("market", None),
                        ("settings", {}), ("tax", 0.3), ("restrictions", pd.DataFrame())):
        with raises(name):
            check_types(**{**good, name: wrong})
    for wrong in (None, [1.0], OverlayInstrument("ES", 50, 5000.0, {"A": 1.0}), {"ES": 1}):
        with raises("overlays"):
            check_types(**{**good, "overlays": wrong})
    es = OverlayInstrument("ES", 50, 5000.0, {"A": 1.0})
    assert check_types(**{**good, "overlays": (es,)}) == [es]
    assert check_types(**good) == []


def test_check_types_refuses_a_string_for_overlays():
    with raises("overlays"):
        check_types(portfolio(), targets(["A"]), market({"A": 10.0}), Settings(), TaxRules(), "ES", None)


# ----------------------------------------------------------------------------- step 2: align


def test_align_default_order_is_market_then_unpriced_untradeable():
    mkt = market({"B": 50.0, "A": 100.0, "H": 7.0}, classes={"B": "eq", "A": "eq", "H": "re", "PE": "alt"},
                 keys=["eq", "re", "alt"])
    port = portfolio([("a1", "A", 1, 1, 10), ("b1", "B", 1, 1, 10), ("a2", "A", 1, 1, 10)],
                     untradeable_usd=pd.Series({"PE": 1000.0, "H": 500.0}))
    layout = align(port, targets(["alt", "eq", "re"]), mkt, [], None)
    assert layout.assets == ("B", "A", "H", "PE")
    assert layout.asset_keys == ("eq", "eq", "re", "alt")
    assert layout.keys == ("alt", "eq", "re")                       # the targets' order
    np.testing.assert_array_equal(layout.at_market, [0, 1, 2, -1])
    np.testing.assert_array_equal(layout.tradeable, [True, True, False, False])   # H priced but untradeable
    np.testing.assert_array_equal(layout.untradeable_at, [3, 2])   # PE, H (the portfolio's order)
    np.testing.assert_array_equal(layout.lot_asset, [1, 0, 1])
    np.testing.assert_array_equal(layout.price, [50.0, 100.0, 7.0, 1.0])


def test_align_explicit_universe_fixes_the_order():
    mkt = market({"A": 100.0, "B": 50.0, "C": 20.0}, classes={"A": "A", "B": "B", "C": "C", "X": "C"})
    port = portfolio([("c1", "C", 1, 1, 10), ("a1", "A", 1, 1, 10)])
    layout = align(port, targets(["A", "B", "C"]), mkt, [], ["X", "C", "A"])   # X: known class, no price
    assert layout.assets == ("X", "C", "A")
    assert layout.asset_keys == ("C", "C", "A")
    np.testing.assert_array_equal(layout.lot_asset, [1, 2])
    np.testing.assert_array_equal(layout.at_market, [-1, 2, 0])
    np.testing.assert_array_equal(layout.tradeable, [False, True, True])
    np.testing.assert_array_equal(layout.price, [1.0, 20.0, 100.0])
    np.testing.assert_array_equal(layout.market_values(pd.Series([1.0, 2.0, 3.0], index=["A", "B", "C"]), -9.0),
                                  [-9.0, 3.0, 1.0])


def test_align_unpriced_lot():
    mkt = market({"A": 100.0})
    port = portfolio([("a1", "A", 1, 1, 10), ("z1", "Z", 1, 1, 10), ("y1", "Y", 1, 1, 10)])
    with raises("lots.asset", "Y"):                                 # the first by name
        align(port, targets(["A"]), mkt, [], None)


def test_align_lot_outside_universe():
    mkt = market({"A": 100.0, "B": 50.0})
    port = portfolio([("a1", "A", 1, 1, 10), ("b1", "B", 1, 1, 10)])
    with raises("lots.asset", "B"):
        align(port, targets(["A", "B"]), mkt, [], ["A"])


def test_align_untradeable_outside_universe():
    mkt = market({"A": 100.0}, classes={"A": "A", "PE": "A"})
    port = portfolio([("a1", "A", 1, 1, 10)], untradeable_usd=pd.Series({"PE": 1000.0}))
    with raises("untradeable_usd", "PE"):
        align(port, targets(["A"]), mkt, [], ["A"])


def test_align_duplicate_universe():
    mkt = market({"A": 100.0, "B": 50.0})
    with raises("universe"):
        align(portfolio(), targets(["A", "B"]), mkt, [], ["A", "B", "A"])


def test_align_missing_asset_class():
    mkt = market({"A": 100.0})
    with raises("asset_class", "X"):                                # X: in the universe, no class
        align(portfolio(), targets(["A"]), mkt, [], ["A", "X"])
    port = portfolio(untradeable_usd=pd.Series({"PE": 10.0}))       # default universe adds PE
    with raises("asset_class", "PE"):
        align(port, targets(["A"]), mkt, [], None)


def test_align_untargeted_key():
    mkt = market({"A": 100.0, "B": 50.0, "C": 20.0}, classes={"A": "eq", "B": "bond", "C": "eq"})
    with raises("targets.weight", "B"):
        align(portfolio(), targets(["eq"]), mkt, [], None)


def test_align_missing_risk_row():
    mkt = market({"A": 100.0})
    with raises("risk.loadings", "gold"):                           # a targeted key with no risk row
        align(portfolio(), targets(["A", "gold"]), mkt, [], None)


def test_align_duplicate_overlay():
    mkt = market({"A": 100.0})
    es = OverlayInstrument("ES", 50, 5000.0, {"A": 1.0})
    with raises("overlays"):
        align(portfolio(), targets(["A"]), mkt, [es, OverlayInstrument("ES", 5, 5000.0, {"A": 1.0})], None)


def test_align_held_but_undescribed_overlay():
    mkt = market({"A": 100.0})
    es = OverlayInstrument("ES", 50, 5000.0, {"A": 1.0})
    port = portfolio(overlay_contracts=pd.Series({"ES": 1.0, "NQ": 2.0}))
    with raises("overlay_contracts", "NQ"):
        align(port, targets(["A"]), mkt, [es], None)


def test_align_overlay_maps_to_unknown_key():
    mkt = market({"A": 100.0})
    with raises("overlays[TY].exposure", "bond"):
        align(portfolio(), targets(["A"]), mkt,
              [OverlayInstrument("ES", 50, 5000.0, {"A": 1.0}), OverlayInstrument("TY", 1000, 110.0, {"bond": 1.0})],
              None)


def test_align_lot_after_the_decision_date():
    mkt = market({"A": 100.0})
    with pytest.raises(InputError) as info:
        align(portfolio([("a1", "A", 1, 1, 10), ("a2", "A", 1, 1, -1)]), targets(["A"]), mkt, [], None)
    assert (info.value.field, info.value.asset, info.value.lot) == ("lots.acquired", "A", "a2")


# ----------------------------------------------------------------------------- step 3: lots_to_slots


def three_assets():
    mkt = market({"A": 100.0, "B": 50.0, "C": 20.0}, classes={"A": "A", "B": "B", "C": "C", "PE": "C"})
    port = portfolio([("a1", "A", 1, 90, 10), ("b1", "B", 2, 40, 20), ("a2", "A", 3, 80, 30),
                      ("c1", "C", 4, 25, 40), ("a3", "A", 5, 70, 50), ("b2", "B", 6, 60, 60)],
                     untradeable_usd=pd.Series({"PE": 1000.0}))
    return port, mkt


def test_lots_to_slots_kth_lot_in_kth_slot():
    port, mkt = three_assets()
    layout = align(port, targets(["A", "B", "C"]), mkt, [], None)   # A, B, C, PE
    slots = lots_to_slots(port, layout)
    assert slots.slots == 3                                          # A holds 3 lots
    assert list(slots.lot_ids) == ["a1", "a2", "a3", "b1", "b2", "", "c1", "", "", "", "", ""]
    np.testing.assert_array_equal(slots.quantity, [1, 3, 5, 2, 6, 0, 4, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(slots.basis, [90, 80, 70, 40, 60, 0, 25, 0, 0, 0, 0, 0])
    days = [10, 30, 50, 20, 60, None, 40, None, None, None, None, None]
    expected = np.array([ago(d) if d is not None else np.datetime64("NaT") for d in days], dtype=NS)
    np.testing.assert_array_equal(slots.acquired, expected)
    np.testing.assert_array_equal(slots.occupied, [d is not None for d in days])
    np.testing.assert_allclose(slots.holding_usd, [9 * 100.0, 8 * 50.0, 4 * 20.0, 1000.0])


def test_lots_to_slots_follows_the_universe_order_and_pads():
    port, mkt = three_assets()
    layout = align(port, targets(["A", "B", "C"]), mkt, [], ["PE", "C", "B", "A"])
    slots = lots_to_slots(port, layout, lot_slots=4)
    assert list(slots.lot_ids) == ["", "", "", "", "c1", "", "", "", "b1", "b2", "", "", "a1", "a2", "a3", ""]
    np.testing.assert_allclose(slots.holding_usd, [1000.0, 80.0, 400.0, 900.0])


def test_lots_to_slots_too_few_slots_names_the_asset():
    port, mkt = three_assets()
    layout = align(port, targets(["A", "B", "C"]), mkt, [], None)
    with raises("lot_slots", "A"):
        lots_to_slots(port, layout, lot_slots=2)
    tie = portfolio([("a1", "A", 1, 1, 1), ("b1", "B", 1, 1, 1), ("a2", "A", 1, 1, 1), ("b2", "B", 1, 1, 1)])
    with pytest.raises(InputError) as info:
        lots_to_slots(tie, align(tie, targets(["A", "B", "C"]), mkt, [], None), lot_slots=1)
    assert info.value.field == "lot_slots" and info.value.asset in {"A", "B"}


def test_lots_to_slots_without_lots():
    mkt = market({"A": 100.0, "B": 50.0})
    port = portfolio()
    slots = lots_to_slots(port, align(port, targets(["A", "B"]), mkt, [], None))
    assert slots.slots == 1 and list(slots.lot_ids) == ["", ""]
    np.testing.assert_array_equal(slots.holding_usd, [0.0, 0.0])


# ----------------------------------------------------------------------------- step 4: lot_taxes


def hand_slots(rows, slots: int) -> LotSlots:
    """LotSlots from per-slot ``(lot_id, quantity, basis, days_held or None)`` rows."""
    return LotSlots(slots=slots,
                    lot_ids=np.array([r[0] for r in rows], dtype=object),
                    quantity=np.array([r[1] for r in rows], dtype=float),
                    basis=np.array([r[2] for r in rows], dtype=float),
                    acquired=np.array([ago(r[3]) if r[3] is not None else np.datetime64("NaT") for r in rows],
                                      dtype=NS),
                    holding_usd=np.zeros(len(rows) // slots))


def test_lot_taxes_by_hand_with_the_long_term_boundary():
    # asset 0 at $100: gain lots held 364, 365 (still short-term), 366 days (long-term);
    # asset 1 at $50: a loss lot held 400 days, a loss lot held 10 days, an empty slot
    lots = hand_slots([("g364", 1, 80, 364), ("g365", 1, 80, 365), ("g366", 1, 80, 366),
                       ("l400", 1, 62.5, 400), ("l10", 1, 75, 10), ("", 0, 0, None)], slots=3)
    tax = TaxRules(short_term_rate=0.4, long_term_rate=0.2, long_term_days=365, horizon_years=10,
                   discount_rate=0.05)
    got = lot_taxes(lots, np.array([100.0, 50.0]), DATE, tax)
    deferred = 0.2 * 1.05 ** -10
    gain = np.array([0.2, 0.2, 0.2, -0.25, -0.5, 0.0])
    long_term = np.array([False, False, True, True, False, False])
    rate = np.array([0.4, 0.4, 0.2, 0.2, 0.4, 0.4])
    np.testing.assert_allclose(got.gain, gain)
    np.testing.assert_array_equal(got.held_days, [364, 365, 366, 400, 10, np.inf])
    np.testing.assert_array_equal(got.long_term, long_term)
    np.testing.assert_allclose(got.tax, [0.08, 0.08, 0.04, -0.05, -0.2, 0.0])
    np.testing.assert_allclose(got.tax_cost, np.where(gain != 0, (rate - deferred) * gain, 0.0), atol=1e-15)
    np.testing.assert_array_equal(got.wait_cost, 0.0)                # wait_for_long_term off
    assert set(got.arrays()) == {"lot_long_term", "lot_tax", "lot_tax_cost", "lot_wait_cost"}


def test_lot_taxes_wait_cost_and_step_up_by_hand():
    lots = hand_slots([("g300", 1, 80, 300), ("g366", 1, 80, 366), ("l300", 1, 125, 300), ("", 0, 0, None)],
                      slots=4)
    tax = TaxRules(short_term_rate=0.4, long_term_rate=0.2, at_horizon="step_up", wait_for_long_term=True)
    got = lot_taxes(lots, np.array([100.0]), DATE, tax)
    # g300 turns long-term after 366 held days: 66 days left; saving (0.4 - 0.2) * 0.2 per dollar
    np.testing.assert_allclose(got.wait_cost, [0.04 / (66 / 365.25), 0.0, 0.0, 0.0])
    np.testing.assert_allclose(got.tax_cost, got.tax)                # step-up: nothing deferred
    np.testing.assert_allclose(got.tax, [0.08, 0.04, -0.1, 0.0])


# ----------------------------------------------------------------------------- step 5: trade_bounds


def test_trade_bounds_from_restrictions_by_hand():
    prices = {"A": 100.0, "B": 50.0, "C": 20.0, "D": 10.0, "E": 5.0}
    mkt = market(prices, classes={**{a: a for a in prices}, "PE": "E"})
    port = portfolio([("a1", "A", 100, 90, 400), ("b1", "B", 100, 40, 400), ("c1", "C", 100, 25, 400),
                      ("d1", "D", 100, 5, 400), ("d2", "D", 100, 15, 400), ("e1", "E", 100, 5, 400)],
                     cash_usd=70_000.0, untradeable_usd=pd.Series({"PE": 1500.0}))
    nav = 10_000 + 5_000 + 2_000 + 1_000 + 1_000 + 500 + 70_000 + 1_500     # 91,000
    restrictions = Restrictions(pd.DataFrame(
        {"no_trade": [True, False, False, False, False], "no_buy": [False, True, False, False, False],
         "no_sell": [False, False, True, False, False], "allow_short": [True, False, True, True, True],
         "max_trade_usd": [np.nan, np.nan, np.nan, 4550.0, 1e12], "max_short_usd": [np.nan] * 3 + [910.0, np.nan]},
        index=["A", "B", "C", "D", "E"]))
    layout = layout_of(port, mkt)
    assert layout.assets == ("A", "B", "C", "D", "E", "PE")
    lots = lots_to_slots(port, layout)
    taxes = lot_taxes(lots, layout.price, DATE, TaxRules())
    got = trade_bounds(port, layout, lots, taxes, DATE, Settings(wash_sale=False), TaxRules(), restrictions, nav)
    value = lambda usd: usd / nav                                                   # noqa: E731
    # slots (2 per asset): A a1 -; B b1 -; C c1 -; D d1 d2; E e1 -; PE - -
    np.testing.assert_allclose(got["lot_sell_max"], [0, 0, value(5000), 0, 0, 0, value(1000), value(1000),
                                                     value(500), 0, 0, 0])
    np.testing.assert_allclose(got["trade_max"], [UNLIMITED, UNLIMITED, UNLIMITED, 0.05, UNLIMITED, UNLIMITED])
    np.testing.assert_allclose(got["buy_max"], [0, 0, UNLIMITED, 0.05, UNLIMITED, 0])
    np.testing.assert_allclose(got["short_max"], [0, 0, 0, 0.01, UNLIMITED, 0])   # A no_trade, C no_sell
    assert len(set(got["wash_group"])) == 6


def test_trade_bounds_wash_sale_window_and_groups():
    prices = {"A": 100.0, "B": 100.0, "C": 100.0}
    mkt = market(prices)
    tax = TaxRules(identical_groups={"A": "sp500", "B": "sp500"})
    port = portfolio([("a_loss", "A", 10, 150, 200), ("a_gain", "A", 10, 50, 200), ("a_even", "A", 10, 100, 200),
                      ("b_new", "B", 10, 100, 5),
                      ("c_loss", "C", 10, 150, 200), ("c_new", "C", 10, 150, 31)],
                     cash_usd=5000.0, recent_loss_sales=pd.Series({"C": DATE - pd.Timedelta(days=30)}))
    nav = 6 * 1000.0 + 5000.0
    layout = layout_of(port, mkt)
    lots = lots_to_slots(port, layout)
    taxes = lot_taxes(lots, layout.price, DATE, tax)
    got = trade_bounds(port, layout, lots, taxes, DATE, Settings(wash_sale=True), tax, Restrictions(), nav)
    v = 1000.0 / nav
    # A's loss lot: its group bought b_new 5 days ago -> blocked; A's gain and even lots sell; so does b_new.
    # C bought c_new 31 days ago (outside the window) -> c_loss sells; C sold at a loss 30 days ago -> no buy.
    np.testing.assert_allclose(got["lot_sell_max"], [0, v, v, v, 0, 0, v, v, 0])
    np.testing.assert_allclose(got["buy_max"], [UNLIMITED, UNLIMITED, 0])
    assert got["wash_group"][0] == got["wash_group"][1] != got["wash_group"][2]
    off = trade_bounds(port, layout, lots, taxes, DATE, Settings(wash_sale=False), tax, Restrictions(), nav)
    np.testing.assert_allclose(off["lot_sell_max"], [v, v, v, v, 0, 0, v, v, 0])
    np.testing.assert_allclose(off["buy_max"], UNLIMITED)


# ----------------------------------------------------------------------------- step 6: trade_costs


def test_trade_costs_by_hand():
    mkt = market({"A": 100.0, "B": 50.0, "H": 10.0}, classes={"A": "A", "B": "B", "H": "B", "PE": "B"},
                 volatility={"A": 0.02, "B": 0.01, "H": 0.03}, adv_usd={"A": 1e6, "B": 4e6, "H": 1e5},
                 half_spread={"A": 0.0005, "B": 0.001, "H": 0.01}, commission={"A": 0.0001, "B": 0.0, "H": 0.02})
    port = portfolio(untradeable_usd=pd.Series({"H": 100.0, "PE": 200.0}))      # H priced but untradeable
    layout = align(port, targets(["A", "B"]), mkt, [], None)
    assert layout.assets == ("A", "B", "H", "PE")
    got = trade_costs(mkt, layout, Settings(impact_eta=0.5), 2e5)
    np.testing.assert_allclose(got["impact"], [0.5 * 0.02 / 1e6 * 2e5, 0.5 * 0.01 / 4e6 * 2e5, 0.0, 0.0])
    np.testing.assert_allclose(got["half_spread"], [0.0005, 0.001, 0.0, 0.0])
    np.testing.assert_allclose(got["commission"], [0.0001, 0.0, 0.0, 0.0])


# ----------------------------------------------------------------------------- step 7: risk_arrays


def two_factor_risk(factor_cov) -> RiskModel:
    keys = ["k1", "k2", "k3", "k4"]
    return RiskModel(
        loadings=pd.DataFrame({"f1": [1.0, 0.5, -0.3, 2.0], "f2": [0.2, -1.0, 0.7, 0.0]}, index=keys),
        factor_cov=pd.DataFrame(factor_cov, index=["f1", "f2"], columns=["f1", "f2"]),
        specific_var=pd.Series([0.01, 0.04, 0.0, 0.09], index=keys))


@pytest.mark.parametrize("factor_cov", [[[0.04, 0.01], [0.01, 0.09]], [[0.04, 0.04], [0.04, 0.04]]],
                         ids=["full-rank", "singular"])
@pytest.mark.parametrize("keys", [("k3", "k1", "k2"), ("k1", "k2", "k3", "k4"), ("k4",)])
def test_risk_arrays_reproduce_the_dense_covariance(factor_cov, keys):
    risk = two_factor_risk(factor_cov)
    root, sd = risk_arrays(risk, keys)
    assert root.shape == (2, len(keys)) and sd.shape == (len(keys),)
    dense = risk.covariance().loc[list(keys), list(keys)].to_numpy()
    np.testing.assert_allclose(root.T @ root + np.diag(sd ** 2), dense, atol=1e-14)
    np.testing.assert_allclose(sd ** 2, risk.specific_var[list(keys)].to_numpy())


# ----------------------------------------------------------------------------- step 8: overlay_arrays


def test_overlay_arrays_by_hand():
    es = OverlayInstrument("ES", multiplier=50, price=5000.0, exposure={"eq": 1.0}, initial_margin=0.06,
                           cost_per_contract_usd=2.5, max_notional_usd=1e5, holding_cost=0.001)
    ty = OverlayInstrument("TY", multiplier=1000, price=110.0, exposure={"bond": 0.8, "eq": 0.1},
                           initial_margin=0.02, cost_per_contract_usd=5.0, max_notional_usd=1e5)
    fx = OverlayInstrument("FX", multiplier=1, price=1.0, exposure={"eq": -1.0}, max_notional_usd=2e5)
    port = portfolio(overlay_contracts=pd.Series({"TY": -3.0, "ES": 2.0}))
    nav = 1e6
    got = overlay_arrays(port, ("eq", "bond", "cash_like"), [es, ty, fx], nav, Settings(overlay_gross_limit=0.5))
    np.testing.assert_allclose(got["overlay_exposure"], [[1.0, 0.1, -1.0], [0.0, 0.8, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(got["overlay0"], [0.5, -0.33, 0.0])            # 2 * 250,000; -3 * 110,000
    np.testing.assert_allclose(got["overlay_margin"], [0.06, 0.02, 0.05])
    np.testing.assert_allclose(got["overlay_cost"], [2.5 / 250_000, 5.0 / 110_000, 2.5 / 1.0])
    np.testing.assert_allclose(got["overlay_notional_usd"], [250_000, 110_000, 1.0])
    np.testing.assert_allclose(got["overlay_max"], [0.5, 0.33, 0.2])          # above their caps: keep |current|
    np.testing.assert_allclose(got["overlay_holding_cost"], [0.001, 0.0, 0.0])
    assert got["overlay_gross_limit"] == pytest.approx(0.83)                  # current gross above 0.5
    roomy = overlay_arrays(port, ("eq", "bond"), [es, ty], nav, Settings(overlay_gross_limit=2.0))
    assert roomy["overlay_gross_limit"] == 2.0


def test_overlay_arrays_without_overlays():
    got = overlay_arrays(portfolio(), ("eq",), [], 1e6, Settings(overlay_gross_limit=0.3))
    assert got["overlay_exposure"].shape == (1, 0)
    for name in ("overlay0", "overlay_margin", "overlay_cost", "overlay_notional_usd", "overlay_max",
                 "overlay_holding_cost"):
        assert got[name].shape == (0,), name
    assert got["overlay_gross_limit"] == 0.3


# ----------------------------------------------------------------------------- _bought_in_window


def blocked_by_loop(groups: list[str], slots: int, lot_ids, ages, buys, window: int, group_of) -> list[bool]:
    """Plain oracle: slot k is blocked when it holds a lot and its group bought, within
    ``[0, window]`` days before today, anything other than lot k's own id (a held lot or a
    recent buy; a buy with no lot id is never lot k)."""
    out = []
    for k, (lot, age) in enumerate(zip(lot_ids, ages)):
        group = groups[k // slots]
        if lot == "":
            out.append(False)
            continue
        others = [lot_ids[j] for j in range(len(lot_ids)) if lot_ids[j] != "" and groups[j // slots] == group
                  and ages[j] is not None and 0 <= ages[j] <= window and lot_ids[j] != lot]
        others += [i for a, i, age_b in buys
                   if group_of(a) == group and 0 <= age_b <= window and (i == "" or i != lot)]
        out.append(bool(others))
    return out


def run_bought_in_window(assets, groups_map, slots, lot_ids, ages, buys, window=30):
    tax = TaxRules(wash_sale_days=window, identical_groups=groups_map)
    group_of = lambda a: groups_map.get(a, a)                                  # noqa: E731
    groups = [group_of(a) for a in assets]
    codes = {g: i for i, g in enumerate(dict.fromkeys(groups))}
    recent = pd.DataFrame({"asset": [b[0] for b in buys], "lot_id": [b[1] for b in buys],
                           "acquired": pd.to_datetime([DATE - pd.Timedelta(days=b[2]) for b in buys])})
    port = Portfolio(lots=lots_frame([]), recent_buys=recent)
    acquired = np.array([ago(a) if a is not None else np.datetime64("NaT") for a in ages], dtype=NS)
    got = _bought_in_window(port, np.array([codes[g] for g in groups], dtype=int), codes,
                            np.array(lot_ids, dtype=object), acquired, DATE, tax)
    want = blocked_by_loop(groups, slots, lot_ids, ages, buys, window, group_of)
    return list(map(bool, got)), want


def test_bought_in_window_by_hand():
    # A and B one group; C alone. Slots of 2.
    assets, groups_map = ["A", "B", "C"], {"A": "G", "B": "G"}
    lot_ids = ["a_old", "a_new", "b_old", "", "c_old", "c_new"]
    ages = [400, 30, 400, None, 400, 31]                # a_new at the window's edge; c_new just outside
    got, want = run_bought_in_window(assets, groups_map, 2, lot_ids, ages, buys=[])
    assert want == [True, False, True, False, False, False]
    assert got == want
    # a sold lot of C bought 3 days ago (no lot id) blocks every C lot; a buy of b_old itself blocks
    # every other G lot but not b_old
    got, want = run_bought_in_window(assets, groups_map, 2, lot_ids, ages, buys=[("C", "", 3), ("B", "b_old", 0)])
    assert want == [True, True, True, False, True, True]
    assert got == want
    # buys dated tomorrow, or 31 days ago, count for nothing; one in the group but outside the universe counts
    got, want = run_bought_in_window(assets, {**groups_map, "Z": "G"}, 2, lot_ids, ages,
                                     buys=[("C", "x", -1), ("C", "y", 31)])
    assert want == [True, False, True, False, False, False]
    assert got == want
    got, want = run_bought_in_window(["A"], {"A": "G", "Z": "G"}, 1, ["a_old"], [400], buys=[("Z", "z1", 30)])
    assert want == [True]
    assert got == want


def test_bought_in_window_unnamed_buy_never_matches_a_held_lot():
    got, want = run_bought_in_window(["A"], {}, 1, ["sold A lot"], [400], buys=[("A", "", 3)])
    assert want == [True]
    assert got == want


LOT_POOL = ["a", "b", "c", "d"]


@st.composite
def window_cases(draw):
    n_assets = draw(st.integers(1, 4))
    assets = [f"S{i}" for i in range(n_assets)]
    group_names = ["G1", "G2"]
    groups_map = {a: g for a in assets + ["OUT"] if (g := draw(st.sampled_from([None] + group_names)))}
    slots = draw(st.integers(1, 3))
    window = draw(st.sampled_from([0, 1, 30]))
    edges = st.sampled_from([0, window, window + 1])                # the window's edges, often
    lot_ids, ages = [], []
    for _ in range(n_assets * slots):
        lot = draw(st.sampled_from([""] + LOT_POOL))          # ids may repeat across assets and slots
        lot_ids.append(lot)
        ages.append(draw(st.one_of(edges, st.integers(0, 400))) if lot else None)
    buys = draw(st.lists(st.tuples(st.sampled_from(assets + ["OUT"]), st.sampled_from([""] + LOT_POOL + ["z"]),
                                   st.one_of(edges, st.just(-1), st.integers(-3, 70))), max_size=5))
    return assets, groups_map, slots, lot_ids, ages, buys, window


@PROPERTY
@given(window_cases())
def test_bought_in_window_matches_a_per_slot_loop(case):
    assets, groups_map, slots, lot_ids, ages, buys, window = case
    got, want = run_bought_in_window(assets, groups_map, slots, lot_ids, ages, buys, window)
    assert got == want


# ----------------------------------------------------------------------------- the steps composed


def test_prepare_passes_each_steps_answer_through():
    """``prepare`` on a hand case: NAV and weights by hand, every step's arrays unchanged."""
    from optimizer.problem_data import prepare

    mkt = market({"A": 100.0, "B": 50.0}, classes={"A": "A", "B": "B", "PE": "B"})
    es = OverlayInstrument("ES", multiplier=50, price=5000.0, exposure={"A": 1.0})
    port = portfolio([("a1", "A", 10, 80, 400), ("b1", "B", 20, 60, 10), ("a2", "A", 5, 120, 3)], cash_usd=500.0,
                     untradeable_usd=pd.Series({"PE": 1000.0}), overlay_contracts=pd.Series({"ES": 1.0}))
    tgt, settings, tax = targets(["A", "B"]), Settings(cash_flow_usd=1000.0), TaxRules()
    restrictions = Restrictions(pd.DataFrame({"max_trade_usd": [440.0]}, index=["B"]))
    data = prepare(port, tgt, mkt, settings, tax=tax, overlays=[es], restrictions=restrictions)
    nav = 1500 + 1000 + 1000 + 500 + 1000                       # A, B, PE, cash, flow: 5,000
    assert data.nav_usd == pytest.approx(nav)
    np.testing.assert_allclose(data.weight0, [1500 / nav, 1000 / nav, 1000 / nav])
    assert data.cash0 == pytest.approx(1500 / nav)
    layout = align(port, tgt, mkt, [es], None)
    lots = lots_to_slots(port, layout)
    taxes = lot_taxes(lots, layout.price, DATE, tax)
    expected = {**taxes.arrays(), **trade_bounds(port, layout, lots, taxes, DATE, settings, tax, restrictions, nav),
                **trade_costs(mkt, layout, settings, nav), **overlay_arrays(port, layout.keys, [es], nav, settings)}
    for name, value in expected.items():
        np.testing.assert_allclose(getattr(data, name), value, err_msg=name)
    assert data.trade_max[1] == pytest.approx(440.0 / nav) and data.shape.trade_caps
    assert data.overlay0[0] == pytest.approx(250_000 / nav)
    root, sd = risk_arrays(mkt.risk, layout.keys)
    np.testing.assert_allclose(data.factor_root, root)
    np.testing.assert_allclose(data.specific_sd, sd)
    assert list(data.lot_ids) == list(lots.lot_ids) == ["a1", "a2", "b1", "", "", ""]


@pytest.mark.parametrize("bad", [0, -1, 1.7, True, "2"])
def test_lots_to_slots_refuses_a_bad_slot_count(bad):
    with raises("lot_slots"):
        prepare(portfolio(), targets(["A"]), market({"A": 10.0}), Settings(), lot_slots=bad)
