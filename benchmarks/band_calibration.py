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
* ``stocks20``: ``stocks_daily`` 2017-01-03 .. 2020-12-31, split 2019-01-01; 98% equal weight
  (four years, not sixteen: see :data:`GAMMAS` on run time).
* ``stocks100``: ``sp500_100_daily()`` 2013-02 .. 2018-02, split 2016-01-01; 98% equal
  weight; per-asset ADV from the data (a look-ahead median, used only as a cost scale).

Heterogeneous costs (``--heterogeneous``): three disjoint 25-stock subsets of
``sp500_100_daily()`` (its 95 full-history symbols in alphabetical order: ``sp25a`` ranks
0-24, ``sp25b`` 25-49, ``sp25c`` 50-74), 98% equal weight (3.92% each), 2013-02-08 ..
2018-02-07, split 2016-01-01, accounts $1bn and $5bn. Per-asset costs from the bars
*before* the split only (:func:`optimizer.model.ohlcv_costs.costs_from_ohlcv`): Corwin-Schultz
(2012) half spread floored at 1 bp, ADV = mean dollar volume of the last 63 days, commission
1 bp, impact eta 1. Fixed bands +/-2 points (+/-51% of the weight) and +/-0.98 points (+/-25%);
gamma grid :data:`HETEROGENEOUS_GAMMAS`, frontier widths :data:`HETEROGENEOUS_FIXED_GRID`.
``--sets`` picks sets, ``--stem`` the file names (default ``band_calibration_heterogeneous``:
``.csv`` and ``_summary.csv`` (same columns as below). The ETF set has
closes only (no high/low/volume), so it has no heterogeneous-cost run.

Writes ``benchmarks/results/band_calibration.csv`` (one row per data set, account size,
fixed width, window and band set, plus the out-of-sample frontier rows; see
:class:`BandComparison`) and ``band_calibration_summary.csv`` (one row per comparison: the
out-of-sample verdict, and the calibrated and uniform frontiers' cost at the fixed bands'
tracking error). Run:
``.venv/bin/python benchmarks/band_calibration.py [--data etf stocks20 ...] [--out DIR]``, and
``.venv/bin/python benchmarks/band_calibration.py --heterogeneous``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from optimizer import datasets
from optimizer.backtest.band_calibration import (BandComparison, compare_calibrated_vs_fixed,
                                                 cost_at_tracking_error)
from optimizer.backtest.compare import MULTI_ASSET_CLASS_TARGET, class_targets_to_assets
from optimizer.model.costs import CostModel
from optimizer.model.ohlcv_costs import costs_from_ohlcv

RESULTS = Path(__file__).resolve().parent / "results"
FIXED_WIDTHS = (0.05, 0.02)
ACCOUNTS_USD = (1e6, 1e9)
#: Risk aversions tried (1e-3 .. 10, half a decade apart) and uniform widths of the frontier.
#: Narrower bands trade nearly every day, and the simulator's lot ledger slows down with
#: the lots that daily buys create (one 20-stock run of 1-point bands over 2005-2012: 208 s,
#: 1011 rebalances, vs 1.2 s for 5-point bands), so the grids stop there.
GAMMAS = tuple(float(10 ** (k / 2)) for k in range(-6, 3))
FIXED_GRID = (0.01, 0.02, 0.03, 0.05, 0.08)


def etf() -> dict:
    prices = datasets.multi_asset_daily(start="2014-01-02", end="2020-12-31")
    target = class_targets_to_assets(MULTI_ASSET_CLASS_TARGET, datasets.multi_asset_classes())
    return {"prices": prices, "target_weight": target.reindex(prices.columns), "split": "2018-01-01",
            "cash_column": "CASH", "costs": CostModel()}


def stocks20() -> dict:
    prices = datasets.stocks_daily(start="2017-01-03", end="2020-12-31")
    return {"prices": prices, "target_weight": pd.Series(0.98 / prices.shape[1], index=prices.columns),
            "split": "2019-01-01", "costs": CostModel()}


def stocks100() -> dict:
    universe = datasets.sp500_100_daily()
    prices = universe.prices
    return {"prices": prices, "target_weight": pd.Series(0.98 / prices.shape[1], index=prices.columns),
            "split": "2016-01-01", "costs": CostModel(adv_usd=universe.adv_usd)}


DATA_SETS = {"etf": etf, "stocks20": stocks20, "stocks100": stocks100}

HETEROGENEOUS_SPLIT = "2016-01-01"
HETEROGENEOUS_WIDTHS = (0.02, 0.25 * 0.98 / 25)
HETEROGENEOUS_ACCOUNTS_USD = (1e9, 5e9)
#: 0.1 .. 100: calibrated half-widths of about 4 .. 0.4 points at these costs; larger gammas
#: trade daily and the simulator's lot ledger makes those runs minutes long.
HETEROGENEOUS_GAMMAS = tuple(float(10 ** (k / 2)) for k in range(-2, 5))
HETEROGENEOUS_FIXED_GRID = (0.005, 0.01, 0.015, 0.02, 0.03)


def _sp25(ranks: slice) -> dict:
    """25 of the 100-stock set's full-history symbols, costs from the bars before the split."""
    universe = datasets.sp500_100_daily()
    symbols = sorted(universe.prices.columns)[ranks]
    bars = datasets.load_sp500_100_ohlcv()
    costs = costs_from_ohlcv(bars[bars["symbol"].isin(symbols)], end=HETEROGENEOUS_SPLIT, floor=1e-4,
                             adv_window=63, commission=0.0001, impact_eta=1.0)
    return {"prices": universe.prices[symbols], "target_weight": pd.Series(0.98 / len(symbols), index=symbols),
            "split": HETEROGENEOUS_SPLIT, "costs": costs}


HETEROGENEOUS_SETS = {"sp25a": lambda: _sp25(slice(0, 25)), "sp25b": lambda: _sp25(slice(25, 50)),
                      "sp25c": lambda: _sp25(slice(50, 75))}


def run(names=("etf", "stocks20"), fixed_widths=FIXED_WIDTHS, accounts_usd=ACCOUNTS_USD,
        out: Path | None = RESULTS, *, data_sets: dict = DATA_SETS, stem: str = "band_calibration",
        gammas: tuple[float, ...] = GAMMAS, fixed_grid: tuple[float, ...] = FIXED_GRID
        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every comparison; returns (and writes to ``out``) the long table and one summary row per comparison.

    The out-of-sample frontier (calibrated over the gamma grid, uniform fixed widths) does
    not depend on the fixed width compared against, so it is run once per data set and
    account size (with the first width) and reused.
    """
    tables, summaries = [], []
    for name in names:
        data = data_sets[name]()
        for nav in accounts_usd:
            curve = None
            for width in fixed_widths:
                started = time.perf_counter()
                result: BandComparison = compare_calibrated_vs_fixed(
                    **data, fixed_width=width, initial_usd=nav, name=name, frontier=curve is None,
                    gammas=gammas, fixed_grid=fixed_grid)
                table = result.table.assign(account_usd=nav, fixed_width=width,
                                            seconds=time.perf_counter() - started)
                if curve is None:
                    curve = table[table["window"] == "oos_frontier"]
                    tables.append(curve)
                main_rows = table[table["window"] != "oos_frontier"]
                tables.append(main_rows)
                s = dict(result.summary)
                oos = main_rows[main_rows["window"] == "out_of_sample"].set_index("bands")
                fixed_te, fixed_cost = oos.at["fixed", "tracking_error"], oos.at["fixed", "trading_cost_bps"]
                at_te = cost_at_tracking_error(curve[curve["bands"] == "calibrated"], fixed_te)
                uniform = cost_at_tracking_error(curve[curve["bands"] == "fixed"], fixed_te)
                s.update(account_usd=nav, fixed_width=width, fixed_te=fixed_te, fixed_cost_bps=fixed_cost,
                         calibrated_te=oos.at["calibrated", "tracking_error"],
                         calibrated_cost_bps=oos.at["calibrated", "trading_cost_bps"],
                         frontier_cost_at_fixed_te_bps=at_te, frontier_cost_saved_bps=fixed_cost - at_te,
                         uniform_frontier_cost_at_fixed_te_bps=uniform)
                summaries.append(s)
                print(f"{name} ${nav:,.0f} fixed +/-{width:g}: gamma {s['risk_aversion']:g}; out of sample fixed TE "
                      f"{fixed_te:.3%} cost {fixed_cost:.3f} bp/yr, calibrated TE {s['calibrated_te']:.3%} cost "
                      f"{s['calibrated_cost_bps']:.3f} bp/yr (wins={s['calibrated_wins']}); calibrated frontier "
                      f"at the fixed TE {at_te:.3f} bp/yr, uniform frontier {uniform:.3f}", flush=True)
                if out is not None:      # write as we go: a long run keeps what it finished
                    out.mkdir(parents=True, exist_ok=True)
                    pd.concat(tables, ignore_index=True).to_csv(out / f"{stem}.csv", index=False)
                    pd.DataFrame(summaries).to_csv(out / f"{stem}_summary.csv", index=False)
    return pd.concat(tables, ignore_index=True), pd.DataFrame(summaries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["etf", "stocks20"], choices=sorted(DATA_SETS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--heterogeneous", action="store_true",
                        help="per-asset Corwin-Schultz costs on three 25-stock subsets (ignores --data)")
    parser.add_argument("--sets", nargs="+", default=list(HETEROGENEOUS_SETS), choices=sorted(HETEROGENEOUS_SETS))
    parser.add_argument("--stem", default="band_calibration_heterogeneous")
    args = parser.parse_args()
    if args.heterogeneous:
        run(tuple(args.sets), HETEROGENEOUS_WIDTHS, HETEROGENEOUS_ACCOUNTS_USD, args.out,
            data_sets=HETEROGENEOUS_SETS, stem=args.stem, gammas=HETEROGENEOUS_GAMMAS,
            fixed_grid=HETEROGENEOUS_FIXED_GRID)
    else:
        run(args.data, out=args.out)


if __name__ == "__main__":
    main()
