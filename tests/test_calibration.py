"""Band calibration (``optimizer.calibration``, ``rebalance bands``).

Oracles: the published formula on a hand case (GGMS 2014), a brute-force minimisation of
the ergodic cost it comes from, the cube-root scaling as a property, a simulated reflected
random walk for the closed-form tracking and cost, and the written bands read back by the
case-file reader.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from optimizer import InputError, calibrate_bands
from optimizer.calibration import (BandInputs, calibrate_inputs, expected_tracking_and_cost, no_trade_half_width,
                                   split_width)
from optimizer.case_file import case_from_dict, read_case
from optimizer.cli import EXIT_INPUT, app

from pathlib import Path

CASES = Path(__file__).resolve().parents[1] / "problems" / "cases"


def inputs(weight=(0.3, 0.5), vol=(0.2, 0.1), corr=0.3, buy=0.001, sell=0.001, impact=0.0, **kw) -> BandInputs:
    assets = [f"A{i}" for i in range(len(weight))]
    v = np.asarray(vol, dtype=float)
    c = np.full((len(v), len(v)), corr)
    np.fill_diagonal(c, 1.0)
    cov = pd.DataFrame(np.outer(v, v) * c, index=assets, columns=assets)
    return BandInputs(target_weight=pd.Series(weight, index=assets), covariance=cov, buy_cost=buy, sell_cost=sell,
                      impact_coef=impact, daily_volatility=pd.Series(v / np.sqrt(252), index=assets), **kw)


def prices_frame(n=300, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2020-01-01", periods=n)
    returns = rng.normal(0.0003, [0.012, 0.006, 0.009], size=(n, 3))
    return pd.DataFrame(100 * np.cumprod(1 + returns, axis=0), index=dates, columns=["EQ", "BD", "GLD"])


# ----------------------------------------------------------------------------- the formula


def test_hand_case_matches_ggms_formula():
    # GGMS (2014): pi* +/- (3 / (4 gamma) pi*^2 (1 - pi*)^2 eps)^(1/3), eps the round-trip spread.
    # pi* = 0.5, gamma = 1.5, one-way c = 8 bp (eps = 16 bp): 0.5 * 0.0625 * 0.0016 = 5e-5.
    expected = 0.036840314986403866  # (5e-5) ** (1/3) by hand
    assert no_trade_half_width(0.0008, 0.5, 1.5) == pytest.approx(expected, rel=1e-12)
    # the same through the whole calibration: two assets, no cash, so w(1-w) is the drift factor
    result = calibrate_inputs(inputs(weight=(0.5, 0.5), buy=0.0008, sell=0.0008), 1.5)
    assert result.table["half_width"].to_numpy() == pytest.approx([expected, expected], rel=1e-12)
    assert result.table.loc["A0", "band_lower"] == pytest.approx(0.5 - expected)
    assert result.table.loc["A0", "band_upper"] == pytest.approx(0.5 + expected)


def test_formula_minimises_the_ergodic_cost_it_comes_from():
    # (gamma/2) s^2 h^2 / 3 + c sigma_x^2 / (2 h), minimised by brute force over h
    gamma, c, w, s2 = 4.0, 0.0015, 0.3, 0.04
    sx2 = w ** 2 * (1 - w) ** 2 * s2
    h = np.linspace(1e-4, 0.2, 400_001)
    best = h[np.argmin(0.5 * gamma * s2 * h ** 2 / 3 + c * sx2 / (2 * h))]
    assert no_trade_half_width(c, w, gamma) == pytest.approx(best, abs=1e-6)
    # to target: (gamma/2) s^2 h^2 / 6 + c sigma_x^2 / h
    best_target = h[np.argmin(0.5 * gamma * s2 * h ** 2 / 6 + c * sx2 / h)]
    assert no_trade_half_width(c, w, gamma, "target") == pytest.approx(best_target, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(cost=st.floats(1e-5, 1e-2), weight=st.floats(0.02, 0.9), gamma=st.floats(0.1, 1e3),
       factor=st.sampled_from([8.0, 27.0, 0.125]))
def test_width_scales_as_cube_root_of_cost_over_risk_aversion(cost, weight, gamma, factor):
    base = no_trade_half_width(cost, weight, gamma)
    assert no_trade_half_width(cost * factor, weight, gamma) == pytest.approx(base * factor ** (1 / 3), rel=1e-9)
    assert no_trade_half_width(cost, weight, gamma * factor) == pytest.approx(base / factor ** (1 / 3), rel=1e-9)


def test_cost_times_eight_doubles_every_calibrated_band():
    one = calibrate_inputs(inputs(weight=(0.2, 0.3, 0.4), vol=(0.2, 0.1, 0.15)), 10.0).table
    eight = calibrate_inputs(inputs(weight=(0.2, 0.3, 0.4), vol=(0.2, 0.1, 0.15), buy=0.008, sell=0.008), 10.0).table
    assert (eight["half_width"] / one["half_width"]).to_numpy() == pytest.approx([2.0, 2.0, 2.0], rel=1e-12)


def test_volatility_cancels_without_impact_but_not_with_it():
    # the drift variance w^2 (1-w)^2 s^2 and the tracking variance s^2 scale together
    calm = calibrate_inputs(inputs(vol=(0.1, 0.05)), 5.0).table
    wild = calibrate_inputs(inputs(vol=(0.4, 0.2)), 5.0).table
    assert wild["half_width"].to_numpy() == pytest.approx(calm["half_width"].to_numpy(), rel=1e-12)
    assert (wild["drift_vol"] / calm["drift_vol"]).to_numpy() == pytest.approx([4.0, 4.0])
    calm_i = calibrate_inputs(inputs(vol=(0.1, 0.05), impact=0.05), 5.0).table
    wild_i = calibrate_inputs(inputs(vol=(0.4, 0.2), impact=0.05), 5.0).table
    assert (wild_i["half_width"] > calm_i["half_width"]).all()


def test_trade_to_target_is_four_to_the_third_wider():
    edge = calibrate_inputs(inputs(), 3.0).table["half_width"]
    target = calibrate_inputs(inputs(), 3.0, trade_to="target").table["half_width"]
    assert (target / edge).to_numpy() == pytest.approx([4 ** (1 / 3)] * 2, rel=1e-12)


# ----------------------------------------------------------------------------- asymmetry


def test_costlier_sales_widen_the_upper_side_and_keep_the_total():
    sym = calibrate_inputs(inputs(buy=0.001, sell=0.001), 10.0).table
    asym = calibrate_inputs(inputs(buy=0.0005, sell=0.0015), 10.0).table   # same mean cost
    assert (asym["half_width_above"] > asym["half_width_below"]).all()
    total = asym["half_width_above"] + asym["half_width_below"]
    assert total.to_numpy() == pytest.approx((2 * sym["half_width"]).to_numpy(), rel=1e-12)
    ratio = (asym["half_width_above"] / asym["half_width_below"]).to_numpy()
    assert ratio == pytest.approx([3 ** (1 / 3)] * 2, rel=1e-12)          # cube roots of 15 bp vs 5 bp
    assert (sym["half_width_above"] == sym["half_width_below"]).all()
    below, above = split_width(np.array([1.0]), np.array([0.0]), np.array([0.0]))
    assert below[0] == above[0] == 0.5


def test_case_file_tax_on_gains_is_a_selling_cost(tmp_path):
    case = read_case(CASES / "three_asset.yaml")
    with_tax = calibrate_bands(case).table
    without = calibrate_bands(case, tax_weight=0.0).table
    # VTI lots: 1500 long-term at basis 180 and 400 short-term at 260, price 265
    value = np.array([1500 * 265.0, 400 * 265.0])
    tax = np.array([0.20 * (1 - 180 / 265), 0.37 * (1 - 260 / 265)])
    expected = 0.0001 + (value * tax).sum() / value.sum()
    assert with_tax.loc["EQUITY", "sell_cost"] == pytest.approx(expected, rel=1e-9)
    assert without.loc["EQUITY", "sell_cost"] == pytest.approx(0.0001)
    assert with_tax.loc["EQUITY", "half_width_above"] > with_tax.loc["EQUITY", "half_width_below"]
    assert not with_tax.loc["PRIVATE", "calibrated"]                     # untradeable: band kept
    assert (with_tax.loc["PRIVATE", "band_lower"], with_tax.loc["PRIVATE", "band_upper"]) == (0.0, 0.10)


# ----------------------------------------------------------------------------- expected TE and cost


def test_closed_form_tracking_and_cost_match_a_simulated_reflected_walk():
    rng = np.random.default_rng(7)
    data = inputs(weight=(0.5, 0.5), vol=(0.3, 0.3), corr=0.0, buy=0.001, sell=0.002)
    w, s2 = 0.5, data.tracking_variance()["A0"]
    sx = np.sqrt(w ** 2 * (1 - w) ** 2 * s2)
    below, above = np.array([0.01, 0.01]), np.array([0.02, 0.02])
    closed = expected_tracking_and_cost(data, below, above)
    dt, steps = 1 / 252 / 20, 1_000_000                # finer than a day: the formula is continuous-time
    x, bought, sold, ex2 = 0.0, 0.0, 0.0, 0.0
    shocks = rng.normal(0.0, sx * np.sqrt(dt), steps)
    path = np.empty(steps)
    for k in range(steps):                             # reflected walk, trading to the edge
        x += shocks[k]
        if x > above[0]:
            sold += x - above[0]
            x = above[0]
        elif x < -below[0]:
            bought += -below[0] - x
            x = -below[0]
        path[k] = x
    years = steps * dt
    te = np.sqrt(2 * s2 * np.mean(path ** 2))          # two identical, independent assets
    cost_bps = 2 * (0.001 * bought + 0.002 * sold) / years * 1e4
    assert closed["tracking_error"] == pytest.approx(te, rel=0.05)
    assert closed["cost_bps_per_year"] == pytest.approx(cost_bps, rel=0.1)


# ----------------------------------------------------------------------------- bad inputs


def test_bad_prices_name_the_field_and_the_asset():
    prices = prices_frame()
    target = {"EQ": 0.5, "BD": 0.3, "GLD": 0.2}
    broken = prices.copy()
    broken.iloc[10, 1] = np.nan
    with pytest.raises(InputError) as err:
        calibrate_bands(broken, target)
    assert err.value.field == "prices" and err.value.asset == "BD"
    negative = prices.copy()
    negative.iloc[5, 2] = -1.0
    with pytest.raises(InputError) as err:
        calibrate_bands(negative, target)
    assert err.value.field == "prices" and err.value.asset == "GLD"
    with pytest.raises(InputError) as err:
        calibrate_bands(prices, {"EQ": 0.5, "OIL": 0.3})
    assert err.value.field == "prices" and err.value.asset == "OIL"
    with pytest.raises(InputError) as err:
        calibrate_bands(prices, target, half_spread=pd.Series({"EQ": 1e-4, "BD": -1e-4, "GLD": 1e-4}))
    assert err.value.field == "half_spread" and err.value.asset == "BD"
    with pytest.raises(InputError) as err:
        calibrate_bands(prices, target, half_spread=pd.Series({"EQ": 1e-4, "BD": 1e-4}))
    assert err.value.field == "half_spread" and err.value.asset == "GLD"
    with pytest.raises(InputError) as err:
        calibrate_bands(prices, {"EQ": 0.7, "BD": 0.5})
    assert err.value.field == "target_weight"
    with pytest.raises(InputError) as err:
        calibrate_bands(prices, target, risk_aversion=0.0)
    assert err.value.field == "risk_aversion"
    with pytest.raises(InputError) as err:
        calibrate_bands(prices)
    assert err.value.field == "target_weight"


def test_bad_band_inputs_name_the_field_and_the_asset():
    with pytest.raises(InputError) as err:
        inputs(buy=pd.Series({"A0": 0.001, "A1": float("inf")}))
    assert err.value.field == "buy_cost" and err.value.asset == "A1"
    with pytest.raises(InputError) as err:
        inputs(weight=(0.3, -0.1))
    assert err.value.field == "target_weight" and err.value.asset == "A1"
    cov = pd.DataFrame([[0.04, np.nan], [np.nan, 0.01]], index=["A0", "A1"], columns=["A0", "A1"])
    with pytest.raises(InputError) as err:
        BandInputs(pd.Series({"A0": 0.5, "A1": 0.5}), cov, 0.001, 0.001, 0.0, 0.01)
    assert err.value.field == "covariance" and err.value.asset == "A0"
    with pytest.raises(InputError) as err:
        calibrate_inputs(inputs(), 1.0, trade_to="middle")
    assert err.value.field == "trade_to"


# ----------------------------------------------------------------------------- price history and CLI


def test_price_history_calibration_and_closed_form_comparison():
    result = calibrate_bands(prices_frame(), {"EQ": 0.5, "BD": 0.3, "GLD": 0.15}, risk_aversion=5.0)
    table = result.table
    assert list(table.index) == ["EQ", "BD", "GLD"] and result.cash_weight == pytest.approx(0.05)
    assert (table["band_lower"] < table["target_weight"]).all() and (table["band_upper"] > table["target_weight"]).all()
    assert table.loc["EQ", "volatility"] == pytest.approx(0.012 * np.sqrt(252), rel=0.15)
    assert list(result.expected.index) == ["calibrated", "fixed_0.05"]
    assert result.targets().band_upper.to_dict() == pytest.approx(table["band_upper"].to_dict())


def test_cli_bands_on_a_shipped_case_writes_targets_the_case_reader_accepts(tmp_path):
    out = tmp_path / "bands.yaml"
    run = CliRunner().invoke(app, ["bands", str(CASES / "three_asset.yaml"), "--write", str(out)])
    assert run.exit_code == 0, run.output
    assert "EQUITY" in run.output and "fixed_0.05" in run.output
    written = yaml.safe_load(out.read_text())["targets"]
    raw = yaml.safe_load((CASES / "three_asset.yaml").read_text())
    raw["targets"] = written
    case = case_from_dict(raw)
    expected = calibrate_bands(read_case(CASES / "three_asset.yaml")).table
    assert case.targets.band_upper.to_dict() == pytest.approx(expected["band_upper"].to_dict(), abs=1e-6)
    assert case.targets.band_lower.to_dict() == pytest.approx(expected["band_lower"].to_dict(), abs=1e-6)


def test_cli_bands_on_a_price_history_and_its_input_errors(tmp_path):
    prices = tmp_path / "prices.csv"
    prices_frame().to_csv(prices, index_label="date")
    weights = tmp_path / "weights.csv"
    pd.DataFrame({"asset": ["EQ", "BD"], "weight": [0.6, 0.4]}).to_csv(weights, index=False)
    run = CliRunner().invoke(app, ["bands", str(prices), "--weights", str(weights), "--risk-aversion", "3"])
    assert run.exit_code == 0, run.output
    assert "BD" in run.output and "risk aversion 3" in run.output
    missing = CliRunner().invoke(app, ["bands", str(prices)])
    assert missing.exit_code == EXIT_INPUT and "--weights" in missing.output
    pd.DataFrame({"asset": ["EQ", "OIL"], "weight": [0.6, 0.4]}).to_csv(weights, index=False)
    unknown = CliRunner().invoke(app, ["bands", str(prices), "--weights", str(weights)])
    assert unknown.exit_code == EXIT_INPUT and "OIL" in unknown.output


# ----------------------------------------------------------------------------- out-of-sample comparison


def test_cost_at_tracking_error_uses_the_lower_envelope():
    from optimizer.backtest.band_calibration import cost_at_tracking_error

    curve = pd.DataFrame({"tracking_error": [0.03, 0.01, 0.02], "trading_cost_bps": [3.0, 5.0, 2.0]})
    assert cost_at_tracking_error(curve, 0.015) == pytest.approx(3.5)
    assert cost_at_tracking_error(curve, 0.025) == pytest.approx(2.0)   # 0.02 costs 2 and tracks better than 0.025
    assert np.isnan(cost_at_tracking_error(curve, 0.005)) and np.isnan(cost_at_tracking_error(curve, 0.04))


def test_compare_calibrated_vs_fixed_picks_a_scale_that_tracks_no_worse_in_sample():
    from optimizer.backtest.band_calibration import compare_calibrated_vs_fixed

    rng = np.random.default_rng(3)
    dates = pd.bdate_range("2019-01-01", periods=130)
    prices = pd.DataFrame(100 * np.cumprod(1 + rng.normal(0.0004, [0.02, 0.005, 0.012], size=(130, 3)), axis=0),
                          index=dates, columns=["EQ", "BD", "GLD"])
    target = pd.Series({"EQ": 0.5, "BD": 0.35, "GLD": 0.15})
    gammas, widths = (0.1, 10.0, 1000.0), (0.005, 0.05)
    result = compare_calibrated_vs_fixed(prices, target, split=dates[65], fixed_width=0.01, frontier=True,
                                         name="synthetic", gammas=gammas, fixed_grid=widths)
    main = result.table[result.table["window"] != "oos_frontier"].set_index(["window", "bands"])
    assert main.loc[("in_sample", "calibrated"), "tracking_error"] <= main.loc[("in_sample", "fixed"),
                                                                               "tracking_error"] + 1e-12
    assert result.summary["risk_aversion"] in gammas
    assert main.loc[("out_of_sample", "fixed"), "start"] == dates[65].date().isoformat()
    frontier = result.table[result.table["window"] == "oos_frontier"]
    assert len(frontier) == len(gammas) + len(widths)
    fixed_oos = main.loc[("out_of_sample", "fixed")]
    saved = result.summary["frontier_cost_saved_bps"]
    assert np.isnan(saved) or saved == pytest.approx(
        fixed_oos["trading_cost_bps"] - result.summary["frontier_cost_at_fixed_te_bps"])
    with pytest.raises(InputError) as err:
        compare_calibrated_vs_fixed(prices, target, split=dates[10])
    assert err.value.field == "split"
