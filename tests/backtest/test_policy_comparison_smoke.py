"""Smoke run of ``benchmarks/policy_comparison.py --quick`` on one data set (about 10 s)."""


import numpy as np
import pandas as pd
import pytest

from benchmark_scripts import load_benchmark

REQUIRED = ["data", "policy", "tracking_error", "turnover", "trading_cost_bps", "tax_bps", "total_cost_bps",
            "after_tax_terminal_usd", "wash_sale_violations", "decision_ms_median"]


def load_script():
    return load_benchmark("policy_comparison")


def test_sweep_is_editable_and_named():
    bench = load_script()
    assert len(bench.SWEEP) >= 8 and all(isinstance(point, dict) for point in bench.SWEEP)
    assert len(bench.sweep_points(quick=True)) == 3
    assert bench.sweep_points(quick=False) == bench.SWEEP


@pytest.mark.slow
def test_quick_run_on_one_data_set(tmp_path, capsys):
    bench = load_script()
    table = bench.main(["--quick", "--data", "etf_daily_2014_2020", "--out", str(tmp_path)])
    written = pd.read_csv(tmp_path / "policy_comparison.csv")
    assert list(written.columns[:len(REQUIRED)]) == REQUIRED
    assert set(written["data"]) == {"etf_daily_2014_2020"}
    optimizer = written[written["policy"].str.startswith("optimizer_")]
    assert len(optimizer) == 3 and len(written) == len(table) == 16
    assert (optimizer["decision_ms_median"] > 0).all()
    assert np.isfinite(written["tracking_error"]).all()
    targets = pd.read_csv(tmp_path / "policy_targets.csv")
    assert len(targets) == 13 and {"a_dominated", "b_wealth_no_lower", "c_no_wash_sales"} <= set(targets.columns)
    for name in ("policy_comparison.md", "policy_comparison.png",
                 "policy_comparison_etf_daily_2014_2020.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert "etf_daily_2014_2020: (a)" in capsys.readouterr().out
