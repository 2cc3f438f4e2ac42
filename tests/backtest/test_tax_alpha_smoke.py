"""Smoke run of ``benchmarks/tax_alpha.py --quick`` (10 stocks, one year: about 3 s on a quiet machine)."""


import pandas as pd
import pytest

from benchmark_scripts import load_benchmark

REQUIRED = ["data", "policy", "years", "tax_alpha_bps_per_year", "tracking_error", "turnover",
            "losses_harvested_usd", "wash_sale_violations", "after_tax_terminal_usd"]


def load_script():
    return load_benchmark("tax_alpha")


@pytest.mark.slow
def test_quick_direct_indexing_run(tmp_path):
    bench = load_script()
    table = bench.main(["--quick", "--out", str(tmp_path)])
    written = pd.read_csv(tmp_path / "tax_alpha.csv")
    assert list(written.columns[:len(REQUIRED)]) == REQUIRED
    assert len(written) == len(table) == 4
    rows = written.set_index("policy")
    assert rows.loc["buy_and_hold", "tax_alpha_bps_per_year"] == 0.0
    assert rows.loc["buy_and_hold", "losses_harvested_usd"] == 0.0
    assert rows.loc["loss_harvester", "losses_harvested_usd"] > 0
    assert rows.loc["loss_harvester", "wash_sale_violations"] == 0
    # tax alpha is the after-tax wealth ratio to buy-and-hold, per year, in bp
    ratio = rows["after_tax_terminal_usd"] / rows.loc["buy_and_hold", "after_tax_terminal_usd"] - 1.0
    pd.testing.assert_series_equal(rows["tax_alpha_bps_per_year"], ratio / rows["years"] * 1e4, check_names=False,
                                   rtol=0, atol=1e-4)
