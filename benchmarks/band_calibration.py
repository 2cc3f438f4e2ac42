"""Calibrated vs fixed tolerance bands, out of sample, on real data (issue 14, item 1).

For each data set and fixed width, :func:`optimizer.backtest.band_calibration.compare_calibrated_vs_fixed`
calibrates per-asset bands on the earlier window (risk aversion picked in sample: cheapest
with tracking error <= the fixed bands'), then backtests both band sets with the same
``Threshold(trade_to="edge", check="D")`` policy on the later window. Tax-free account, no
flows, default :class:`CostModel` (2 bp half-spread, 1 bp commission, impact eta 1;
ADV 5e8 unless the data set has its own).

Data sets (``optimizer.datasets``):

* ``etf``: ``multi_asset_daily`` 2014-01-02 .. 2020-12-31, split 2018-01-01; targets
  ``MULTI_ASSET_CLASS_TARGET`` split over each class's assets; idle cash earns ``CASH``.
* ``stocks20``: ``stocks_daily`` 2005-01-03 .. 2020-12-31, split 2013-01-01; 98% equal weight.
* ``stocks100``: ``sp500_100_daily()`` 2013-02 .. 2018-02, split 2016-01-01; 98% equal
  weight; per-asset ADV from the data (a look-ahead median, used only as a cost scale).

Writes ``benchmarks/results/band_calibration.csv`` (one row per data set, account size,
fixed width, window and band set; see :class:`BandComparison`). Run:
``.venv/bin/python benchmarks/band_calibration.py [--data etf stocks20 ...] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from optimizer import datasets
from optimizer.backtest.band_calibration import BandComparison, compare_calibrated_vs_fixed
from optimizer.backtest.compare import MULTI_ASSET_CLASS_TARGET, class_targets_to_assets
from optimizer.model.costs import CostModel

RESULTS = Path(__file__).resolve().parent / "results"
FIXED_WIDTHS = (0.05, 0.02)
ACCOUNTS_USD = (1e6, 1e9)


def etf() -> dict:
    prices = datasets.multi_asset_daily(start="2014-01-02", end="2020-12-31")
    target = class_targets_to_assets(MULTI_ASSET_CLASS_TARGET, datasets.multi_asset_classes())
    return {"prices": prices, "target_weight": target.reindex(prices.columns), "split": "2018-01-01",
            "cash_column": "CASH", "costs": CostModel()}


def stocks20() -> dict:
    prices = datasets.stocks_daily(start="2005-01-03", end="2020-12-31")
    return {"prices": prices, "target_weight": pd.Series(0.98 / prices.shape[1], index=prices.columns),
            "split": "2013-01-01", "costs": CostModel()}


def stocks100() -> dict:
    universe = datasets.sp500_100_daily()
    prices = universe.prices
    return {"prices": prices, "target_weight": pd.Series(0.98 / prices.shape[1], index=prices.columns),
            "split": "2016-01-01", "costs": CostModel(adv_usd=universe.adv_usd)}


DATA_SETS = {"etf": etf, "stocks20": stocks20, "stocks100": stocks100}


def run(names=("etf", "stocks20"), fixed_widths=FIXED_WIDTHS, accounts_usd=ACCOUNTS_USD,
        out: Path | None = RESULTS) -> pd.DataFrame:
    """Every comparison; returns (and writes to ``out/band_calibration.csv``) the long table."""
    tables = []
    for name in names:
        data = DATA_SETS[name]()
        for nav in accounts_usd:
            for width in fixed_widths:
                started = time.perf_counter()
                result: BandComparison = compare_calibrated_vs_fixed(
                    **data, fixed_width=width, initial_usd=nav, name=name)
                table = result.table.assign(account_usd=nav, fixed_width=width,
                                            seconds=time.perf_counter() - started)
                s = result.summary
                print(f"{name} ${nav:,.0f} fixed +/-{width:g}: gamma {s['risk_aversion']:g}, out of sample "
                      f"cost ratio {s['cost_ratio']:.3f} ({s['cost_saved_bps']:+.3f} bp/yr saved), "
                      f"TE diff {s['te_difference']:+.4%}, wins={s['calibrated_wins']}", flush=True)
                tables.append(table)
                if out is not None:      # write as we go: a long run keeps what it finished
                    out.mkdir(parents=True, exist_ok=True)
                    pd.concat(tables, ignore_index=True).to_csv(out / "band_calibration.csv", index=False)
    return pd.concat(tables, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["etf", "stocks20"], choices=sorted(DATA_SETS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    run(args.data, out=args.out)


if __name__ == "__main__":
    main()
