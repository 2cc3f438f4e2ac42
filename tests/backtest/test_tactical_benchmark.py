"""The tactical benchmark harness on tiny synthetic inputs (fast; no real data)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from benchmark_scripts import load_benchmark

from optimizer.execution import expected_cost_and_variance, twap
from optimizer.policies import Bands, Calendar, Threshold

@pytest.fixture(scope="module")
def bench():
    return load_benchmark("tactical")


def synthetic_prices(days: int = 320, seed: int = 0) -> pd.DataFrame:
    """Three assets with different volatilities, business days from 2019-01-01."""
    rng = np.random.default_rng(seed)
    vols = np.array([0.02, 0.01, 0.004])
    returns = rng.standard_normal((days, 3)) * vols + 0.0003
    returns[0] = 0.0
    index = pd.bdate_range("2019-01-01", periods=days)
    return pd.DataFrame(100 * np.cumprod(1 + returns, axis=0), index=index, columns=["EQ", "BOND", "BILL"])


@pytest.fixture(scope="module")
def window(bench):
    prices = synthetic_prices()
    stress = pd.Series(np.linspace(10.0, 40.0, len(prices)), index=prices.index)
    return bench.Window("synthetic", prices, pd.Series({"EQ": 0.5, "BOND": 0.3, "BILL": 0.18}),
                        prices.index[60], label="test", bands=Bands.absolute(0.03), stress=stress,
                        stress_name="synthetic")


def settings(bench):
    return bench.Settings(n_resamples=200, seed=1, quick=True)


def check_rows(bench, table: pd.DataFrame) -> None:
    assert list(table.columns) == bench.COLUMNS
    assert table["significant"].dtype == bool
    finite = table["diff"].notna()
    done = table[finite]
    assert np.allclose(done["diff"], done["a"] - done["b"], rtol=1e-9, atol=1e-12)
    assert (done["ci_low"] <= done["ci_high"]).all()
    excludes_zero = (done["ci_low"] > 0) | (done["ci_high"] < 0)
    assert (done["significant"] == excludes_zero).all()
    spans = done[~done["significant"]]
    assert spans["note"].str.startswith(bench.NO_GAIN).all()
    assert not done[done["significant"]]["note"].str.contains("no gain claimed").any()
    missing = table[~finite]
    assert (missing["note"].str.startswith("not available") | missing["note"].str.startswith("failed")).all()
    assert not missing["significant"].any()


def test_pair_of_heuristics_gives_three_rows_with_intervals(bench, window):
    def build(w, s):
        return bench.Pair("bands_2pct", Threshold(w.target, Bands.absolute(0.02)), "monthly",
                          Calendar(w.target, "M"))

    comparison = bench.Comparison("demo", lambda s: [window], build, ("bands_2pct", "monthly"))
    table = bench.build_table([comparison], settings(bench), execution_market_fn=None)
    check_rows(bench, table)
    assert list(table["metric"]) == list(bench.BACKTEST_METRICS)
    assert table["diff"].notna().all()
    assert set(table["window"]) == {window.window} and window.window.startswith("test: 2019-03-26")


def test_identical_policies_differ_by_nothing(bench, window):
    def build(w, s):
        bands = Bands.absolute(0.02)
        return bench.Pair("a", Threshold(w.target, bands), "b", Threshold(w.target, bands))

    table = bench.build_table([bench.Comparison("same", lambda s: [window], build, ("a", "b"))], settings(bench),
                              execution_market_fn=None)
    check_rows(bench, table)
    assert (table["diff"] == 0).all() and (table["ci_low"] == table["ci_high"]).all()
    assert not table["significant"].any()


def test_missing_piece_gives_nan_rows_with_the_reason(bench, window):
    def build(w, s):
        bench.piece("optimizer.policies", "NoSuchPolicy")

    table = bench.build_table([bench.Comparison("absent", lambda s: [window], build, ("x", "y"))], settings(bench),
                              execution_market_fn=None)
    check_rows(bench, table)
    assert table["a"].isna().all() and table["note"].str.contains("NoSuchPolicy").all()


def test_every_listed_comparison_runs_or_says_what_is_missing(bench, window):
    short = dataclasses.replace(window, prices=window.prices.iloc[:50], measure_from=window.prices.index[25])
    comparisons = [dataclasses.replace(c, windows=lambda s: [short]) for c in bench.COMPARISONS.values()]
    table = bench.build_table(comparisons, settings(bench), execution_market_fn=None)
    check_rows(bench, table)
    assert set(table["comparison"]) == {c.name for c in bench.COMPARISONS.values()}
    assert len(table) == 3 * len(bench.COMPARISONS)


def flat_after_bars(days: int = 320, flat: int = 10, seed: int = 3) -> pd.DataFrame:
    """A random walk, then ``flat`` days at the last close (H = L = C), constant dollar volume."""
    rng = np.random.default_rng(seed)
    close = 2000 * np.cumprod(1 + rng.standard_normal(days) * 0.01)
    close[days - flat:] = close[days - flat - 1]
    index = pd.bdate_range("2015-01-05", periods=days)
    return pd.DataFrame({"High": close, "Low": close, "Close": close, "volume_usd": 1e11}, index=index)


def test_realised_shortfall_equals_the_model_cost_when_prices_stand_still(bench):
    # With execution days at the arrival price and volume as forecast, the realised shortfall
    # is the Almgren-Chriss expected cost of the same path (optimizer.execution, independent code).
    bars = flat_after_bars()
    position, horizon, share, spread_bp = len(bars) - 8, 5, 0.02, 2.0
    costs = bench.execution_costs(bars, position, horizon, share, spread_bp, urgency=1.0)
    close = float(bars["Close"].iloc[position - 1])
    before = bars.iloc[position - 60:position]
    sigma = float(np.log(before["Close"]).diff().dropna().std()) * close
    units = bench.NOTIONAL_USD / close
    volume_units = 1e11 * share / close
    spread_usd = spread_bp * 1e-4 * close
    model = dict(sigma=sigma, eta=spread_usd / (0.01 * volume_units), gamma=spread_usd / (0.1 * volume_units),
                 spread=spread_usd / 2)
    for name, path in (("twap", twap(units, horizon)),
                       ("all_at_once", pd.Series([units] + [0.0] * horizon, index=np.arange(horizon + 1.0)))):
        expected = expected_cost_and_variance(path, **model).expected_cost / bench.NOTIONAL_USD * 1e4
        assert costs[name] == pytest.approx(expected, rel=1e-9)
    assert costs["all_at_once"] > costs["schedule"] > 0 and costs["twap"] > 0


def test_execution_rows_pair_strategies_over_arrival_days(bench):
    market = bench.ExecutionMarket(flat_after_bars(days=300, flat=1))
    table = bench.build_table([], settings(bench), execution_market_fn=lambda: market, execution_step=5)
    check_rows(bench, table)
    assert len(table) == len(bench.EXECUTION_LIQUIDITY) * len(bench.EXECUTION_PAIRS) * 2
    assert set(table["metric"]) == set(bench.EXECUTION_METRICS)
    big = table[(table["data"] == "large_cap_2pct") & (table["variant_b"] == "all_at_once")
                & (table["metric"] == "shortfall_bp")]
    assert (big["diff"] < 0).all()          # a 1.25-day-volume sale costs more all at once


def test_a_one_stock_basket_costs_what_the_index_path_costs(bench):
    # Two implementations of the same fill model: the per-stock vectorised basket and the
    # index path (whose schedule is the convex program; the basket's is the closed form).
    bars = flat_after_bars(days=320, flat=1)
    bars["Close"] = bars["Close"] * (1 + 0.002 * np.sin(np.arange(len(bars))))     # H, L, C differ
    stocks = {"high": bars[["High"]].set_axis(["X"], axis=1), "low": bars[["Low"]].set_axis(["X"], axis=1),
              "close": bars[["Close"]].set_axis(["X"], axis=1),
              "volume_usd": bars[["volume_usd"]].set_axis(["X"], axis=1)}
    position = 300
    index_path = bench.execution_costs(bars, position, 5, 1.0, 2.0, urgency=1.0)
    basket = bench.basket_costs(stocks, position, 5, 2.0, urgency=1.0)
    assert basket["twap"] == pytest.approx(index_path["twap"], rel=1e-9)
    assert basket["all_at_once"] == pytest.approx(index_path["all_at_once"], rel=1e-9)
    assert basket["schedule"] == pytest.approx(index_path["schedule"], rel=1e-4)


def test_calibrated_bands_run_out_of_sample(bench, window):
    comparison = dataclasses.replace(bench.COMPARISONS["calibrated_bands"], windows=lambda s: [window])
    table = bench.build_table([comparison], settings(bench), execution_market_fn=None)
    check_rows(bench, table)
    if table["diff"].notna().all():
        assert table["note"].str.contains("picked in sample").all()
    else:
        assert table["note"].str.startswith("not available").all()
