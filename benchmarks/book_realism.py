"""How realistic are the synthetic batch books' loss lots? (issue 11, nightly batch)

    python benchmarks/book_realism.py

Compares the share of tax lots at a loss, and of assets holding at least one loss lot (of
3), between ``problems.books.synthetic_book`` (each lot's basis drawn independently:
``price * exp(N(-0.15, 0.3))``) and real prices: 94 S&P 500 stocks
(``shared/data/sp500_100_stocks_ohlcv_daily.csv.gz``, price only), 3 lots per stock bought
40..1095 days before each of 24 month-ends 2016-2018, as in the synthetic book. A loss lot
of an asset the account is also buying is what makes a same-date wash-sale conflict.
Prints two lines; seeded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sp500_100_stocks_ohlcv_daily.csv.gz"


def main() -> None:
    df = pd.read_csv(DATA, parse_dates=["date"])
    px = df.pivot(index="date", columns="symbol", values="close").dropna(axis=1)
    rng = np.random.default_rng(0)
    dates = px.index
    ends = [d for d in dates if d >= dates[0] + pd.Timedelta(days=1100)][::21]
    loss_lot, asset_loss = [], []
    for end in ends:
        p_end = px.loc[end].to_numpy()
        held = rng.integers(40, 3 * 365, (px.shape[1], 3))
        buy_dates = end - pd.to_timedelta(held.ravel(), unit="D")
        idx = dates.searchsorted(buy_dates)
        values = px.to_numpy()
        p_buy = values[idx, np.repeat(np.arange(px.shape[1]), 3)].reshape(px.shape[1], 3)
        loss = p_buy > p_end[:, None]
        loss_lot.append(loss.mean()); asset_loss.append(loss.any(axis=1).mean())
    print(f"real ({px.shape[1]} S&P 500 stocks, price only, {len(ends)} month-ends {ends[0].date()}..{ends[-1].date()}): lots at a loss "
          f"{np.mean(loss_lot):.1%} (range {np.min(loss_lot):.1%}-{np.max(loss_lot):.1%}); assets with a loss lot of 3: "
          f"{np.mean(asset_loss):.1%} ({np.min(asset_loss):.1%}-{np.max(asset_loss):.1%})")
    p = norm.sf(0.15/0.3)
    print(f"synthetic book (basis = price * exp(N(-0.15, 0.3))): lots at a loss {p:.1%}; assets with a loss lot of 3: {1-(1-p)**3:.1%}")


if __name__ == "__main__":
    main()
