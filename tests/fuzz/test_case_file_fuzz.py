"""Fuzz corpus, case files: mutations of a valid case, each refused with a typed error or accepted by design.

Each mutation is written as YAML (and the structural ones also as JSON), read with
:func:`optimizer.case_file.read_case` and prepared for solving with
:func:`optimizer.problem_data.prepare`, which is where cross-references (unknown assets,
overlay keys) are checked. Any exception but :class:`InputError` fails the test, as does
an error naming another field.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from fuzz_support import (Accepted, Bad, base_case, chain, check_error, drop, rename, set_, with_overlay,
                          with_restrictions)
from optimizer.case_file import read_case
from optimizer.errors import InputError
from optimizer.problem_data import prepare

ASSET_FIELDS = ("price", "asset_class", "volatility", "adv_usd", "half_spread", "commission")
LOT_FIELDS = ("lot_id", "asset", "quantity", "cost_basis", "acquired")

BAD = [
    # -- unknown keys: refused with their path (and the closest valid key in the message)
    Bad("typo-cash", rename("cash_usd", "cash"), "cash"),
    Bad("typo-restriction", chain(with_restrictions, rename("restrictions", "restriction")), "restriction"),
    Bad("typo-uper", rename("targets", "keys", "EQUITY", "upper", "uper"), "targets.keys.uper", asset="EQUITY"),
    Bad("typo-pric", rename("assets", "VTI", "price", "pric"), "assets.pric", asset="VTI"),
    Bad("typo-quantty", rename("lots", 0, "quantity", "quantty"), "lots.quantty", lot="EQ-1"),
    Bad("typo-factor", rename("risk", "factors", "factor"), "risk.factor"),
    Bad("typo-tax-rate", rename("tax", "short_term_rate", "short_rate"), "tax.short_rate"),
    Bad("typo-settings", rename("settings", "risk_aversion", "risk_aversoin"), "settings.risk_aversoin"),
    Bad("typo-nosell", set_("restrictions", {"VTI": {"nosell": True}}), "restrictions.nosell", asset="VTI"),
    Bad("typo-overlay", chain(with_overlay, rename("overlays", 0, "multiplier", "multiplyer")),
        "overlays[ES].multiplyer"),
    Bad("typo-cash-weight", rename("targets", "cash_weight", "cash_wieght"), "targets.cash_wieght"),
    Bad("unknown-top", set_("comment", "hello"), "comment"),
    Bad("integer-key-top", set_(7, 1), "7"),
    # -- required keys missing
    *[Bad(f"missing-{k}", drop(k), k) for k in ("date", "lots", "assets", "targets", "risk")],
    Bad("missing-targets.keys", drop("targets", "keys"), "targets.keys"),
    *[Bad(f"missing-assets.{f}", drop("assets", "BND", f), f"assets.{f}", asset="BND") for f in ASSET_FIELDS],
    *[Bad(f"missing-lots.{f}", drop("lots", 1, f), f"lots.{f}", lot=("EQ-2" if f != "lot_id" else "#2"))
      for f in LOT_FIELDS],
    *[Bad(f"missing-risk.{f}", drop("risk", f), f"risk.{f}")
      for f in ("factors", "factor_cov", "loadings", "specific_var")],
    Bad("missing-target-weight", drop("targets", "keys", "BONDS", "weight"), "targets.keys.weight", asset="BONDS"),
    *[Bad(f"missing-overlay-{f}", chain(with_overlay, drop("overlays", 0, f)),
          "overlays[0].name" if f == "name" else f"overlays[ES].{f}")
      for f in ("name", "multiplier", "price", "exposure")],
    # -- dates
    Bad("date-int", set_("date", 20240628), "date"),
    Bad("date-float", set_("date", 2024.5), "date"),
    Bad("date-bool", set_("date", True), "date"),
    Bad("date-text", set_("date", "yesterday"), "date"),
    Bad("date-month-13", set_("date", "2024-13-01"), "date"),
    Bad("date-list", set_("date", [2024, 6, 28]), "date"),
    Bad("date-null", set_("date", None), "date"),
    Bad("acquired-int", set_("lots", 0, "acquired", 20210301), "lots.acquired", lot="EQ-1"),
    Bad("acquired-text", set_("lots", 2, "acquired", "soon"), "lots.acquired", asset="BND", lot="BD-1"),
    Bad("acquired-after-date", set_("lots", 1, "acquired", "2024-07-01"), "lots.acquired", asset="VTI", lot="EQ-2"),
    Bad("acquired-null", set_("lots", 0, "acquired", None), "lots.acquired", lot="EQ-1"),
    Bad("loss-sale-int", set_("recent_loss_sales", {"VTI": 20240601}), "recent_loss_sales", asset="VTI"),
    # -- numbers that are text, booleans, nulls, lists
    *[Bad(f"cash-{name}", set_("cash_usd", value), "cash_usd")
      for name, value in [("text", "20000"), ("bool", True), ("null", None), ("list", [1]), ("map", {"a": 1}),
                          ("nan", float("nan")), ("inf", float("inf"))]],
    *[Bad(f"price-{name}", set_("assets", "VTI", "price", value), "assets.price", asset="VTI")
      for name, value in [("text", "265"), ("bool", True), ("null", None), ("list", [265.0])]],
    *[Bad(f"price-{name}", set_("assets", "VTI", "price", value), "prices", asset="VTI")
      for name, value in [("zero", 0), ("negative", -1.0), ("nan", float("nan")), ("inf", float("inf"))]],
    Bad("volatility-text", set_("assets", "BND", "volatility", "low"), "assets.volatility", asset="BND"),
    Bad("volatility-negative", set_("assets", "BND", "volatility", -0.01), "volatility", asset="BND"),
    Bad("adv-zero", set_("assets", "BND", "adv_usd", 0), "adv_usd", asset="BND"),
    Bad("spread-bool", set_("assets", "BND", "half_spread", False), "assets.half_spread", asset="BND"),
    Bad("commission-negative", set_("assets", "BND", "commission", -0.001), "commission", asset="BND"),
    Bad("asset-class-bool", set_("assets", "VTI", "asset_class", True), "assets.asset_class", asset="VTI"),
    Bad("asset-class-unknown-key", set_("assets", "VTI", "asset_class", "CRYPTO"), "risk.loadings", asset="VTI"),
    Bad("asset-class-twice", set_("asset_class", {"PE_FUND": "PRIVATE", "VTI": "EQUITY"}), "asset_class",
        asset="VTI"),
    Bad("quantity-text", set_("lots", 0, "quantity", "1500"), "lots.quantity", lot="EQ-1"),
    Bad("quantity-bool", set_("lots", 0, "quantity", True), "lots.quantity", lot="EQ-1"),
    Bad("quantity-zero", set_("lots", 0, "quantity", 0), "lots.quantity", asset="VTI", lot="EQ-1"),
    Bad("quantity-negative", set_("lots", 2, "quantity", -5), "lots.quantity", asset="BND", lot="BD-1"),
    Bad("quantity-nan", set_("lots", 2, "quantity", float("nan")), "lots.quantity", asset="BND", lot="BD-1"),
    Bad("basis-negative", set_("lots", 1, "cost_basis", -1.0), "lots.cost_basis", asset="VTI", lot="EQ-2"),
    Bad("basis-text", set_("lots", 1, "cost_basis", "cheap"), "lots.cost_basis", lot="EQ-2"),
    Bad("lot-id-duplicate", set_("lots", 1, "lot_id", "EQ-1"), "lots.lot_id", asset="VTI", lot="EQ-1"),
    Bad("lot-id-null", set_("lots", 1, "lot_id", None), "lots.lot_id"),
    Bad("lot-id-bool", set_("lots", 1, "lot_id", True), "lots.lot_id"),
    Bad("lot-asset-unknown", set_("lots", 2, "asset", "ZZZ"), "lots.asset", asset="ZZZ"),
    Bad("lot-asset-list", set_("lots", 2, "asset", ["BND"]), "lots.asset", lot="BD-1"),
    # -- containers of the wrong shape
    Bad("lots-mapping", set_("lots", {"EQ-1": {"asset": "VTI"}}), "lots"),
    Bad("lots-item-list", set_("lots", 0, ["EQ-1", "VTI", 1500, 180.0, "2021-03-01"]), "lots", lot="#1"),
    Bad("assets-list", set_("assets", [{"price": 1.0}]), "assets"),
    Bad("assets-empty", set_("assets", {}), "assets"),
    Bad("asset-spec-number", set_("assets", "VTI", 265.0), "assets", asset="VTI"),
    Bad("targets-list", set_("targets", [0.6, 0.4]), "targets"),
    Bad("target-keys-empty", set_("targets", "keys", {}), "targets.keys"),
    Bad("risk-text", set_("risk", "low"), "risk"),
    Bad("settings-list", set_("settings", ["soft"]), "settings"),
    Bad("tax-null", set_("tax", None), "tax"),
    Bad("untradeable-list", set_("untradeable_usd", [60000]), "untradeable_usd"),
    # -- targets
    Bad("weight-text", set_("targets", "keys", "EQUITY", "weight", "0.57"), "targets.keys.weight", asset="EQUITY"),
    Bad("weights-sum", set_("targets", "keys", "EQUITY", "weight", 0.6), "targets.weight"),
    Bad("weight-negative", chain(set_("targets", "keys", "EQUITY", "weight", -0.05),
                                 set_("targets", "keys", "EQUITY", "lower", -0.1)), "targets.weight",
        asset="EQUITY"),
    Bad("band-excludes-target", set_("targets", "keys", "BONDS", "lower", 0.4), "targets.band_lower", asset="BONDS"),
    Bad("cash-weight-text", set_("targets", "cash_weight", "1%"), "targets.cash_weight"),
    Bad("cash-weight-negative", set_("targets", "cash_weight", -0.01), "targets.cash_weight"),
    Bad("target-unknown-key", chain(set_("targets", "keys", "EQUITY", "weight", 0.52),
                                    set_("targets", "keys", "CRYPTO", {"weight": 0.05})), "risk.loadings",
        asset="CRYPTO"),
    # -- risk model
    Bad("cov-3x3", set_("risk", "factor_cov", [[0.03, 0, 0], [0, 0.004, 0], [0, 0, 0.01]]), "risk.factor_cov"),
    Bad("cov-ragged", set_("risk", "factor_cov", [[0.03, 0.0], [0.0]]), "risk.factor_cov"),
    Bad("cov-text", set_("risk", "factor_cov", 0, 1, "0"), "risk.factor_cov[0][1]"),
    Bad("cov-asymmetric", set_("risk", "factor_cov", 0, 1, 0.01), "risk.factor_cov"),
    Bad("cov-not-psd", set_("risk", "factor_cov", [[0.01, 0.05], [0.05, 0.01]]), "risk.factor_cov"),
    Bad("cov-flat", set_("risk", "factor_cov", [0.03, 0.004]), "risk.factor_cov[0]"),
    Bad("loadings-short", set_("risk", "loadings", "BONDS", [0.05]), "risk.loadings", asset="BONDS"),
    Bad("loadings-long", set_("risk", "loadings", "BONDS", [0.05, 1.0, 0.0]), "risk.loadings", asset="BONDS"),
    Bad("loadings-text", set_("risk", "loadings", "BONDS", 1, "one"), "risk.loadings[1]", asset="BONDS"),
    Bad("loadings-missing-key", drop("risk", "loadings", "BONDS"), "risk.loadings", asset="BND"),
    Bad("loadings-list", set_("risk", "loadings", [[1.0, 0.0]]), "risk.loadings"),
    Bad("factors-duplicate", set_("risk", "factors", ["EQUITY_MKT", "EQUITY_MKT"]), "risk.factors"),
    Bad("factors-text", set_("risk", "factors", "EQUITY_MKT"), "risk.factors"),
    Bad("specific-missing", drop("risk", "specific_var", "PRIVATE"), "risk.specific_var", asset="PRIVATE"),
    Bad("specific-negative", set_("risk", "specific_var", "BONDS", -0.0001), "risk.specific_var", asset="BONDS"),
    Bad("specific-text", set_("risk", "specific_var", "BONDS", "small"), "risk.specific_var", asset="BONDS"),
    # -- tax, settings
    Bad("tax-rate-above-1", set_("tax", "short_term_rate", 1.5), "tax.short_term_rate"),
    Bad("tax-rate-text", set_("tax", "short_term_rate", "0.37"), "tax.short_term_rate"),
    Bad("tax-days-fraction", set_("tax", "long_term_days", 365.5), "tax.long_term_days"),
    Bad("tax-days-bool", set_("tax", "long_term_days", True), "tax.long_term_days"),
    Bad("tax-horizon", set_("tax", "at_horizon", "never"), "tax.at_horizon"),
    Bad("tax-groups-list", set_("tax", "identical_groups", ["VTI", "ITOT"]), "tax.identical_groups"),
    Bad("bands-medium", set_("settings", "bands", "medium"), "settings.bands"),
    Bad("risk-aversion-negative", set_("settings", "risk_aversion", -1), "settings.risk_aversion"),
    Bad("risk-aversion-text", set_("settings", "risk_aversion", "10"), "settings.risk_aversion"),
    Bad("wash-sale-text", set_("settings", "wash_sale", "false"), "settings.wash_sale"),
    Bad("wash-sale-int", set_("settings", "wash_sale", 0), "settings.wash_sale"),
    Bad("solvers-string", set_("settings", "solvers", "PIQP"), "settings.solvers"),
    Bad("solvers-number", set_("settings", "solvers", [1]), "settings.solvers[0]"),
    # -- restrictions: booleans only true/false ("false", "0", "no" used to mean True)
    *[Bad(f"no-sell-{name}", set_("restrictions", {"VTI": {"no_sell": value}}), "restrictions.no_sell", asset="VTI")
      for name, value in [("text-false", "false"), ("text-0", "0"), ("text-no", "no"), ("int-0", 0), ("int-1", 1),
                          ("text-yes", "yes"), ("null", None), ("float", 1.0)]],
    Bad("no-buy-text", set_("restrictions", {"BND": {"no_buy": "true"}}), "restrictions.no_buy", asset="BND"),
    Bad("max-trade-negative", set_("restrictions", {"VTI": {"max_trade_usd": -5}}), "restrictions.max_trade_usd",
        asset="VTI"),
    Bad("max-trade-text", set_("restrictions", {"VTI": {"max_trade_usd": "1e6"}}), "restrictions.max_trade_usd",
        asset="VTI"),
    Bad("restrictions-list", set_("restrictions", ["VTI"]), "restrictions"),
    Bad("restrictions-unknown-asset", set_("restrictions", {"VTl": {"no_sell": True}}), "restrictions", asset="VTl"),
    Bad("restriction-spec-bool", set_("restrictions", {"VTI": True}), "restrictions", asset="VTI"),
    # -- holdings
    Bad("untradeable-negative", set_("untradeable_usd", "PE_FUND", -1.0), "untradeable_usd", asset="PE_FUND"),
    Bad("untradeable-text", set_("untradeable_usd", "PE_FUND", "60k"), "untradeable_usd", asset="PE_FUND"),
    Bad("untradeable-also-lots", set_("untradeable_usd", {"VTI": 1000.0}), "untradeable_usd", asset="VTI"),
    Bad("overdraft-negative", set_("overdraft_usd", -1.0), "overdraft_usd"),
    Bad("cash-below-overdraft", set_("cash_usd", -50_000), "cash_usd"),
    Bad("realized-gain-text", set_("realized_gain_usd", "0"), "realized_gain_usd"),
    Bad("cash-huge-integer", set_("cash_usd", 10 ** 400), "cash_usd"),
    Bad("days-huge-integer", set_("tax", "long_term_days", 10 ** 400), "tax.long_term_days"),
    # -- overlays
    Bad("overlay-price-zero", chain(with_overlay, set_("overlays", 0, "price", 0)), "overlays[ES].price"),
    Bad("overlay-price-text", chain(with_overlay, set_("overlays", 0, "price", "5000")), "overlays[ES].price"),
    Bad("overlay-exposure-list", chain(with_overlay, set_("overlays", 0, "exposure", ["EQUITY"])),
        "overlays[ES].exposure"),
    Bad("overlay-exposure-unknown", chain(with_overlay, set_("overlays", 0, "exposure", {"CRYPTO": 1.0})),
        "overlays[ES].exposure", asset="CRYPTO"),
    Bad("overlay-contracts-text", chain(with_overlay, set_("overlays", 0, "contracts", "2")),
        "overlays[ES].contracts"),
    Bad("overlay-multiplier-negative", chain(with_overlay, set_("overlays", 0, "multiplier", -50)),
        "overlays[ES].multiplier"),
    Bad("overlay-duplicate", chain(with_overlay, lambda d: {**d, "overlays": d["overlays"] * 2}), "overlays"),
    Bad("overlays-mapping", set_("overlays", {"ES": {"multiplier": 50}}), "overlays"),
]

def _asset_renamed(d: dict, old: str, new: str) -> dict:
    d["assets"][new] = d["assets"].pop(old)
    for lot in d["lots"]:
        lot["asset"] = new if lot["asset"] == old else lot["asset"]
    return d


ACCEPTED = [
    Accepted("lot-id-integer", set_("lots", 0, "lot_id", 7),
             lambda case: case.portfolio.lots["lot_id"].iloc[0] == "7", "an integer lot id is read as its text"),
    Accepted("acquired-quoted", set_("lots", 0, "acquired", "2021-03-01"),
             lambda case: str(case.portfolio.lots["acquired"].iloc[0].date()) == "2021-03-01",
             "a date may be YAML's date or ISO text"),
    Accepted("date-with-time", set_("date", "2024-06-28T00:00:00"),
             lambda case: str(case.market.date) == "2024-06-28 00:00:00", "ISO date-time text"),
    Accepted("price-integer", set_("assets", "VTI", "price", 265),
             lambda case: case.market.prices["VTI"] == 265.0, "an integer is a number"),
    Accepted("no-sell-false", set_("restrictions", {"VTI": {"no_sell": False}}),
             lambda case: not case.restrictions.flag("no_sell", ["VTI"])[0], "false means False"),
    Accepted("no-sell-true", set_("restrictions", {"VTI": {"no_sell": True}}),
             lambda case: case.restrictions.flag("no_sell", ["VTI"])[0], "true means True"),
    Accepted("max-trade-null", set_("restrictions", {"VTI": {"max_trade_usd": None}}),
             lambda case: math.isinf(case.restrictions.size("max_trade_usd", ["VTI"])[0]), "null is unlimited"),
    Accepted("max-trade-inf", set_("restrictions", {"VTI": {"max_trade_usd": float("inf")}}),
             lambda case: math.isinf(case.restrictions.size("max_trade_usd", ["VTI"])[0]), ".inf is unlimited"),
    Accepted("no-lots", set_("lots", []), lambda case: len(case.portfolio.lots) == 0, "an all-cash account"),
    Accepted("no-tax", drop("tax"), lambda case: case.tax.short_term_rate == 0.37, "tax defaults to TaxRules()"),
    Accepted("no-settings", drop("settings"), lambda case: case.settings.bands == "soft", "Settings() defaults"),
    Accepted("no-bands", chain(drop("targets", "keys", "BONDS", "lower"), drop("targets", "keys", "BONDS", "upper")),
             lambda case: case.targets.band_lower["BONDS"] == case.targets.band_upper["BONDS"] == 0.37,
             "a target without lower/upper has a zero-width band at the target (documented)"),
    Accepted("cash-in-overdraft", chain(set_("cash_usd", -500), set_("overdraft_usd", 1000)),
             lambda case: case.portfolio.cash_usd == -500.0, "negative cash within the overdraft"),
    Accepted("asset-named-NO", lambda d: _asset_renamed(d, "BND", "NO") | {"restrictions": {"NO": {"no_buy": True}}},
             lambda case: list(case.restrictions.table.index) == ["NO"] and "NO" in case.market.assets,
             "YAML 1.1 would read the key NO as False; names stay names"),
    Accepted("solvers-null", set_("settings", "solvers", None), lambda case: case.settings.solvers is None,
             "null is the default solver chain"),
    Accepted("loss-sale-unknown-asset", set_("recent_loss_sales", {"ITOT": "2024-06-01"}),
             lambda case: case.portfolio.recent_loss_sales["ITOT"] == pd.Timestamp("2024-06-01"),
             "a loss sale of an asset no longer in the snapshot still counts for its wash-sale group"),
    Accepted("target-key-without-assets", chain(set_("targets", "keys", "EQUITY", "weight", 0.52),
                                                set_("targets", "keys", "GOLD", {"weight": 0.05}),
                                                set_("risk", "loadings", "GOLD", [0.1, 0.0]),
                                                set_("risk", "specific_var", "GOLD", 0.02)),
             lambda case: case.targets.weight["GOLD"] == 0.05,
             "a target no asset maps to stays a target (it shows as tracking error)"),
    Accepted("risk-key-unused", chain(set_("risk", "loadings", "GOLD", [0.1, 0.0]), set_("risk", "specific_var", "GOLD", 0.02)),
             lambda case: "GOLD" in case.market.risk.keys, "a risk model may cover more keys than the case uses"),
    Accepted("realized-gain-null", set_("realized_gain_usd", None),
             lambda case: case.portfolio.realized_gain_usd is None, "null means unknown"),
]


def _write(tmp_path, data, fmt: str):
    path = tmp_path / f"case.{fmt}"
    if fmt == "json":
        path.write_text(json.dumps(data, default=str))
    else:
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _read_and_prepare(path):
    case = read_case(path)
    prepare(case.portfolio, case.targets, case.market, case.settings, **case.options())
    return case


def test_the_base_case_is_valid(tmp_path):
    for fmt in ("yaml", "json"):
        _read_and_prepare(_write(tmp_path, base_case(), fmt))


@pytest.mark.parametrize("bad", BAD, ids=[b.id for b in BAD])
def test_bad_case_file_is_refused_with_the_field_named(bad, tmp_path):
    data = bad.mutate(base_case())
    with pytest.raises(Exception) as caught:
        _read_and_prepare(_write(tmp_path, data, "yaml"))
    check_error(caught.value, bad)


@pytest.mark.parametrize("bad", [b for b in BAD if not b.id.startswith(("cash-nan", "cash-inf", "price-nan",
                                                                          "price-inf", "quantity-nan",
                                                                          "integer-key", "date-"))][::4],
                         ids=lambda b: b.id)
def test_the_same_mutation_in_json_gives_the_same_error(bad, tmp_path):
    data = bad.mutate(base_case())
    with pytest.raises(Exception) as caught:
        _read_and_prepare(_write(tmp_path, data, "json"))
    check_error(caught.value, bad)


@pytest.mark.parametrize("ok", ACCEPTED, ids=[a.id for a in ACCEPTED])
def test_accepted_by_design_and_read_as_documented(ok, tmp_path):
    case = _read_and_prepare(_write(tmp_path, ok.mutate(base_case()), "yaml"))
    assert ok.meaning(case), f"{ok.id}: read, but not as documented ({ok.why})"


# -- raw text: what a mutation of the parsed dict cannot express

def _base_text() -> str:
    from fuzz_support import BASE_CASE_FILE

    return BASE_CASE_FILE.read_text()


def _laughs() -> str:
    """YAML aliases that would expand to 10**9 strings if anything walked them (nothing does)."""
    rows = ['  l0: &l0 [' + ", ".join(['"x"'] * 10) + "]"]
    rows += [f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 9)]
    return "laughs:\n" + "\n".join(rows) + "\n"


RAW = [
    ("dup-top-key", "yaml", lambda t: t + "cash_usd: 0\n", "cash_usd"),
    ("dup-nested-key", "yaml", lambda t: t.replace("{price: 72.0,", "{price: 72.0, price: 7.2,"), "price"),
    ("dup-json-key", "json", lambda t: '{"date": "2024-06-28", "date": "2024-06-29"}', "date"),
    ("json-nan", "json", lambda t: '{"date": NaN}', "case"),
    ("json-infinity", "json", lambda t: '{"cash_usd": Infinity}', "case"),
    ("yaml-deep-50k", "yaml", lambda t: "a: " + "[" * 50_000 + "]" * 50_000 + "\n", "case"),
    ("json-deep-50k", "json", lambda t: "[" * 50_000 + "]" * 50_000, "case"),
    ("yaml-deep-map-50k", "yaml", lambda t: "{a: " * 50_000 + "1" + "}" * 50_000, "case"),
    ("yaml-syntax", "yaml", lambda t: t + "assets: [unclosed\n", "case"),
    ("json-syntax", "json", lambda t: '{"date": ', "case"),
    ("empty-file", "yaml", lambda t: "", "case"),
    ("top-level-list", "yaml", lambda t: "- 1\n- 2\n", "case"),
    ("top-level-scalar", "json", lambda t: "42", "case"),
    ("yaml-no-unquoted", "yaml", lambda t: t + "restrictions: {VTI: {no_sell: no}}\n", "restrictions.no_sell"),
    ("yaml-off-unquoted", "yaml", lambda t: t + "restrictions: {VTI: {no_buy: off}}\n", "restrictions.no_buy"),
    ("yaml-python-tag", "yaml", lambda t: t + "evil: !!python/object/apply:os.system ['true']\n", "case"),
    ("billion-laughs", "yaml", lambda t: t + _laughs(), "laughs"),
    ("date-compact-int", "yaml", lambda t: t.replace("date: 2024-06-28", "date: 20240628"), "date"),
]


@pytest.mark.parametrize("name, fmt, edit, field", RAW, ids=[r[0] for r in RAW])
def test_raw_text_is_refused_with_a_typed_error(name, fmt, edit, field, tmp_path):
    path = tmp_path / f"case.{fmt}"
    path.write_text(edit(_base_text()))
    with pytest.raises(Exception) as caught:
        _read_and_prepare(path)
    check_error(caught.value, Bad(name, None, field))


def test_binary_garbage_is_refused(tmp_path):
    path = tmp_path / "case.yaml"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(InputError) as caught:
        read_case(path)
    assert caught.value.field == "case"


@pytest.mark.parametrize("name", ["folder", "missing", "suffix"])
def test_a_path_that_is_no_case_file(name, tmp_path):
    path = {"folder": tmp_path, "missing": tmp_path / "nope.yaml", "suffix": tmp_path / "case.txt"}[name]
    if name == "suffix":
        path.write_text(_base_text())
    with pytest.raises(InputError) as caught:
        read_case(path)
    assert caught.value.field == "case"


def test_the_corpus_is_large_and_names_are_unique():
    ids = [b.id for b in BAD] + [a.id for a in ACCEPTED] + [r[0] for r in RAW]
    assert len(ids) == len(set(ids))
    assert len(BAD) + len(RAW) >= 120


def test_unknown_key_message_offers_the_closest_valid_key(tmp_path):
    with pytest.raises(InputError) as caught:
        _read_and_prepare(_write(tmp_path, rename("targets", "keys", "EQUITY", "upper", "uper")(base_case()), "yaml"))
    assert "did you mean 'upper'" in str(caught.value)
    with pytest.raises(InputError) as caught:
        _read_and_prepare(_write(tmp_path, rename("cash_usd", "cash")(base_case()), "yaml"))
    assert "did you mean 'cash_usd'" in str(caught.value)


def test_a_restriction_read_from_a_file_has_the_meaning_written(tmp_path):
    """The old astype(bool) read "false" as True; now a flag is exactly what the file says."""
    for value in (True, False):
        case = _read_and_prepare(_write(tmp_path, set_("restrictions", {"VTI": {"no_sell": value}})(base_case()),
                                        "yaml"))
        assert bool(case.restrictions.flag("no_sell", ["VTI"])[0]) is value
    assert np.isinf(case.restrictions.size("max_trade_usd", ["VTI"])[0])


def test_an_unquoted_NO_is_a_name_not_false(tmp_path):
    """YAML 1.1 reads the unquoted key ``NO`` (Norway, or a ticker) as False; here it stays the name."""
    path = tmp_path / "case.yaml"
    path.write_text(_base_text().replace("BND", "NO") + "restrictions: {NO: {no_buy: true}}\n")
    case = _read_and_prepare(path)
    assert "NO" in case.market.assets and bool(case.restrictions.flag("no_buy", ["NO"])[0])
