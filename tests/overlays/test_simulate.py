"""Overlay policies on the unified simulator: limits, margin calls, and overlay-first vs physical-only on real data.

The book runs through :class:`optimizer.backtest.Simulator` with an overlay
(:func:`optimizer.overlays.simulate.simulate` only lays the run out as a daily table)."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from optimizer.overlays.market_data import daily_market
from optimizer.overlays.policies import DayView, JointOptimization, OverlayFirst, PhysicalOnly
from optimizer.overlays.simulate import CLASSES, ES, SPX_TRS, TY, BookConfig, simulate
from optimizer.policies.base import Orders, Policy

TARGET = BookConfig().target_weights

GROSS_LIMIT = 0.2
SWAP_LIMIT = 100e6


def _view(gross_limit: float, cash_usd: float = 2e8) -> DayView:
    rng = np.random.default_rng(7)
    history = pd.DataFrame(rng.normal(0, [0.012, 0.005], size=(260, 2)), columns=list(CLASSES))
    nav = 5e9
    physical = np.array([0.45, 0.51]) * nav  # equity 15 points under target, bonds 13 over
    return DayView(
        date=pd.Timestamp("2020-03-16"), classes=CLASSES, nav_usd=nav + cash_usd - 0.04 * nav, physical_usd=physical,
        cash_usd=cash_usd, overlay_usd=np.zeros(2), contracts={}, futures={"ES": ES, "TY": TY},
        futures_price={"ES": 2400.0, "TY": 130.0}, target=np.array([0.6, 0.38]), band_lower=np.array([0.57, 0.35]),
        band_upper=np.array([0.63, 0.41]), daily_vol=np.array([0.04, 0.01]), adv_usd=np.array([1.5e9, 1e9]),
        half_spread=np.array([2e-4, 1e-4]), impact_eta=1.0, max_trade_usd=np.array([1.5e8, 1e8]),
        gross_limit=gross_limit, initial_margin_usd=0.0, history=history)


def _gross_and_margin(view: DayView, orders) -> tuple[float, float]:
    gross = margin = 0.0
    for name, n in orders.futures_contracts.items():
        notional = abs(view.contracts.get(name, 0) + n) * view.futures[name].multiplier * view.futures_price[name]
        gross += notional
        margin += notional * view.futures[name].initial_margin
    return gross / view.nav_usd, margin


@pytest.mark.parametrize("policy", [OverlayFirst(TARGET), JointOptimization(TARGET)], ids=["overlay-first", "joint"])
def test_policies_keep_overlay_within_gross_limit_and_margin(policy):
    view = _view(gross_limit=0.1)
    orders = policy.decide_view(view)
    gross, margin = _gross_and_margin(view, orders)
    assert 0.05 < gross <= 0.1 + 1e-12  # the limit binds: the gap needs ~0.28 of NAV
    assert margin <= view.cash_usd - max(float(np.asarray(orders.trade_usd).sum()), 0.0)
    assert all(float(n).is_integer() for n in orders.futures_contracts.values())
    assert orders.futures_contracts["ES"] > 0 and orders.futures_contracts["TY"] < 0


def test_overlay_first_margin_limits_the_overlay_when_cash_is_short():
    view = _view(gross_limit=0.5, cash_usd=5e6)
    orders = OverlayFirst(TARGET).decide_view(view)
    _, margin = _gross_and_margin(view, orders)
    assert 0 < margin <= 5e6


@pytest.fixture(scope="module")
def stress_runs():
    """Autumn 2008, cash target 0.5% so margin is tight, overlay gross limit 20% of NAV."""
    market = daily_market("2007-08-01", "2008-12-31")
    config = BookConfig(target=(0.60, 0.395), gross_limit=GROSS_LIMIT,
                        swaps=(replace(SPX_TRS, counterparty_limit_usd=SWAP_LIMIT),))
    target = config.target_weights
    return {p.name: simulate(market, p, config, start="2008-09-02")
            for p in (PhysicalOnly(target), OverlayFirst(target), OverlayFirst(target, use_swaps=True),
                      JointOptimization(target))}


def test_physical_only_never_holds_futures(stress_runs):
    run = stress_runs["physical-only"]
    assert run.daily["overlay_gross"].max() == 0.0
    assert run.costs_usd["futures_trade"] == run.costs_usd["futures_roll"] == 0.0
    assert run.summary["trigger_days"] > 0 and run.costs_usd["impact"] > 0


def test_overlay_first_pays_less_impact_than_physical_only(stress_runs):
    physical, overlay = stress_runs["physical-only"], stress_runs["overlay-first"]
    assert overlay.daily["overlay_gross"].max() > 0
    assert overlay.costs_usd["impact"] < 0.5 * physical.costs_usd["impact"]
    assert overlay.summary["cost_bps"] < physical.summary["cost_bps"]


def test_overlay_within_gross_limit_whenever_it_was_sized(stress_runs):
    for name in ("overlay-first", "overlay-first-trs", "joint-optimization"):
        daily = stress_runs[name].daily
        sized = daily[daily["out_of_band_open"] & (daily["contracts_traded"] > 0)]
        assert len(sized) > 0
        # the limit is a fraction of the NAV the decision saw (before that day's trading costs)
        assert (sized["overlay_gross_usd"] <= GROSS_LIMIT * sized["nav_decision_usd"] * (1 + 1e-9)).all(), name


def test_cash_never_negative_without_a_margin_call(stress_runs):
    calls = 0
    for run in stress_runs.values():
        daily = run.daily
        assert (daily["cash_usd"] >= 0).all(), run.policy
        short = daily["cash_low_usd"] < 0
        assert daily.loc[short, "margin_call"].all(), run.policy
        assert int(daily["margin_call"].sum()) == len(run.margin_calls)
        calls += len(run.margin_calls)
        for call in run.margin_calls:
            assert call.cash_usd < call.maintenance_usd or call.cash_usd < 0
    assert calls > 0  # the tight-cash book does get called in 2008


def test_joint_optimization_holds_the_overlay_through_a_roll(stress_runs):
    run = stress_runs["joint-optimization"]
    assert run.costs_usd["futures_roll"] > 0
    assert run.summary["tracking_error_bps"] < stress_runs["physical-only"].summary["tracking_error_bps"]


def test_swap_overlay_respects_counterparty_limit_and_pays_financing(stress_runs):
    run = stress_runs["overlay-first-trs"]
    daily = run.daily
    assert daily["swap_notional_usd"].max() == pytest.approx(SWAP_LIMIT)  # the line is used in full, not more
    assert (daily["swap_notional_usd"] <= SWAP_LIMIT * (1 + 1e-12)).all()
    assert run.costs_usd["swap_spread"] > 0 and run.costs_usd["swap_trade"] > 0
    assert run.costs_usd["futures_trade"] > 0  # the rest of the gap went to futures
    assert stress_runs["overlay-first"].costs_usd["swap_trade"] == 0.0


class _HoldFutures(Policy):
    """Buy ``n`` ES contracts on the first day, then never trade (to watch marks and rolls)."""

    name = "hold-futures"

    def __init__(self, n: int):
        super().__init__(TARGET)
        self.n, self.done = n, False

    def decide(self, date, state):
        orders = Orders(np.zeros(len(state.assets)), futures_contracts=None if self.done else {"ES": self.n})
        self.done = True
        return orders


class _NoTrade(Policy):
    name = "no-trade"

    def __init__(self):
        super().__init__(TARGET)

    def decide(self, date, state):
        return None


def test_held_futures_roll_and_earn_total_return_minus_cash():
    """H1 2019: 500 ES held through the March and June rolls. Costs are whole-contract exact;
    futures P&L (the NAV difference to an idle book) matches sum of exposure x (equity total
    return - cash return) to within the cost-of-carry approximation."""
    market = daily_market("2018-01-01", "2019-06-28")
    config = BookConfig(band=0.5)  # no band ever triggers
    held = simulate(market, _HoldFutures(500), config, start="2019-01-02")
    idle = simulate(market, _NoTrade(), config, start="2019-01-02")
    assert held.costs_usd["futures_trade"] == pytest.approx(500 * ES.cost_per_contract_usd)
    rolls = 2  # 2019-03-08 and 2019-06-14 (five business days before the third Fridays)
    assert held.costs_usd["futures_roll"] == pytest.approx(rolls * 500 * (2 * ES.cost_per_contract_usd + 6.25))
    sim = market.loc["2019-01-02":]
    exposure = 500 * ES.multiplier * sim["spx"].shift(1)
    expected = 0.0  # excess return on the exposure, accumulated in cash that earns the cash rate
    for x, eq, cash in zip(exposure.iloc[1:], sim["eq_ret"].iloc[1:], sim["cash_ret"].iloc[1:]):
        expected = expected * (1 + cash) + x * (eq - cash)
    pnl = held.daily["nav_usd"].iloc[-1] - idle.daily["nav_usd"].iloc[-1]
    costs = sum(held.costs_usd.values())  # paid early, so their lost interest is within the tolerance
    notional = 500 * ES.multiplier * sim["spx"].iloc[0]
    assert abs(pnl + costs - expected) < 1e-4 * notional, (pnl + costs, expected)


def _calls(contracts: float, strike: float, expiry: str):
    from optimizer.overlays import OptionPosition

    return OptionPosition("SPX C", "US_EQUITY", "call", strike=strike, expiry=pd.Timestamp(expiry),
                          contracts=contracts, multiplier=100.0)


def test_options_settle_their_intrinsic_value_into_cash_at_expiry():
    """Long 2,000 SPX 2600 calls expiring 2019-03-15: after expiry the book holds no option and
    is richer than an option-free book by the payoff (plus a few days' interest)."""
    market = daily_market("2018-01-01", "2019-04-30")
    option = _calls(2000, 2600.0, "2019-03-15")
    config = BookConfig(band=0.5, options=(option,))
    with_option = simulate(market, _NoTrade(), config, start="2019-01-02").daily
    without = simulate(market, _NoTrade(), BookConfig(band=0.5), start="2019-01-02").daily
    assert with_option.loc[:"2019-03-14", "option_value_usd"].gt(0).all()
    assert with_option.loc["2019-03-15":, "option_value_usd"].eq(0).all()
    payoff = (market.loc["2019-03-15", "spx"] - 2600.0) * 2000 * 100.0
    assert payoff > 0
    gap = with_option["nav_usd"].iloc[-1] - without["nav_usd"].iloc[-1]
    assert gap == pytest.approx(payoff, rel=0.01)


def test_policies_count_option_deltas_as_exposure():
    """Deep in-the-money calls worth ~7% of NAV in equity delta: physical-only sees equity above
    its band on day one and sells physical equity until physical + delta is back at target."""
    market = daily_market("2018-01-01", "2019-03-29")
    option = _calls(2000, 1000.0, "2019-12-20")  # delta ~ 1 on SPX ~2500: ~$0.5bn of exposure
    run = simulate(market, PhysicalOnly(TARGET), BookConfig(options=(option,)), start="2019-01-02").daily
    first = run.iloc[0]
    assert first["option_delta_usd"] > 0.06 * first["nav_usd"]
    assert first["out_of_band_open"]
    later = run.iloc[1]  # the capped sales (10% of ADV per day) finish on day two
    assert not later["out_of_band_close"]
    assert later["eq_exposure"] == pytest.approx(0.60, abs=0.002)
    physical_equity = later["eq_exposure"] * later["nav_usd"] - later["option_delta_usd"]
    assert physical_equity < 0.55 * later["nav_usd"]


def test_margin_call_met_by_cutting_the_overlay_instead_of_selling_physical():
    market = daily_market("2007-08-01", "2008-12-31")
    base = BookConfig(target=(0.60, 0.395), gross_limit=GROSS_LIMIT)
    sell = simulate(market, JointOptimization(base.target_weights), base, start="2008-09-02")
    cut = simulate(market, JointOptimization(base.target_weights), replace(base, margin_call_action="reduce_overlay"),
                   start="2008-09-02")
    assert sell.margin_calls and cut.margin_calls
    assert (cut.daily["cash_usd"] >= 0).all()
    # Cutting the overlay frees margin, not cash: physical is sold only when cash went negative.
    assert cut.costs_usd["forced_sale"] < 0.1 * sell.costs_usd["forced_sale"]
    positive_cash_calls = [c for c in cut.margin_calls if c.cash_usd >= 0]
    assert positive_cash_calls
    for call in positive_cash_calls:  # met by closing contracts alone
        assert cut.daily.loc[call.date, "call_contracts_closed"] > 0
        assert cut.daily.loc[call.date, "call_physical_sold_usd"] == 0.0
    assert sell.daily["call_contracts_closed"].eq(0).all()
    assert sell.daily.loc[sell.daily["margin_call"], "call_physical_sold_usd"].gt(0).all()


def test_overlay_first_migrates_the_overlay_into_physical_within_its_schedule():
    market = daily_market("2018-01-01", "2019-12-31")
    run = simulate(market, OverlayFirst(TARGET, migration_days=10), BookConfig(), start="2019-01-02")
    daily = run.daily
    triggers = list(daily.index[daily["out_of_band_open"]])
    assert len(triggers) == 1
    after = daily.loc[triggers[0]:, "overlay_gross"]
    assert after.iloc[0] > 0.03  # the gap went into futures on the trigger day ...
    assert daily.loc[triggers[0], "physical_traded_usd"] == 0.0
    held_days = int((after > 0).sum())
    assert 10 <= held_days <= 15  # ... and left them in ~10 equal steps
    assert after.iloc[held_days:].eq(0).all()
