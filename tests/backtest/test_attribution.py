"""Tactical tilts and return attribution: the parts add up exactly, by hand and on real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optimizer import Targets, TaxRules
from optimizer.backtest import BacktestConfig, CostModel, Simulator
from optimizer.backtest.attribution import PARTS, attribute_returns
from optimizer.datasets import load_factor_etfs
from optimizer.errors import InputError
from optimizer.policies import Orders, Policy
from optimizer.policies.tactical import TargetPathCalendar, path_on, tactical_path


# ----------------------------------------------------------------------------- Targets.with_tilt


def test_tilt_is_clipped_to_its_limit_and_the_rest_goes_to_cash():
    strategic = Targets.absolute({"A": 0.55, "B": 0.4}, 0.05, cash_weight=0.05)
    tactical = strategic.with_tilt({"A": 0.08, "B": -0.03}, limit=0.05)
    assert tactical.weight["A"] == pytest.approx(0.60)          # +8% clipped to +5%
    assert tactical.weight["B"] == pytest.approx(0.37)
    assert tactical.cash_weight == pytest.approx(0.05 - 0.05 + 0.03)
    assert tactical.band_lower["A"] == pytest.approx(0.55) and tactical.band_upper["A"] == pytest.approx(0.65)
    assert tactical.band_lower["B"] == pytest.approx(0.32) and tactical.band_upper["B"] == pytest.approx(0.42)
    assert strategic.weight["A"] == 0.55                         # the strategic targets are unchanged


def test_a_net_negative_tilt_raises_cash_and_a_net_positive_one_needs_cash():
    strategic = Targets.absolute({"A": 0.5, "B": 0.4}, 0.05, cash_weight=0.1)
    tactical = strategic.with_tilt({"A": -0.04}, limit=0.1)
    assert tactical.cash_weight == pytest.approx(0.14)
    assert strategic.with_tilt({"A": 0.1}, limit=0.1).cash_weight == pytest.approx(0.0)
    with pytest.raises(InputError) as caught:
        strategic.with_tilt({"A": 0.1, "B": 0.05}, limit=0.1)
    assert caught.value.field == "targets.tilt"


def test_infeasible_or_unknown_tilts_name_the_asset():
    strategic = Targets.absolute({"A": 0.97, "B": 0.03}, 0.02)
    with pytest.raises(InputError) as caught:
        strategic.with_tilt({"A": 0.05, "B": -0.05}, limit=0.1)       # B would be -2%
    assert caught.value.asset == "B"
    with pytest.raises(InputError) as caught:
        strategic.with_tilt({"C": 0.01}, limit=0.1)
    assert caught.value.asset == "C"
    with pytest.raises(InputError):
        strategic.with_tilt({"A": float("nan")}, limit=0.1)


def test_per_asset_limits_and_the_tactical_path():
    strategic = Targets.absolute({"A": 0.5, "B": 0.5}, 0.05)
    dates = pd.to_datetime(["2020-01-31", "2020-02-28"])
    tilts = pd.DataFrame({"A": [0.2, -0.01], "B": [-0.2, 0.01]}, index=dates)
    path = tactical_path(strategic, tilts, limit=pd.Series({"A": 0.05, "B": 0.1}))
    np.testing.assert_allclose(path.to_numpy(), [[0.55, 0.4], [0.49, 0.51]])     # row 1 leaves 5% in cash
    with pytest.raises(InputError) as caught:     # clipped +10% / -5% would need cash the targets do not hold
        tactical_path(strategic, tilts, limit=pd.Series({"A": 0.1, "B": 0.05}))
    assert caught.value.field == "targets.tilt"


# ----------------------------------------------------------------------------- attribution by hand


class _SellOnce(Policy):
    """Sells ``usd`` of the first asset on the second date, then holds."""

    name = "sell_once"

    def __init__(self, target, usd):
        super().__init__(target)
        self.usd = usd

    def decide(self, date, state):
        if state.step != 1:
            return None
        trade = np.zeros(len(state.assets))
        trade[0] = -self.usd
        return Orders(trade)


def test_attribution_by_hand_with_costs_tax_and_cash_interest():
    dates = pd.bdate_range("2021-03-01", periods=3)
    prices = pd.DataFrame({"A": [100.0, 110.0, 99.0], "B": [100.0, 100.0, 105.0]}, index=dates)
    cash_index = pd.Series([1.0, 1.001, 1.002], index=dates)
    config = BacktestConfig(initial_usd=1e6, tax=TaxRules(), tax_schedule="immediate",
                            costs=CostModel(half_spread=0.001, commission=0.0, impact_eta=0.0))
    result = Simulator(prices, config, cash_index=cash_index).run(_SellOnce({"A": 0.6, "B": 0.4}, 100_000.0))
    strategic = pd.Series({"A": 0.5, "B": 0.5})
    tactical = pd.DataFrame({"A": [0.6, 0.5], "B": [0.4, 0.4]}, index=dates[:2])
    att = attribute_returns(result, strategic, tactical)

    # date 1: A +10%, B 0%, cash +0.1%; sold 100k of A at a 0.1% half spread
    nav1 = 1_060_000.0 - 100.0
    row = att.daily.iloc[1]
    assert row["account"] == pytest.approx(nav1 / 1e6 - 1, abs=1e-14)
    assert row["strategic"] == pytest.approx(0.05, abs=1e-14)
    assert row["tilt"] == pytest.approx(0.1 * 0.1 - 0.1 * 0.0, abs=1e-14)
    assert row["implementation"] == pytest.approx(0.0, abs=1e-14)
    assert row["trading_costs"] == pytest.approx(-100.0 / 1e6, abs=1e-14)
    # date 2: A -10%, B +5%, cash 1.002/1.001 - 1; the short-term gain of the sale is taxed
    c2 = 1.002 / 1.001 - 1
    sold_shares = 100_000.0 / 110.0
    tax = 0.37 * sold_shares * 10.0
    a_weight, b_weight, cash_weight = (6000 - sold_shares) * 110 / nav1, 400_000 / nav1, 99_900 / nav1
    nav2 = (6000 - sold_shares) * 99 + 4000 * 105 + 99_900 * (1 + c2) - tax
    row = att.daily.iloc[2]
    assert row["account"] == pytest.approx(nav2 / nav1 - 1, abs=1e-12)
    assert row["strategic"] == pytest.approx(0.5 * -0.1 + 0.5 * 0.05, abs=1e-14)
    assert row["tilt"] == pytest.approx(0.0 * -0.1 - 0.1 * 0.05 + 0.1 * c2, abs=1e-14)
    assert row["implementation"] == pytest.approx((a_weight - 0.5) * -0.1 + (b_weight - 0.4) * 0.05
                                                  + (cash_weight - 0.1) * c2, abs=1e-12)
    assert row["taxes"] == pytest.approx(-tax / nav1, abs=1e-12)
    assert row["trading_costs"] == 0.0
    assert att.daily["residual"].abs().max() < 1e-14
    # totals
    assert att.total_usd["account"] == pytest.approx(nav2 - 1e6, abs=1e-6)
    assert att.total_usd[list(PARTS)].sum() == pytest.approx(nav2 - 1e6, abs=1e-6)
    assert att.total_usd["taxes"] == pytest.approx(-tax, abs=1e-6)
    assert att.total_return["account"] == pytest.approx(nav2 / 1e6 - 1, abs=1e-13)
    assert att.total_return[list(PARTS)].sum() == pytest.approx(att.total_return["account"], abs=1e-14)


# ----------------------------------------------------------------------------- attribution on real data


@pytest.fixture(scope="module")
def etf_run():
    prices = load_factor_etfs().loc["2019-06-01":"2020-12-31"]
    strategic = Targets.absolute({a: 0.2 for a in prices.columns}, 0.05)
    month_ends = prices.groupby(prices.index.to_period("M")).tail(1).index
    momentum = prices.pct_change(63).reindex(month_ends).fillna(0.0)
    tilts = momentum.sub(momentum.mean(axis=1), axis=0) * 0.5            # tilt toward 3-month winners
    tilts.loc[prices.index[0]] = 0.0
    tactical = tactical_path(strategic, tilts.sort_index(), limit=0.04)
    config = BacktestConfig(initial_usd=5e7, costs=CostModel(adv_usd=2e8))   # impact matters at this size
    flows = pd.Series(0.0, index=prices.index)
    flows.iloc[100] = 1e6
    flows.iloc[300] = -2e6
    policy = TargetPathCalendar(tactical, "M", name="tactical_monthly")
    result = Simulator(prices, config, flows=flows).run(policy)
    return prices, strategic, tactical, result


def test_real_backtest_parts_add_up_exactly(etf_run):
    prices, strategic, tactical, result = etf_run
    att = attribute_returns(result, strategic.weight, tactical)
    assert att.daily["residual"].abs().max() < 1e-13
    gain = result.nav_usd[-1] - 5e7 - result.flows_usd.sum()
    assert att.total_usd["account"] == pytest.approx(gain, rel=1e-12)
    assert att.total_usd[list(PARTS)].sum() == pytest.approx(gain, rel=1e-10)
    assert att.total_return[list(PARTS)].sum() == pytest.approx(att.total_return["account"], abs=1e-12)
    # every cost and tax dollar of the run is in the cost parts
    charged = result.spread_usd.sum() + result.commission_usd.sum() + result.impact_usd.sum()
    assert att.total_usd["trading_costs"] == pytest.approx(-charged, rel=1e-12)
    assert att.total_usd["taxes"] == pytest.approx(-result.tax_paid_usd.sum(), rel=1e-12, abs=1e-6)
    assert charged > 0 and result.tax_paid_usd.sum() > 0


def test_real_backtest_strategic_part_is_the_costless_policy_portfolio(etf_run):
    prices, strategic, tactical, result = etf_run
    att = attribute_returns(result, strategic.weight, tactical)
    independent = prices.pct_change().fillna(0.0) @ strategic.weight.reindex(prices.columns)
    np.testing.assert_allclose(att.daily["strategic"].to_numpy(), independent.to_numpy(), atol=1e-14)
    # with the tactical path as "strategic" and no tilt, the tilt part vanishes and implementation is unchanged
    same = attribute_returns(result, tactical)
    assert same.daily["tilt"].abs().max() == 0.0
    np.testing.assert_allclose(same.daily["implementation"], att.daily["implementation"], atol=1e-15)


def test_path_must_cover_the_first_date():
    calendar = pd.bdate_range("2020-01-01", periods=3)
    late = pd.DataFrame({"A": [1.0]}, index=calendar[1:2])
    with pytest.raises(InputError):
        path_on(late, calendar, ("A",), "tactical")


def test_attribution_of_a_scheduled_execution_run(etf_run):
    from optimizer.execution import ScheduledExecution

    prices, strategic, tactical, _ = etf_run
    costs = CostModel(adv_usd=2e8)
    wrapper = ScheduledExecution(TargetPathCalendar(tactical, "M"), days=5, method="twap", costs=costs)
    result = Simulator(prices, BacktestConfig(initial_usd=5e7, costs=costs)).run(wrapper)
    att = attribute_returns(result, strategic.weight, tactical)
    assert att.daily["residual"].abs().max() < 1e-13
    shortfall = wrapper.shortfall(result)
    assert att.total_usd["trading_costs"] == pytest.approx(-shortfall["cost_usd"].sum(), rel=1e-10)
