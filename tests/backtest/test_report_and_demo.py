"""The comparison helpers, the report files and the quick demo."""

import numpy as np
import pandas as pd
import pytest

from optimizer.backtest.compare import frontier_verdicts
from optimizer.demo import DEMO_RISK_AVERSIONS, run_demo
from optimizer.policies import water_fill
from optimizer.report.verdict import _gain_to_sell, dominance_verdicts, headline_verdicts


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


def _verdict_table() -> pd.DataFrame:
    return pd.DataFrame({
        "tracking_error": [0.003, 0.008, 0.004, 0.002, 0.009],
        "total_cost_bps": [12.0, -1.5, 9.0, 30.0, 0.0],
        "after_tax_terminal_usd": [1_500_000.0, 1_530_000.0, 1_510_000.0, 1_490_000.0, 1_520_000.0],
    }, index=["optimizer_ra100", "optimizer_ra1", "calendar_monthly", "threshold_tight", "buy_and_hold"])


def test_headline_verdicts_name_the_winners_and_margins():
    heads = {h.metric: h for h in headline_verdicts(_verdict_table())}
    cost = heads["total_cost_bps"]
    assert (cost.winner, cost.best_optimizer, cost.best_heuristic) == ("optimizer_ra1", "optimizer_ra1", "buy_and_hold")
    assert cost.margin == pytest.approx(1.5)                       # optimizer cheaper by 1.5 bp/yr
    assert "optimizer_ra1 (-1.5 bp/yr) vs best heuristic buy_and_hold (0.0 bp/yr)" in cost.text()
    assert "better by 1.5 bp/yr" in cost.text()
    wealth = heads["after_tax_terminal_usd"]
    assert (wealth.best_optimizer, wealth.best_heuristic) == ("optimizer_ra1", "buy_and_hold")
    assert wealth.margin == pytest.approx(10_000.0) and "$10,000" in wealth.text()
    te = heads["tracking_error"]                                    # a heuristic wins this one
    assert (te.winner, te.best_optimizer, te.best_heuristic) == ("threshold_tight", "optimizer_ra100",
                                                                  "threshold_tight")
    assert te.margin == pytest.approx(-0.001) and "threshold_tight is better by 0.10 %-points/yr" in te.text()


def test_dominance_verdicts_name_the_dominating_points_and_the_misses():
    dom = dominance_verdicts(_verdict_table()).set_index("heuristic")
    assert not dom.loc["calendar_monthly", "dominated"]
    assert "at least 3.0 bp/yr more" in dom.loc["calendar_monthly", "text"]   # ra100: 12 vs 9 bp/yr
    assert dom.loc["buy_and_hold", "dominated"] and dom.loc["buy_and_hold", "by"] == "optimizer_ra1"
    assert not dom.loc["threshold_tight", "dominated"]
    assert "no optimizer point tracks as tightly" in dom.loc["threshold_tight", "text"]


def test_gain_to_sell_takes_the_highest_basis_lots_first():
    lots = pd.DataFrame({"quantity": [10.0, 10.0], "cost_basis": [50.0, 90.0]})
    assert _gain_to_sell(lots, 100.0, 1_000.0) == pytest.approx(100.0)          # 10 shares of the 90 lot
    assert _gain_to_sell(lots, 100.0, 1_500.0) == pytest.approx(100.0 + 250.0)  # then 5 of the 50 lot
    assert _gain_to_sell(lots, 100.0, 0.0) == 0.0


def test_quick_demo_writes_an_html_report_with_its_figures(tmp_path, capsys):
    path = run_demo(tmp_path, quick=True)
    assert path == tmp_path / "index.html"
    page = path.read_text()
    for figure in ("frontier", "costs", "trades", "weights"):
        pngs = list(tmp_path.glob(f"*_{figure}.png"))
        assert len(pngs) == 1 and pngs[0].stat().st_size > 5_000 and pngs[0].name in page
    table = pd.read_csv(tmp_path / "comparison.csv", index_col=0)
    sweep = [f"optimizer_ra{ra:g}" for ra in DEMO_RISK_AVERSIONS]
    assert {"buy_and_hold", "calendar_monthly", *sweep} <= set(table.index)
    assert table.loc["buy_and_hold", "rebalance_events"] == 0
    assert table.loc["calendar_monthly", "rebalance_events"] > table.loc["calendar_annual", "rebalance_events"]
    printed = capsys.readouterr().out
    assert sweep[-1] in printed and "report:" in printed and "done in" in printed
    assert page.index('class="verdict"') < page.index('class="dataframe metrics"')  # the verdict comes first
    for heading in ("Lowest total cost incl. tax:", "Highest after-tax terminal wealth:",
                    "no worse on both tracking error and total cost", "Why the optimizer deviates"):
        assert heading in page
    assert all(f"{name} deviates most in" in page for name in sweep)
