"""Every catalog case survives writing and strict reading: nothing dropped, nothing read differently."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from optimizer.case_file import case_to_dict, read_case
from problems.catalog import CATALOG, load_case

FAST = [name for name in CATALOG if name not in ("synthetic-500", "synthetic-2000")]


@pytest.mark.parametrize("name", FAST)
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_catalog_case_round_trips(name, fmt, tmp_path):
    case = load_case(name)
    data = case_to_dict(case)
    path = tmp_path / f"case.{fmt}"
    path.write_text(json.dumps(data) if fmt == "json" else yaml.safe_dump(data, sort_keys=False))
    back = read_case(path)
    pd.testing.assert_series_equal(back.market.prices, case.market.prices, check_names=False)
    lots, back_lots = case.portfolio.lots, back.portfolio.lots
    assert list(back_lots["lot_id"]) == list(lots["lot_id"])
    np.testing.assert_allclose(back_lots["quantity"], lots["quantity"])
    assert (back_lots["acquired"].dt.normalize() == lots["acquired"].dt.normalize()).all()
    assert back.settings == case.settings
    assert back.tax == case.tax
    assert [o.name for o in back.overlays] == [o.name for o in case.overlays]
    assert [dict(o.exposure) for o in back.overlays] == [dict(o.exposure) for o in case.overlays]
    names = [o.name for o in case.overlays]  # an instrument not held is 0 contracts either way
    np.testing.assert_array_equal(back.portfolio.overlay_contracts.reindex(names).fillna(0.0),
                                  case.portfolio.overlay_contracts.reindex(names).fillna(0.0))
    assert back.restrictions.table.sort_index().equals(case.restrictions.table.sort_index()) or (
        back.restrictions.table.empty and case.restrictions.table.empty)
    assert back.portfolio.cash_usd == case.portfolio.cash_usd


def test_every_optional_section_round_trips(tmp_path):
    from fuzz_support import base_case, with_overlay

    data = with_overlay(base_case())
    data["overlays"][0]["contracts"] = 3
    data["overlays"][0]["max_notional_usd"] = 2e6
    data["restrictions"] = {"VTI": {"no_sell": True, "max_trade_usd": 5e4}, "BND": {"no_buy": True}}
    data["recent_loss_sales"] = {"BND": "2024-06-10"}
    data["realized_gain_usd"] = -1200.0
    data["overdraft_usd"] = 100.0
    data["tax"]["identical_groups"] = {"VTI": "US_TOTAL"}
    data["settings"]["solvers"] = ["CLARABEL"]
    first = tmp_path / "first.yaml"
    first.write_text(yaml.safe_dump(data, sort_keys=False))
    case = read_case(first)
    second = tmp_path / "second.json"
    second.write_text(json.dumps(case_to_dict(case)))
    back = read_case(second)
    assert back.restrictions.table.sort_index().equals(case.restrictions.table.sort_index())
    assert back.restrictions.flag("no_sell", ["VTI"])[0] and back.restrictions.size("max_trade_usd", ["VTI"])[0] == 5e4
    assert back.portfolio.overlay_contracts["ES"] == 3.0 and back.overlays[0].max_notional_usd == 2e6
    assert back.portfolio.recent_loss_sales["BND"] == pd.Timestamp("2024-06-10")
    assert back.portfolio.realized_gain_usd == -1200.0 and back.portfolio.overdraft_usd == 100.0
    assert back.tax == case.tax and back.settings == case.settings
