"""Known results on real data: rebalancing tames drift and volatility; wider bands and
rarer checks mean fewer trades, less turnover and lower costs; the optimizer policy runs
end to end with one Rebalancer and names the lots it sells."""

import pandas as pd
import pytest

from optimizer.backtest import BacktestConfig, Simulator
from optimizer.model import TaxRules
from optimizer.policies import Bands, BuyAndHold, Calendar, CalendarThreshold, OptimizerPolicy, Threshold
from problems import real_data

SIXTY_FORTY = {"US_EQUITY": 0.6, "UST10Y": 0.4}
MULTI = {"MTUM": .08, "QUAL": .08, "SIZE": .08, "USMV": .08, "VLUE": .08, "SP500": .10,
         "UST2Y": .15, "UST10Y": .15, "UST30Y": .15, "CASH": .05}


@pytest.fixture(scope="module")
def stock_bond():
    prices = real_data.stock_bond_monthly()
    return Simulator(prices[["US_EQUITY", "UST10Y"]], cash_index=prices["BILLS"])


@pytest.fixture(scope="module")
def daily():
    prices = real_data.multi_asset_daily()
    return Simulator(prices, cash_index=prices["CASH"])


def test_sixty_forty_rebalanced_has_lower_volatility_and_drift_than_buy_and_hold(stock_bond):
    hold = stock_bond.run(BuyAndHold(SIXTY_FORTY)).metrics()
    assert hold["drift_max"] > 0.25                      # 1953-2020: buy-and-hold ends far from 60/40
    for policy in (Calendar(SIXTY_FORTY, "A"), Threshold(SIXTY_FORTY, Bands.absolute(0.05))):
        m = stock_bond.run(policy).metrics()
        assert m["volatility"] < 0.8 * hold["volatility"], policy.name
        assert m["drift_mean"] < 0.1 * hold["drift_mean"], policy.name
        assert m["tracking_error"] < 0.2 * hold["tracking_error"], policy.name
        assert m["rebalance_events"] > 5


def test_calendar_rebalancing_trades_less_as_the_calendar_gets_rarer(stock_bond, daily):
    for sim in (stock_bond, daily):
        target = SIXTY_FORTY if sim is stock_bond else MULTI
        runs = [sim.run(Calendar(target, f)).metrics() for f in ("M", "Q", "S", "A")]
        events = [m["rebalance_events"] for m in runs]
        assert events == sorted(events, reverse=True) and events[0] > 3 * events[-1]
        turnover = [m["turnover"] for m in runs]
        assert turnover == sorted(turnover, reverse=True)
        assert runs[-1]["trading_cost_bps"] < runs[0]["trading_cost_bps"]


def test_wider_bands_mean_fewer_events_less_turnover_lower_costs(daily):
    runs = [daily.run(Threshold(MULTI, Bands.absolute(w))).metrics() for w in (0.01, 0.02, 0.03, 0.05)]
    for key in ("rebalance_events", "turnover", "trading_cost_bps"):
        values = [m[key] for m in runs]
        assert values == sorted(values, reverse=True) and values[0] > 2 * values[-1], key
    assert runs[0]["drift_mean"] < runs[-1]["drift_mean"]
    relative = [daily.run(Threshold(MULTI, Bands.relative_to_target(f))).metrics()["rebalance_events"]
                for f in (0.1, 0.25, 0.5)]
    assert relative == sorted(relative, reverse=True) and relative[0] > relative[-1]


def test_rarer_checks_mean_fewer_events_less_turnover_lower_costs(daily):
    runs = [daily.run(CalendarThreshold(MULTI, Bands.absolute(0.01), check=c)).metrics() for c in ("D", "W", "M", "Q")]
    for key in ("rebalance_events", "turnover", "trading_cost_bps"):
        values = [m[key] for m in runs]
        assert values == sorted(values, reverse=True) and values[0] > values[-1], key


def test_trading_to_the_band_edge_trades_less_than_to_target(daily):
    to_target = daily.run(Threshold(MULTI, Bands.absolute(0.02), trade_to="target")).metrics()
    edge = daily.run(Threshold(MULTI, Bands.absolute(0.02), trade_to="edge")).metrics()
    inner = daily.run(Threshold(MULTI, Bands.absolute(0.02), trade_to="inner")).metrics()
    assert edge["turnover"] < inner["turnover"] < to_target["turnover"]
    assert edge["drift_mean"] > to_target["drift_mean"]


def test_asymmetric_bands_let_the_winner_run_longer(stock_bond):
    symmetric = stock_bond.run(Threshold(SIXTY_FORTY, Bands.absolute(0.05))).metrics()
    lazy_trim = Bands.asymmetric(pd.Series({"US_EQUITY": 0.05, "UST10Y": 0.10}),
                                 pd.Series({"US_EQUITY": 0.10, "UST10Y": 0.05}))
    m = stock_bond.run(Threshold(SIXTY_FORTY, lazy_trim)).metrics()
    assert m["rebalance_events"] < symmetric["rebalance_events"]


def test_optimizer_policy_tracks_better_than_holding_and_realizes_less_gain_when_taxed():
    prices = real_data.multi_asset_daily(start="2018-01-01", end="2020-12-31")
    realized = {}
    for tax in (TaxRules(), TaxRules.none()):
        sim = Simulator(prices, BacktestConfig(tax=tax), cash_index=prices["CASH"])
        hold = sim.run(BuyAndHold(MULTI)).metrics()
        policy = OptimizerPolicy(MULTI, risk_aversion=1000.0, every="M", lookback=126, tax=tax)
        result = sim.run(policy)
        m = result.metrics()
        assert policy.failures == []
        assert policy.decisions >= 30 and policy.rebalancer.builds == 1      # lots grouped: one shape
        assert m["rebalance_events"] > 5
        assert m["tracking_error"] < 0.9 * hold["tracking_error"]
        assert (result.cash_usd >= 0).all()
        assert m["wash_sale_violations"] == 0
        realized[tax.short_term_rate > 0] = m["realized_short_usd"] + m["realized_long_usd"]
    # taxed, it sells its high-basis and losing lots and keeps its gains; untaxed it has no reason
    # to (its equal lots are relieved first in, first out: optimizer/lot_pooling.py)
    assert realized[True] < realized[False]


def test_optimizer_sells_exactly_the_lots_it_names():
    """A sell order is the named lots' value, so no rounding remainder is relieved from other
    (possibly loss) lots by the ledger's default method."""
    prices = real_data.stocks_daily(start="2007-01-03", end="2009-12-31")
    target = pd.Series(0.98 / prices.shape[1], index=prices.columns)
    seen = []

    class Recording(OptimizerPolicy):
        def decide(self, date, state):
            orders = super().decide(date, state)
            if orders is not None and orders.lot_sales:
                seen.append((state.prices.copy(), orders))
            return orders

    result = Simulator(prices, BacktestConfig(tax=TaxRules())).run(Recording(target))
    assert seen
    for price, orders in seen:
        for asset, sales in orders.lot_sales.items():
            i = list(prices.columns).index(asset)
            if orders.trade_usd[i] < 0:
                assert orders.trade_usd[i] == pytest.approx(-price[i] * sum(sales.values()), rel=1e-12)
    assert result.wash_sale_violations() == 0
