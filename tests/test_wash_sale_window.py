"""The engine never returns a trade list that breaks the 61-day wash-sale window.

Hand-made cases for each rule, and a property test over random books with recent buys
(held or already sold), recent loss sales and groups of substantially identical assets.
The checker below is separate code: it reads only the inputs and the result's tables.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from case_factories import DATE, make_case, one_factor_risk
from optimizer import Portfolio, Rebalancer, Settings, TaxRules
from problems.synthetic import synthetic_case

WINDOW = pd.Timedelta(days=30)
PROPERTY = settings(max_examples=30, deadline=None, derandomize=True, database=None)
REBALANCER = Rebalancer(max_programs=64)


def window_breaches(portfolio: Portfolio, tax: TaxRules, result, date: pd.Timestamp) -> list[str]:
    """Every way the result breaks the window, from the inputs and the result's tables only."""
    group = lambda asset: tax.identical_groups.get(asset, asset)      # noqa: E731
    lots = portfolio.lots.set_index("lot_id")
    bought = {group(a) for a, usd in result.trades["buy_usd"].items() if usd > 1.0}
    loss_lots = [(lot_id, row) for lot_id, row in result.lot_sales.iterrows() if row["gain_usd"] < -0.01]
    breaches = []
    for lot_id, row in loss_lots:
        g = group(row["asset"])
        if g in bought:
            breaches.append(f"{lot_id}: loss sold while its group {g!r} buys")
        for other, held in lots.iterrows():
            if other != lot_id and group(held["asset"]) == g and date - held["acquired"] <= WINDOW:
                breaches.append(f"{lot_id}: loss sold {(date - held['acquired']).days} days after buying {other}")
        for _, buy in portfolio.recent_buys.iterrows():
            if buy["lot_id"] != lot_id and group(buy["asset"]) == g and pd.Timedelta(0) <= date - buy["acquired"] <= WINDOW:
                breaches.append(f"{lot_id}: loss sold after the recent buy of {buy['asset']}")
    for asset, when in portfolio.recent_loss_sales.items():
        if pd.Timedelta(0) <= date - when <= WINDOW and group(asset) in bought:
            breaches.append(f"buys group {group(asset)!r} {(date - when).days} days after a loss sale of {asset}")
    return breaches


def overweight_loss_case(**portfolio_fields):
    """X is overweight and held in one lot at a loss; Y (in X's group when asked) and Z are underweight."""
    risk = one_factor_risk(["X", "Y", "Z"], [1.0, 0.98, 0.3], 0.04, [0.002, 0.002, 0.01])
    case = make_case({"X": 100.0, "Y": 100.0, "Z": 100.0},
                     [("x-old", "X", 7000.0, 140.0, 400), ("z", "Z", 2000.0, 90.0, 400)],
                     cash_usd=100_000.0, target={"X": 0.4, "Y": 0.3, "Z": 0.3}, risk=risk,
                     settings=Settings(risk_aversion=200.0), tax=TaxRules())
    return replace(case, portfolio=replace(case.portfolio, **portfolio_fields))


def loss_sold(result) -> float:
    sales = result.lot_sales
    return float(sales.loc[sales["gain_usd"] < 0, "proceeds_usd"].sum())


def test_the_loss_is_harvested_when_nothing_blocks_it():
    result = REBALANCER.solve_case(overweight_loss_case())
    assert loss_sold(result) > 10_000.0


def test_a_buy_sold_again_within_30_days_still_blocks_the_loss_sale():
    recent = pd.DataFrame({"asset": ["X"], "lot_id": ["x-gone"], "acquired": [DATE - pd.Timedelta(days=20)]})
    case = overweight_loss_case(recent_buys=recent)
    result = REBALANCER.solve_case(case)
    assert loss_sold(result) == 0.0
    assert window_breaches(case.portfolio, case.tax, result, DATE) == []


def test_a_buy_31_days_ago_no_longer_blocks_it():
    recent = pd.DataFrame({"asset": ["X"], "lot_id": ["x-gone"], "acquired": [DATE - pd.Timedelta(days=31)]})
    assert loss_sold(REBALANCER.solve_case(overweight_loss_case(recent_buys=recent))) > 10_000.0


def test_a_recent_buy_of_a_substantially_identical_asset_blocks_it():
    recent = pd.DataFrame({"asset": ["Y"], "lot_id": ["y-gone"], "acquired": [DATE - pd.Timedelta(days=5)]})
    case = overweight_loss_case(recent_buys=recent)
    grouped = replace(case, tax=TaxRules(identical_groups={"X": "fund", "Y": "fund"}))
    assert loss_sold(REBALANCER.solve_case(case)) > 10_000.0          # Y alone is another security
    result = REBALANCER.solve_case(grouped)
    assert loss_sold(result) == 0.0
    assert window_breaches(grouped.portfolio, grouped.tax, result, DATE) == []


def test_a_recent_loss_sale_blocks_buying_the_group():
    case = overweight_loss_case(recent_loss_sales=pd.Series({"X": DATE - pd.Timedelta(days=10)}))
    grouped = replace(case, tax=TaxRules(identical_groups={"X": "fund", "Y": "fund"}))
    result = REBALANCER.solve_case(grouped)
    assert result.trades.loc["Y", "buy_usd"] == pytest.approx(0.0, abs=1.0)
    assert REBALANCER.solve_case(case).trades.loc["Y", "buy_usd"] > 10_000.0


def test_a_new_lot_at_a_loss_may_be_sold_itself():
    """The lot bought 10 days ago is the only recent buy: selling it at a loss is no wash sale."""
    risk = one_factor_risk(["X", "Z"], [1.0, 0.3], 0.04, [0.002, 0.01])
    case = make_case({"X": 100.0, "Z": 100.0}, [("x-new", "X", 8000.0, 120.0, 10)], cash_usd=200_000.0,
                     target={"X": 0.3, "Z": 0.6}, risk=risk, settings=Settings(risk_aversion=200.0), tax=TaxRules())
    result = REBALANCER.solve_case(case)
    assert loss_sold(result) > 10_000.0


books = st.tuples(st.integers(0, 10_000), st.integers(3, 8), st.integers(1, 3), st.booleans(),
                  st.integers(0, 3), st.integers(0, 3))


@PROPERTY
@given(books)
def test_no_trade_list_breaks_the_window(book):
    seed, n, lots, grouped, n_recent_buys, n_loss_sales = book
    case = synthetic_case(n, lots, 2, seed=seed, nav_usd=5_000_000.0, band_width=0.02,
                          settings=Settings(risk_aversion=50.0))
    rng = np.random.default_rng(seed)
    assets = list(case.market.assets)
    date = case.market.date
    frame = case.portfolio.lots.copy()
    young = rng.random(len(frame)) < 0.3                         # some held lots bought within the window
    frame.loc[young, "acquired"] = [date - pd.Timedelta(days=int(d)) for d in rng.integers(0, 30, young.sum())]
    recent = pd.DataFrame({"asset": rng.choice(assets, n_recent_buys), "lot_id": [f"sold-{k}" for k in
                                                                                    range(n_recent_buys)],
                           "acquired": [date - pd.Timedelta(days=int(d)) for d in rng.integers(0, 40, n_recent_buys)]})
    losses = pd.Series({a: date - pd.Timedelta(days=int(d))
                        for a, d in zip(rng.choice(assets, n_loss_sales), rng.integers(0, 40, n_loss_sales))},
                       dtype="datetime64[ns]")
    tax = TaxRules(identical_groups={assets[0]: "g", assets[1]: "g"} if grouped else {})
    portfolio = replace(case.portfolio, lots=frame, recent_buys=recent, recent_loss_sales=losses)
    case = replace(case, portfolio=portfolio, tax=tax)
    result = REBALANCER.solve_case(case)
    assert window_breaches(portfolio, tax, result, date) == []
