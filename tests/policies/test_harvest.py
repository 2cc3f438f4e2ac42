"""The rule-based loss harvester on hand-made price paths.

Four assets: B moves with A (same daily factor, small idiosyncratic wiggle), C half with
it, D on its own. A drops 15% on day ``DROP``; every other asset drifts up, so the only
loss in the book is A's. The expected harvest (which lot, what loss, which substitute,
when the swap back happens) is worked out from the prices here, not read off the policy.
"""

import numpy as np
import pandas as pd
import pytest

from optimizer.backtest import BacktestConfig, CostModel, Simulator
from optimizer.backtest.audit import wash_sale_violations
from optimizer.backtest.metrics import losses_harvested_usd
from optimizer.errors import InputError
from optimizer.model import TaxRules
from optimizer.policies import Bands, LossHarvester, Threshold

ASSETS = ["A", "B", "C", "D"]
TARGET = pd.Series(0.245, index=ASSETS)          # 98% invested, 2% cash
WIDE = Bands.relative_to_target(0.9)              # the band layer stays quiet
DROP = 60
DAYS = 160
INITIAL = 1_000_000.0
NO_COSTS = CostModel(half_spread=0.0, commission=0.0, impact_eta=0.0)


def paths(drop: float = 0.15, days: int = DAYS) -> pd.DataFrame:
    t = np.arange(days)
    factor = 0.006 * np.sin(0.9 * t) + 0.003 * np.cos(2.1 * t)
    returns = np.column_stack([
        factor + 0.001 * np.sin(5.3 * t),
        factor + 0.001 * np.cos(4.7 * t) + 0.001,
        0.5 * factor + 0.006 * np.sin(1.7 * t + 1.0) + 0.001,
        0.008 * np.cos(0.37 * t + 2.0) + 0.001,
    ])
    returns[0] = 0.0
    returns[DROP, 0] = -drop
    dates = pd.bdate_range("2021-01-04", periods=days)
    return pd.DataFrame(100.0 * np.cumprod(1.0 + returns, axis=0), index=dates, columns=ASSETS)


def run(policy, prices=None, costs=NO_COSTS):
    prices = paths() if prices is None else prices
    return Simulator(prices, BacktestConfig(initial_usd=INITIAL, costs=costs)).run(policy), prices


def week_ends(dates: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Last date of each ISO week in ``dates`` (the harvester's monitoring dates), not the final date."""
    keys = [tuple(d.isocalendar()[:2]) for d in dates]
    return pd.DatetimeIndex([d for k, d, nxt in zip(keys, dates, keys[1:]) if k != nxt])


def loss_reliefs(result):
    reliefs = result.lot_reliefs
    return reliefs[reliefs["gain_usd"] < -0.01]


def test_harvests_the_loss_into_the_most_correlated_asset_and_swaps_back_after_31_days():
    policy = LossHarvester(TARGET, bands=WIDE, min_loss_pct=0.05, min_loss_usd=100.0)
    result, prices = run(policy)
    monitoring = week_ends(prices.index)
    harvest_day = monitoring[monitoring >= prices.index[DROP]][0]
    # the most correlated asset with A, from the trailing returns (plain pandas)
    corr = prices.loc[:harvest_day].pct_change().iloc[-253:].corr()["A"].drop("A")
    assert corr.idxmax() == "B"
    losses = loss_reliefs(result)
    assert list(losses["asset"]) == ["A"] and losses["date"].iloc[0] == harvest_day
    shares = 0.245 * INITIAL / prices["A"].iloc[0]
    expected_loss = shares * (prices["A"].iloc[0] - prices.loc[harvest_day, "A"])
    assert losses["gain_usd"].iloc[0] == pytest.approx(-expected_loss, rel=1e-9)
    assert losses_harvested_usd(result) == pytest.approx(expected_loss, rel=1e-9)
    buys = result.buys[result.buys["date"] > prices.index[0]]
    assert buys.iloc[0][["date", "asset"]].tolist() == [harvest_day, "B"]
    # swap back: first monitoring date at least 31 calendar days later; B sold, A bought
    back_day = monitoring[monitoring >= harvest_day + pd.Timedelta(days=31)][0]
    a_buys = buys[buys["asset"] == "A"]
    assert a_buys["date"].tolist() == [back_day]
    b_sales = result.lot_reliefs[(result.lot_reliefs["asset"] == "B")]
    assert b_sales["date"].unique().tolist() == [back_day]
    weights = result.weights
    assert weights.loc[back_day, "A"] == pytest.approx(0.245, abs=0.01)
    assert weights.loc[back_day, "B"] == pytest.approx(0.245, abs=0.01)
    assert policy.harvests_ == 1 and policy.swap_backs_ == 1
    assert len(wash_sale_violations(result.buys, result.lot_reliefs)) == 0


def test_substitute_is_never_in_the_same_wash_sale_group():
    tax = TaxRules(identical_groups={"A": "ab", "B": "ab"})
    result, prices = run(LossHarvester(TARGET, tax=tax, bands=WIDE, min_loss_usd=100.0))
    corr = prices.iloc[:DROP + 5].pct_change().corr()["A"].drop(["A", "B"])
    first_buy = result.buys[result.buys["date"] > prices.index[0]].iloc[0]
    assert first_buy["asset"] == corr.idxmax() == "C"


@pytest.mark.parametrize("kwargs", [
    {"min_loss_pct": 0.20},            # A loses 15%: under the percentage threshold
    {"min_loss_usd": 1e6},             # under the dollar threshold
    {"min_holding_days": 400},         # the lot is too young
])
def test_losses_below_a_threshold_are_not_harvested(kwargs):
    result, _ = run(LossHarvester(TARGET, bands=WIDE, **{"min_loss_usd": 100.0, **kwargs}))
    assert len(loss_reliefs(result)) == 0
    assert result.events.sum() == 0


def test_a_small_drop_is_not_harvested():
    result, _ = run(LossHarvester(TARGET, bands=WIDE, min_loss_pct=0.05, min_loss_usd=100.0), paths(drop=0.03))
    assert len(loss_reliefs(result)) == 0


def test_if_pays_keeps_the_substitute_while_selling_it_would_realize_a_gain():
    policy = LossHarvester(TARGET, bands=WIDE, min_loss_usd=100.0, swap_back="if_pays")
    result, _ = run(policy)
    assert policy.harvests_ == 1 and policy.swap_backs_ == 0       # B only rose: its sale would gain
    assert (result.lot_reliefs["asset"] == "B").sum() == 0
    assert "A" in policy.swaps_


def test_without_losses_it_rebalances_like_the_threshold_policy():
    prices = paths(drop=-0.50)           # A jumps instead of dropping: no loss anywhere
    bands = Bands.relative_to_target(0.2)
    harvester, _ = run(LossHarvester(TARGET, bands=bands, min_trade_usd=0.0), prices)
    threshold, _ = run(Threshold(TARGET, bands, check="D", trade_to="target"), prices)
    assert harvester.events.sum() == threshold.events.sum() > 0
    np.testing.assert_allclose(harvester.holdings_usd, threshold.holdings_usd, rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_wash_sale_on_volatile_random_paths(seed):
    rng = np.random.default_rng(seed)
    n, days = 6, 320
    factor = rng.normal(0.0, 0.02, days)
    returns = 0.8 * factor[:, None] + rng.normal(0.0, 0.02, (days, n))
    returns[0] = 0.0
    prices = pd.DataFrame(100.0 * np.cumprod(1.0 + returns, axis=0), index=pd.bdate_range("2020-01-02", periods=days),
                          columns=[f"S{i}" for i in range(n)])
    target = pd.Series(0.98 / n, index=prices.columns)
    tax = TaxRules(identical_groups={"S0": "g", "S1": "g"})
    policy = LossHarvester(target, tax=tax, bands=Bands.relative_to_target(0.2), min_loss_usd=50.0,
                           min_holding_days=0, whole_shares=bool(seed % 2))
    result = Simulator(prices, BacktestConfig(initial_usd=INITIAL)).run(policy)
    assert policy.harvests_ >= 3
    assert len(wash_sale_violations(result.buys, result.lot_reliefs)) == 0
    reliefs, buys = result.lot_reliefs, result.buys
    group = {"S0": "g", "S1": "g"}
    losses = reliefs[reliefs["gain_usd"] < -0.01].assign(group=lambda f: f["asset"].map(group).fillna(f["asset"]))
    bought = buys.assign(group=lambda f: f["asset"].map(group).fillna(f["asset"]))
    pairs = losses.merge(bought, on="group", suffixes=("_loss", "_buy"))
    near = (pairs["date_buy"] - pairs["date_loss"]).abs() <= pd.Timedelta(days=30)
    assert not (near & (pairs["lot_id_loss"] != pairs["lot_id_buy"])).any()     # across the group too
    if seed % 2:
        later = buys[buys["date"] > prices.index[0]]
        np.testing.assert_allclose(later["shares"], np.round(later["shares"]), atol=1e-9)


def test_bad_parameters_raise_typed_errors():
    with pytest.raises(InputError, match="swap_back"):
        LossHarvester(TARGET, swap_back="never")
    with pytest.raises(InputError, match="swap_back_days"):
        LossHarvester(TARGET, swap_back_days=30)
    with pytest.raises(InputError, match="min_loss_pct"):
        LossHarvester(TARGET, min_loss_pct=1.5)


def test_losses_harvested_count_only_allowed_losses():
    """Hand case: a $100 loss washed by a buy 4 days later moves into the new lot's basis
    (95 + 10 = 105 per share), which is then sold at 80: $250 allowed, not $350."""
    from types import SimpleNamespace

    from optimizer.backtest.ledger import Ledger

    ledger = Ledger(["A"])
    ledger.buy(0, 10, 100.0, "2021-01-04")
    ledger.sell(0, 10, 90.0, "2021-03-01")
    ledger.buy(0, 10, 95.0, "2021-03-05")
    ledger.sell(0, 10, 80.0, "2021-06-01")
    run_like = SimpleNamespace(lot_reliefs=ledger.reliefs_frame(), disallowed_loss_usd=ledger.disallowed_loss_usd())
    assert losses_harvested_usd(run_like) == pytest.approx(250.0)
