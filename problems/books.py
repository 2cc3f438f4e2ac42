"""Synthetic *books* (many accounts against model portfolios) for the nightly batch, at any size.

A book is the set of tables described in :mod:`optimizer.batch.store`. Every account
follows one of ``n_models`` model portfolios (per-asset targets over a shared universe,
so all accounts of a book share one problem shape), has drifted away from it, holds each
asset in ``lots_per_asset`` tax lots with gains and losses, and has a mixed cash flow:
most none, some inflows, some withdrawals. Some accounts are tax-exempt, a few carry a
no-buy or no-sell restriction. Everything is drawn from ``seed``.

    >>> tables = synthetic_book(50, 20, 2, n_models=5, seed=0)
    >>> write_parquet_book(tables, "problems/example_book")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.batch.store import write_duckdb, write_parquet

DATE = "2024-06-28"
EXAMPLE_BOOK = Path(__file__).parent / "example_book"


def synthetic_book(
    n_accounts: int,
    n_assets: int,
    lots_per_asset: int,
    n_models: int = 20,
    seed: int = 0,
    date: str = DATE,
    *,
    n_factors: int = 5,
    band_width: float = 0.01,
    drift: float = 0.3,
) -> dict[str, pd.DataFrame]:
    """Tables of a book of ``n_accounts`` accounts over ``n_assets`` assets.

    Parameters
    ----------
    n_accounts, n_assets, lots_per_asset:
        Size: every account holds every asset in ``lots_per_asset`` lots.
    n_models:
        Model portfolios (Dirichlet target weights, 2% cash, absolute bands ``band_width``).
    seed:
        Seed of every random draw.
    date:
        Market and risk date (``YYYY-MM-DD``).
    n_factors:
        Factors of the asset-level risk model (a market factor plus style factors).
    drift:
        Scale of the random log-deviation of each account's weights from its model.

    Returns
    -------
    dict of DataFrame
        ``accounts``, ``lots``, ``models``, ``restrictions``, ``market``, ``risk``, ``factor_cov``.
    """
    rng = np.random.default_rng(seed)
    day = pd.Timestamp(date)
    assets = np.array([f"A{i:04d}" for i in range(n_assets)], dtype=object)
    factors = [f"F{k}" for k in range(n_factors)]

    loadings = rng.normal(0.0, 1.0, (n_assets, n_factors)) * (0.5 / np.sqrt(max(n_factors, 1)))
    loadings[:, 0] = rng.uniform(0.7, 1.3, n_assets)
    factor_vol = np.r_[0.16, np.full(n_factors - 1, 0.05)]
    specific_var = rng.uniform(0.15, 0.35, n_assets) ** 2
    annual_vol = np.sqrt(np.einsum("ik,k,ik->i", loadings, factor_vol ** 2, loadings) + specific_var)
    prices = np.exp(rng.normal(np.log(80.0), 0.6, n_assets))
    market = pd.DataFrame({
        "date": day, "asset": assets, "price": prices, "asset_class": assets,
        "volatility": annual_vol / np.sqrt(252),
        "adv_usd": np.exp(rng.normal(np.log(5e7), 1.0, n_assets)),
        "half_spread": rng.uniform(0.0002, 0.0010, n_assets),
        "commission": np.full(n_assets, 0.0001),
    })
    risk = pd.DataFrame(loadings, columns=factors)
    risk.insert(0, "specific_var", specific_var)
    risk.insert(0, "key", assets)
    risk.insert(0, "date", day)
    factor_cov = pd.DataFrame(np.diag(factor_vol ** 2), columns=factors)
    factor_cov.insert(0, "factor", factors)
    factor_cov.insert(0, "date", day)

    cash_weight = 0.02
    model_weights = rng.dirichlet(np.full(n_assets, 5.0), size=n_models) * (1 - cash_weight)
    model_ids = np.array([f"M{m:02d}" for m in range(n_models)], dtype=object)
    models = pd.DataFrame({
        "model_id": np.repeat(model_ids, n_assets),
        "key": np.tile(assets, n_models),
        "weight": model_weights.ravel(),
        "band_lower": np.clip(model_weights.ravel() - band_width, 0.0, None),
        "band_upper": model_weights.ravel() + band_width,
        "cash_weight": cash_weight,
    })

    account_ids = np.array([f"ACC{k:06d}" for k in range(n_accounts)], dtype=object)
    model_of = rng.integers(0, n_models, n_accounts)
    nav = np.exp(rng.normal(np.log(1e6), 0.8, n_accounts))
    current = model_weights[model_of] * np.exp(rng.normal(0.0, drift, (n_accounts, n_assets)))
    cash_share = np.clip(rng.normal(cash_weight, 0.01, n_accounts), 0.0, 0.1)
    current = current / current.sum(axis=1, keepdims=True) * (1 - cash_share)[:, None]
    kind = rng.random(n_accounts)
    flow = np.where(kind < 0.6, 0.0, np.where(kind < 0.8, rng.uniform(0.01, 0.10, n_accounts),
                                                -rng.uniform(0.005, cash_share + 0.03)))
    exempt = rng.random(n_accounts) < 0.3
    high = rng.random(n_accounts) < 0.5
    accounts = pd.DataFrame({
        "account_id": account_ids,
        "model_id": model_ids[model_of],
        "cash_usd": cash_share * nav,
        "cash_flow_usd": np.round(flow * nav, 2),
        "short_term_rate": np.where(exempt, 0.0, np.where(high, 0.37, 0.24)),
        "long_term_rate": np.where(exempt, 0.0, np.where(high, 0.20, 0.15)),
    })

    L = lots_per_asset
    split = rng.dirichlet(np.ones(L), size=(n_accounts, n_assets))           # accounts x assets x L
    value = current[:, :, None] * nav[:, None, None] * split
    quantity = value / prices[None, :, None]
    basis = prices[None, :, None] * np.exp(rng.normal(-0.15, 0.3, (n_accounts, n_assets, L)))
    held_days = rng.integers(40, 3 * 365, (n_accounts, n_assets, L))
    acquired = (day.to_datetime64() - held_days.astype("timedelta64[D]")).astype("datetime64[ns]")
    lot_suffix = np.array([f"-L{j}" for j in range(L)], dtype=object)
    lots = pd.DataFrame({
        "account_id": np.repeat(account_ids, n_assets * L),
        "lot_id": (np.repeat(np.tile(assets, n_accounts), L) + np.tile(lot_suffix, n_accounts * n_assets)),
        "asset": np.repeat(np.tile(assets, n_accounts), L),
        "quantity": quantity.ravel(),
        "cost_basis": basis.ravel(),
        "acquired": acquired.ravel(),
    })

    restricted = np.nonzero(rng.random(n_accounts) < 0.05)[0]
    rule = rng.integers(0, 2, len(restricted))
    restrictions = pd.DataFrame({
        "account_id": account_ids[restricted],
        "asset": assets[rng.integers(0, n_assets, len(restricted))],
        "no_buy": rule == 0,
        "no_sell": rule == 1,
        "no_trade": False,
    })
    return {"accounts": accounts, "lots": lots, "models": models, "restrictions": restrictions,
            "market": market, "risk": risk, "factor_cov": factor_cov}


def write_parquet_book(tables: dict[str, pd.DataFrame], folder: str | Path) -> Path:
    """Write a book as a folder of Parquet files; returns the folder."""
    return write_parquet(tables, Path(folder))


def write_duckdb_book(tables: dict[str, pd.DataFrame], file: str | Path) -> Path:
    """Write a book as one DuckDB file (name it ``*.duckdb``); returns its path."""
    return write_duckdb(tables, Path(file))


def example_book() -> dict[str, pd.DataFrame]:
    """The committed example: 50 accounts x 20 assets x 2 lots, 5 models (``problems/example_book``)."""
    return synthetic_book(50, 20, 2, n_models=5, seed=0)


if __name__ == "__main__":
    write_parquet_book(example_book(), EXAMPLE_BOOK)
    print(f"wrote {EXAMPLE_BOOK}")
