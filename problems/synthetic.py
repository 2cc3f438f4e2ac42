"""Synthetic rebalance cases of any size, reproducible from a seed.

Per-asset targets with an asset-level factor risk model (``n_factors`` factors plus
specific risk), drifted holdings in ``lots_per_asset`` tax lots bought over the past
three years at random bases (some gains, some losses), realistic liquidity and costs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.model import Case, Market, OverlayInstrument, Portfolio, RiskModel, Settings, Targets, TaxRules

DATE = pd.Timestamp("2024-06-28")


def synthetic_case(
    n_assets: int = 20,
    lots_per_asset: int = 5,
    n_factors: int = 10,
    seed: int = 0,
    *,
    nav_usd: float = 10_000_000.0,
    band_width: float = 0.01,
    n_overlays: int = 0,
    settings: Settings | None = None,
    drift: float = 0.3,
) -> Case:
    """A drifted book of ``n_assets`` assets against per-asset targets.

    Parameters
    ----------
    drift:
        Size of the random log-deviation of current weights from the targets.
    band_width:
        Absolute band half-width around each target weight (NAV fraction).
    n_overlays:
        Number of index futures mapped onto the first asset(s) (0 for none).
    """
    rng = np.random.default_rng(seed)
    assets = [f"A{i:04d}" for i in range(n_assets)]
    factors = [f"F{k}" for k in range(n_factors)]

    loadings = rng.normal(0.0, 1.0, (n_assets, n_factors)) * (0.5 / np.sqrt(max(n_factors, 1)))
    loadings[:, 0] = rng.uniform(0.7, 1.3, n_assets)  # a market factor
    factor_vol = np.r_[0.16, np.full(n_factors - 1, 0.05)] if n_factors else np.zeros(0)
    factor_cov = np.diag(factor_vol ** 2)
    specific_var = rng.uniform(0.15, 0.35, n_assets) ** 2
    risk = RiskModel(pd.DataFrame(loadings, index=assets, columns=factors),
                     pd.DataFrame(factor_cov, index=factors, columns=factors),
                     pd.Series(specific_var, index=assets))

    cash_weight = 0.02
    target = rng.dirichlet(np.full(n_assets, 5.0)) * (1 - cash_weight)
    current = target * np.exp(rng.normal(0.0, drift, n_assets))
    current = current / current.sum() * (1 - cash_weight)
    prices = np.exp(rng.normal(np.log(80.0), 0.6, n_assets))
    annual_vol = np.sqrt(np.einsum("ik,k,ik->i", loadings, factor_vol ** 2, loadings) + specific_var)

    rows = []
    for i, asset in enumerate(assets):
        value = current[i] * nav_usd
        split = rng.dirichlet(np.ones(lots_per_asset))
        for j in range(lots_per_asset):
            quantity = value * split[j] / prices[i]
            basis = prices[i] * np.exp(rng.normal(-0.15, 0.3))
            acquired = DATE - pd.Timedelta(days=int(rng.integers(40, 3 * 365)))
            rows.append((f"{asset}-L{j}", asset, quantity, basis, acquired))
    lots = pd.DataFrame(rows, columns=["lot_id", "asset", "quantity", "cost_basis", "acquired"])
    portfolio = Portfolio(lots=lots, cash_usd=cash_weight * nav_usd)

    market = Market(
        date=DATE,
        prices=pd.Series(prices, index=assets),
        asset_class=pd.Series(assets, index=assets),
        risk=risk,
        volatility=pd.Series(annual_vol / np.sqrt(252), index=assets),
        adv_usd=pd.Series(np.exp(rng.normal(np.log(5e7), 1.0, n_assets)), index=assets),
        half_spread=pd.Series(rng.uniform(0.0002, 0.0010, n_assets), index=assets),
        commission=pd.Series(0.0001, index=assets),
    )
    targets = Targets.absolute(pd.Series(target, index=assets), band_width, cash_weight=cash_weight)
    overlays = tuple(
        OverlayInstrument(name=f"FUT{k}", multiplier=50.0, price=5000.0, exposure={assets[k]: 1.0},
                          initial_margin=0.06, cost_per_contract_usd=2.5)
        for k in range(min(n_overlays, n_assets))
    )
    return Case(portfolio=portfolio, targets=targets, market=market, settings=settings or Settings(),
                tax=TaxRules(), overlays=overlays, name=f"synthetic-{n_assets}x{lots_per_asset}x{n_factors}-s{seed}")
