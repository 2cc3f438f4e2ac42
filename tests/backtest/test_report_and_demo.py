"""The comparison helpers, the report files and the quick demo."""

import numpy as np
import pandas as pd
import pytest

from optimizer.backtest.compare import frontier_verdicts
from optimizer.demo import run_demo
from optimizer.policies import water_fill


def test_water_fill_fills_the_largest_needs_first_to_a_common_level():
    need = np.array([5.0, 1.0, 3.0, -2.0])
    x = water_fill(need, 3.0)
    assert x == pytest.approx([2.5, 0.0, 0.5, 0.0])
    x = water_fill(need, 100.0)
    assert x.sum() == pytest.approx(100.0) and (x >= 0).all()
    capped = water_fill(need, 4.0, cap=np.array([1.0, 10.0, 10.0, 10.0]))
    assert capped == pytest.approx([1.0, 0.5, 2.5, 0.0], abs=1e-9)     # common level 0.5 below the cap


def test_frontier_verdicts_compare_against_the_interpolated_frontier():
    table = pd.DataFrame({
        "tracking_error": [0.002, 0.010, 0.004, 0.006, 0.001],
        "total_cost_bps": [10.0, 2.0, 9.0, 3.0, 50.0],
    }, index=["optimizer_a", "optimizer_b", "heuristic_above", "heuristic_below", "heuristic_tight"])
    verdicts = frontier_verdicts(table)["verdict"]
    assert verdicts["heuristic_above"] == "dominated"      # frontier at TE 0.4% costs 8 bps < 9
    assert verdicts["heuristic_below"] == "not dominated"  # frontier at TE 0.6% costs 6 bps > 3
    assert verdicts["heuristic_tight"].startswith("tighter")


def test_quick_demo_writes_an_html_report_with_its_figures(tmp_path, capsys):
    path = run_demo(tmp_path, quick=True)
    assert path == tmp_path / "index.html"
    page = path.read_text()
    for figure in ("frontier", "costs", "trades", "weights"):
        pngs = list(tmp_path.glob(f"*_{figure}.png"))
        assert len(pngs) == 1 and pngs[0].stat().st_size > 5_000 and pngs[0].name in page
    table = pd.read_csv(tmp_path / "comparison.csv", index_col=0)
    assert {"buy_and_hold", "calendar_monthly", "optimizer_ra100"} <= set(table.index)
    assert table.loc["buy_and_hold", "rebalance_events"] == 0
    assert table.loc["calendar_monthly", "rebalance_events"] > table.loc["calendar_annual", "rebalance_events"]
    printed = capsys.readouterr().out
    assert "optimizer_ra1000" in printed and "report:" in printed
