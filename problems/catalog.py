"""Named, reproducible rebalance cases: real-data books and synthetic instances.

``load_case(name)`` returns a :class:`optimizer.Case`; ``CATALOG`` lists the names.
"""

from __future__ import annotations

from typing import Callable

import pandas as pd

from optimizer.model import Case, Market, Portfolio, RiskModel, Settings, Targets, TaxRules
from problems.real_data import multi_asset_classes, multi_asset_daily
from problems.synthetic import synthetic_case

#: Strategic class weights of the ETF policy portfolio (cash 2%).
ETF_POLICY_WEIGHTS = {"US_EQUITY": 0.55, "SHORT_BONDS": 0.15, "LONG_BONDS": 0.28}
ETF_POLICY_CASH = 0.02
#: Assumed liquidity and costs (the data has no volumes): average daily traded value and half-spread.
ETF_ADV_USD = {"US_EQUITY": 5e8, "SHORT_BONDS": 1e9, "LONG_BONDS": 5e8}
ETF_HALF_SPREAD = {"US_EQUITY": 0.0002, "SHORT_BONDS": 0.0001, "LONG_BONDS": 0.0001}


def class_risk_model(returns: pd.DataFrame, classes: pd.Series, n_factors: int = 2,
                     periods_per_year: float = 252.0) -> RiskModel:
    """PCA factor model on equal-weighted class returns built from asset returns (annualised)."""
    class_returns = returns.T.groupby(classes.reindex(returns.columns)).mean().T
    return RiskModel.from_returns(class_returns, n_factors=n_factors, periods_per_year=periods_per_year)


def etf_policy_book(date: str = "2020-12-31", nav_usd: float = 2_000_000.0, *, band_width: float = 0.05,
                    first_purchase: str = "2015-01-02", purchases_per_year: int = 4,
                    settings: Settings | None = None) -> Case:
    """A multi-asset ETF policy portfolio on real prices, with lots bought over past years.

    The account invested ``nav_usd``-scaled contributions at the target class weights
    every quarter from ``first_purchase`` (equal split among the assets of each class),
    each purchase a tax lot at that day's real price, then drifted to ``date``. Cash is
    the 2% target. Risk model: 2-factor PCA of the trailing year of daily class returns.
    Volumes and spreads are assumptions (``ETF_ADV_USD``, ``ETF_HALF_SPREAD``).
    """
    prices = multi_asset_daily(end=date)
    classes = multi_asset_classes()
    assets = [a for a in prices.columns if classes[a] != "CASH"]
    prices = prices[assets]
    date = prices.index[prices.index <= pd.Timestamp(date)][-1]
    buy_dates = pd.date_range(first_purchase, date, freq=f"{12 // purchases_per_year}MS")
    buy_dates = [prices.index[prices.index >= d][0] for d in buy_dates if d <= date]
    members = {c: [a for a in assets if classes[a] == c] for c in ETF_POLICY_WEIGHTS}
    rows = []
    for k, day in enumerate(buy_dates):
        for cls, weight in ETF_POLICY_WEIGHTS.items():
            for asset in members[cls]:
                price = float(prices.at[day, asset])
                amount = 1_000.0 * weight / len(members[cls])
                rows.append((f"{asset}-{day:%Y%m%d}", asset, amount / price, price, day))
    lots = pd.DataFrame(rows, columns=["lot_id", "asset", "quantity", "cost_basis", "acquired"])
    last = prices.loc[date]
    invested = float((lots["quantity"] * last.reindex(lots["asset"]).to_numpy()).sum())
    scale = nav_usd * (1 - ETF_POLICY_CASH) / invested
    lots["quantity"] *= scale
    portfolio = Portfolio(lots=lots, cash_usd=nav_usd * ETF_POLICY_CASH)

    window = prices.loc[:date].iloc[-253:].pct_change().dropna()
    asset_class = classes.reindex(assets)
    risk = class_risk_model(window, asset_class)
    market = Market(
        date=date,
        prices=last,
        asset_class=asset_class,
        risk=risk,
        volatility=window.iloc[-63:].std(),
        adv_usd=asset_class.map(ETF_ADV_USD).astype(float),
        half_spread=asset_class.map(ETF_HALF_SPREAD).astype(float),
        commission=pd.Series(0.0, index=assets),
    )
    targets = Targets.absolute(pd.Series(ETF_POLICY_WEIGHTS), band_width, cash_weight=ETF_POLICY_CASH)
    return Case(portfolio=portfolio, targets=targets, market=market, settings=settings or Settings(),
                tax=TaxRules(), name=f"etf-policy-{date:%Y-%m-%d}")


CATALOG: dict[str, Callable[[], Case]] = {
    "etf-policy-2020": lambda: etf_policy_book("2020-12-31"),
    "etf-policy-2020-03": lambda: etf_policy_book("2020-03-23"),
    "synthetic-20": lambda: synthetic_case(20, 5, 10, seed=0),
    "synthetic-100": lambda: synthetic_case(100, 5, 10, seed=0),
    "synthetic-500": lambda: synthetic_case(500, 5, 10, seed=0),
    "synthetic-2000": lambda: synthetic_case(2000, 5, 10, seed=0),
    "synthetic-overlay-20": lambda: synthetic_case(20, 3, 5, seed=0, n_overlays=2),
}


def load_case(name: str) -> Case:
    """The catalog case called ``name``."""
    if name not in CATALOG:
        raise KeyError(f"unknown case {name!r}; known: {sorted(CATALOG)}")
    return CATALOG[name]()
