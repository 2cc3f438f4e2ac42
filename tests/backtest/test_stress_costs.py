"""Stress-time costs: the scaling formula by hand, and one set of stressed costs for the
simulator's fills and the optimizer's program."""

import numpy as np
import pandas as pd
import pytest

from optimizer.backtest.simulator import BacktestConfig, Simulator
from optimizer.errors import InputError
from optimizer.model import Market, Portfolio, RiskModel, Settings, Targets
from optimizer.model.costs import CostModel
from optimizer.policies import Calendar, OptimizerPolicy
from optimizer.problem_data import prepare
from optimizer.terms import impact, linear_costs
from optimizer.terms.base import Trade

DATES = pd.bdate_range("2020-02-03", periods=6)
VIX = pd.Series([12.0, 20.0, 30.0, 45.0, 82.7, 25.0], index=DATES)


def hand_scale(level, reference, exponent, cap):
    return min(max((level / reference) ** exponent, 1.0), cap)


@pytest.mark.parametrize("reference, spread_k, impact_k, cap", [(20.0, 1.0, 1.0, 4.0), (16.0, 0.5, 1.5, 3.0),
                                                                (20.0, 0.0, 2.0, 10.0)])
def test_scale_at_each_vix_level_is_the_hand_formula(reference, spread_k, impact_k, cap):
    costs = CostModel(stress=VIX, stress_reference=reference, spread_stress_exponent=spread_k,
                      impact_stress_exponent=impact_k, stress_cap=cap)
    spread, impact_scale = costs.stress_multipliers(DATES)
    for k, level in enumerate(VIX):
        assert spread[k] == pytest.approx(hand_scale(level, reference, spread_k, cap))
        assert impact_scale[k] == pytest.approx(hand_scale(level, reference, impact_k, cap))
    same = CostModel().with_stress(VIX, reference=reference, cap=cap, spread_exponent=spread_k,
                                   impact_exponent=impact_k)
    np.testing.assert_array_equal(same.stress_multipliers(DATES)[0], spread)
    np.testing.assert_array_equal(same.stress_multipliers(DATES)[1], impact_scale)
    half_spread, commission, adv = costs.on(DATES[3], ["X"])
    assert half_spread[0] == pytest.approx(0.0002 * hand_scale(45.0, reference, spread_k, cap))
    assert commission[0] == 0.0001                                   # commissions do not widen
    assert adv[0] == pytest.approx(5e8 / hand_scale(45.0, reference, impact_k, cap))


def test_levels_are_read_as_of_the_date_and_must_be_fresh():
    sparse = VIX.iloc[[0, 3]]
    costs = CostModel(stress=sparse, stress_max_age_days=5)
    spread, _ = costs.stress_multipliers(DATES[:5])
    np.testing.assert_allclose(spread, [1.0, 1.0, 1.0, 2.25, 2.25])      # 12 until 45 arrives; never the future
    with pytest.raises(InputError, match="no level on or before"):
        costs.stress_multipliers([DATES[0] - pd.Timedelta(days=1)])
    with pytest.raises(InputError, match="within 5 days"):
        costs.stress_multipliers([DATES[3] + pd.Timedelta(days=6)])
    assert CostModel().stress_multipliers(DATES)[0].tolist() == [1.0] * 6


@pytest.mark.parametrize("bad, field", [
    (dict(stress=pd.Series([20.0, -1.0], index=DATES[:2])), "costs.stress"),
    (dict(stress=pd.Series([20.0, np.nan], index=DATES[:2])), "costs.stress"),
    (dict(stress=pd.Series([20.0, 30.0])), "costs.stress"),
    (dict(stress=VIX.iloc[::-1]), "costs.stress"),
    (dict(stress=VIX, stress_cap=0.5), "costs.stress_cap"),
    (dict(stress=VIX, stress_reference=0.0), "costs.stress_reference"),
    (dict(stress=VIX, spread_stress_exponent=-1.0), "costs.spread_stress_exponent"),
])
def test_bad_stress_inputs_are_typed_errors(bad, field):
    with pytest.raises(InputError) as info:
        CostModel(**bad)
    assert info.value.field == field


def prices_frame(n=80, seed=0):
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2020-01-02", periods=n)
    r = rng.normal(0.0, [0.02, 0.005], (n, 2))
    r[0] = 0
    return pd.DataFrame(100 * np.cumprod(1 + r, axis=0), index=dates, columns=["EQ", "BD"])


def test_simulator_fills_at_the_stressed_costs():
    prices = prices_frame()
    vix = pd.Series(np.linspace(15, 80, len(prices)), index=prices.index)
    costs = CostModel(half_spread=0.0005, commission=0.0001, adv_usd=2e6, impact_eta=0.5, stress=vix)
    sim = Simulator(prices, BacktestConfig(costs=costs))
    trade = np.array([25_000.0, -10_000.0])
    for step in (0, 40, 79):
        m = hand_scale(vix.iloc[step], 20.0, 1.0, 4.0)
        spread, commission, impact_usd = sim.price(step, trade)
        vol = sim.volatility[step]
        np.testing.assert_allclose(spread, 0.0005 * m * np.abs(trade))
        np.testing.assert_allclose(commission, 0.0001 * np.abs(trade))
        np.testing.assert_allclose(impact_usd, 0.5 * vol / (2e6 / m) * trade ** 2)


def test_a_constant_stress_equals_base_costs_scaled_by_hand():
    """Stress at twice the reference every day = a book with twice the spread and half the ADV."""
    prices = prices_frame(seed=2)
    double = pd.Series(40.0, index=prices.index)
    stressed = CostModel(half_spread=0.0003, adv_usd=1e6, impact_eta=1.0, stress=double)
    by_hand = CostModel(half_spread=0.0006, adv_usd=5e5, impact_eta=1.0)
    policy = {"EQ": 0.6, "BD": 0.4}
    a = Simulator(prices, BacktestConfig(costs=stressed)).run(Calendar(policy, "M"))
    b = Simulator(prices, BacktestConfig(costs=by_hand)).run(Calendar(policy, "M"))
    assert a.spread_usd.sum() > 0 and a.impact_usd.sum() > 0
    np.testing.assert_allclose(a.spread_usd, b.spread_usd, rtol=1e-12)
    np.testing.assert_allclose(a.impact_usd, b.impact_usd, rtol=1e-12)
    np.testing.assert_allclose(a.nav_usd, b.nav_usd, rtol=1e-12)


def test_engine_prices_a_trade_at_the_same_stressed_costs_as_the_simulator():
    prices = prices_frame()
    vix = pd.Series(np.linspace(15, 80, len(prices)), index=prices.index)
    costs = CostModel(half_spread=pd.Series([0.0004, 0.0001], index=["EQ", "BD"]), commission=0.0001,
                      adv_usd=pd.Series([3e6, 1e7], index=["EQ", "BD"]), impact_eta=0.7, stress=vix)
    sim = Simulator(prices, BacktestConfig(costs=costs))
    policy = OptimizerPolicy({"EQ": 0.6, "BD": 0.4}, costs=costs)
    policy.start(sim.assets)
    step = 60
    date = prices.index[step]
    half_spread, adv = policy._day_costs(date)          # what the policy's Market gets on this date
    names = list(sim.assets)
    returns = prices.pct_change().dropna()
    market = Market(date=date, prices=prices.iloc[step], asset_class=pd.Series(names, index=names),
                    risk=RiskModel.from_returns(returns, 2, 252), volatility=pd.Series(sim.volatility[step], index=names),
                    adv_usd=adv, half_spread=half_spread, commission=policy._commission)
    lots = pd.DataFrame({"lot_id": ["e", "b"], "asset": names, "quantity": [6000.0, 4000.0],
                         "cost_basis": [100.0, 100.0], "acquired": ["2019-01-02"] * 2})
    data = prepare(Portfolio(lots=lots, cash_usd=20_000.0), Targets.absolute(pd.Series([0.6, 0.4], index=names), 0.1),
                   market, Settings(impact_eta=costs.impact_eta))
    buy_usd = np.array([15_000.0, 5_000.0])
    trade = Trade(buy=buy_usd / data.nav_usd, sell=np.zeros(data.shape.n_lots), short=np.zeros(2),
                  overlay_trade=np.zeros(0))
    spread, commission, impact_usd = sim.price(step, buy_usd)
    parts = linear_costs.price_parts(data, trade)
    assert spread.sum() == pytest.approx(parts["spread"] * data.nav_usd, rel=1e-12)
    assert commission.sum() == pytest.approx(parts["commission"] * data.nav_usd, rel=1e-12)
    assert impact_usd.sum() == pytest.approx(impact.price(data, trade) * data.nav_usd, rel=1e-12)
    calm_spread = costs.half_spread.to_numpy() * buy_usd
    assert spread.sum() == pytest.approx(calm_spread.sum() * hand_scale(vix.iloc[step], 20.0, 1.0, 4.0))


def test_the_optimizer_backtest_runs_on_stressed_costs_and_pays_more():
    prices = prices_frame(n=120, seed=4)
    calm = CostModel(half_spread=0.001, adv_usd=1e6)
    stressed = CostModel(half_spread=0.001, adv_usd=1e6, stress=pd.Series(60.0, index=prices.index))
    runs = {}
    for name, costs in (("calm", calm), ("stressed", stressed)):
        policy = OptimizerPolicy({"EQ": 0.6, "BD": 0.4}, costs=costs, every="M", lookback=40, risk_aversion=1e4)
        runs[name] = Simulator(prices, BacktestConfig(costs=costs)).run(policy)
    spent = {k: r.spread_usd.sum() / max(r.traded_usd.sum(), 1.0) for k, r in runs.items()}
    assert runs["stressed"].traded_usd.sum() > 0
    assert spent["stressed"] == pytest.approx(3 * spent["calm"], rel=1e-9)        # VIX 60 / 20, every fill


def test_vix_loader_reads_the_shared_file_and_drops_holiday_marks():
    import csv
    import gzip

    from optimizer.datasets import SHARED_DATA_DIR, load_vix

    path = SHARED_DATA_DIR / "vix_daily.csv.gz"
    if not path.is_file():
        pytest.skip("shared data not present")
    with gzip.open(path, "rt") as handle:
        rows = list(csv.DictReader(handle))
    closes = {pd.Timestamp(r["Date"]): float(r["vix"]) for r in rows if r["vix"] != "."}
    vix = load_vix()
    assert len(vix) == len(closes) and len(vix.attrs["holidays"]) == len(rows) - len(closes)
    assert vix.index.is_monotonic_increasing
    for date in (pd.Timestamp("2018-02-05"), pd.Timestamp("2018-12-24"), vix.index[0], vix.index[-1]):
        assert vix[date] == closes[date]
    CostModel(stress=vix).stress_multipliers(pd.bdate_range("2014-01-06", "2018-12-31"))   # no stale gaps
