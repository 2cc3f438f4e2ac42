"""evaluate_targets on small hand-made comparison tables (no backtests run)."""

import numpy as np
import pandas as pd
import pytest

from optimizer.backtest.compare import evaluate_targets
from optimizer.errors import InputError


def table(rows, data="set1"):
    """rows: (policy, tracking_error, total_cost_bps, after_tax_terminal_usd, wash_sale_violations)."""
    frame = pd.DataFrame(rows, columns=["policy", "tracking_error", "total_cost_bps", "after_tax_terminal_usd",
                                        "wash_sale_violations"])
    frame.insert(0, "data", data)
    return frame


@pytest.fixture
def one_set():
    return table([
        ("buy_and_hold", 0.050, 1.0, 1_100.0, 0),
        ("calendar_monthly", 0.010, 20.0, 1_000.0, 3),     # dominated by ra100, which is also richer
        ("threshold_tight", 0.004, 30.0, 1_050.0, 0),      # tighter than every optimizer point
        ("optimizer_ra1", 0.030, 2.0, 1_080.0, 0),
        ("optimizer_ra100", 0.008, 15.0, 1_020.0, 0),
    ])


def test_targets_booleans_and_margins(one_set):
    out = evaluate_targets(one_set).set_index("heuristic")
    assert list(out.index) == ["buy_and_hold", "calendar_monthly", "threshold_tight"]

    monthly = out.loc["calendar_monthly"]
    assert monthly["a_dominated"] and monthly["b_wealth_no_lower"]
    assert monthly["a_cost_miss_bps"] == pytest.approx(15.0 - 20.0)
    assert monthly["b_wealth_margin_usd"] == pytest.approx(20.0)

    hold = out.loc["buy_and_hold"]            # cheapest of all: no optimizer point is as cheap
    assert not hold["a_dominated"]
    assert hold["a_cost_miss_bps"] == pytest.approx(1.0)       # ra1 is tighter but 1 bp dearer
    assert np.isnan(hold["a_te_miss"])
    assert not hold["b_wealth_no_lower"]
    assert hold["b_wealth_margin_usd"] == pytest.approx(-20.0)  # best tighter point (ra1) is $20 poorer

    tight = out.loc["threshold_tight"]       # no optimizer point is as tight
    assert not tight["a_dominated"] and not tight["b_wealth_no_lower"]
    assert np.isnan(tight["a_cost_miss_bps"]) and np.isnan(tight["b_wealth_margin_usd"])
    assert tight["a_te_miss"] == pytest.approx(0.008 - 0.004)
    assert tight["b_te_miss"] == pytest.approx(0.030 - 0.004)   # only ra1 is at least as rich

    assert out["c_no_wash_sales"].all() and (out["c_violations"] == 0).all()


def test_wash_sales_unknown_or_present(one_set):
    unknown = one_set.copy()
    unknown.loc[unknown["policy"] == "optimizer_ra1", "wash_sale_violations"] = np.nan
    out = evaluate_targets(unknown)
    assert out["c_no_wash_sales"].isna().all() and out["c_violations"].isna().all()

    dirty = one_set.copy()
    dirty.loc[dirty["policy"] == "optimizer_ra100", "wash_sale_violations"] = 2
    out = evaluate_targets(dirty)
    assert (~out["c_no_wash_sales"]).all() and (out["c_violations"] == 2).all()


def test_data_sets_are_evaluated_separately(one_set):
    other = table([("calendar_monthly", 0.010, 20.0, 1_000.0, 0),
                   ("optimizer_ra1", 0.020, 10.0, 2_000.0, 0)], data="set2")
    both = pd.concat([one_set, other]).set_index(["data", "policy"])   # index levels work too
    out = evaluate_targets(both).set_index(["data", "heuristic"])
    assert out.loc[("set1", "calendar_monthly"), "a_dominated"]
    assert not out.loc[("set2", "calendar_monthly"), "a_dominated"]
    assert out.loc[("set2", "calendar_monthly"), "a_te_miss"] == pytest.approx(0.010)


def test_without_optimizer_rows_nothing_is_met():
    out = evaluate_targets(table([("buy_and_hold", 0.05, 1.0, 1_000.0, 0)]))
    assert not out.loc[0, "a_dominated"] and not out.loc[0, "b_wealth_no_lower"]
    assert pd.isna(out.loc[0, "c_no_wash_sales"])


def test_missing_column_raises_input_error(one_set):
    with pytest.raises(InputError, match="wash_sale_violations"):
        evaluate_targets(one_set.drop(columns="wash_sale_violations"))
