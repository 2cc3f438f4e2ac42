"""Tactical timing on real daily data in 2008 and 2020: momentum filter, volatility pacing,
risk trigger, and stress-time costs (issue 14, items 2-4).

Books (total-return levels on S&P 500 trading days; cash earns the 3-month yield):

* ``60_40``: S&P 500 with Shiller dividends 60% / 10-year Treasury fund 40%, absolute
  +/-5-point bands, risk trigger at 1% ex-ante tracking error;
* ``7_assets``: S&P 500 35%, 10-year 35%, 2-year Treasury fund 10%, XOM JPM WMT MSFT 5%
  each (adjusted closes), bands +/-20% of each target, risk trigger at 0.75%.

Windows: ``2008`` = 2007-01-03..2009-12-31 and ``2020`` = 2019-01-02..2020-12-31 (the
first year gives the 12-1 momentum and the risk model their history; the Treasury curve
ends 2020-12-31); ``2018`` = 2017-01-03..2018-12-31 (February and Q4 2018), the one
stressed span the shared VIX file covers. A $1bn book; half spread 1 bp (index, Treasuries) / 3 bp (stocks),
commission 0.5 bp, impact ``eta * vol / ADV * u^2`` with eta 1 and ADV $1.5bn (S&P
basket), $1bn (Treasuries), $0.5bn (each stock). Tax-exempt (an institutional book).

Stress-time costs: the VIX file covers only 2014-2018, so in 2008 and 2020 the stress
level is the 21-day realized volatility of the S&P 500 price index (percent a year, from
1990 on, no look-ahead), reference = its 1990-2022 median; in 2018 it is the VIX close,
reference 20 (about its long-run mean); cap 4, exponents 1
(:class:`optimizer.model.costs.CostModel`, ``stress=``). Every run but ``*_calm_costs``
fills and decides at these stressed costs; ``band_calm_costs`` is the band policy at the
base costs, to show what stress adds. The same level is the "market" volatility signal
of ``vol_paced_market`` (the VIX stand-in).

Each effect is reported against the plain band policy on the same costs (``baseline``):
the annualised difference of daily net returns (bp/yr) and of daily trading costs (bp/yr)
with a 95% circular block-bootstrap interval (:mod:`optimizer.backtest.bootstrap`);
``significant`` says whether the return interval excludes zero. No gain is claimed where
it does not.

    python benchmarks/tactical_timing.py [--windows 2008 2020] [--books 60_40 7_assets] [--no-optimizer]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optimizer import datasets  # noqa: E402
from optimizer.backtest.bootstrap import paired_difference_ci  # noqa: E402
from optimizer.backtest.metrics import period_returns, summarize  # noqa: E402
from optimizer.backtest.simulator import BacktestConfig, Simulator  # noqa: E402
from optimizer.model import TaxRules  # noqa: E402
from optimizer.model.costs import CostModel  # noqa: E402
from optimizer.policies import (Bands, Calendar, MomentumFilteredBands, MomentumTilt, OptimizerPolicy,  # noqa: E402
                                RiskTriggered, Threshold, TrendSignal, VolatilityPacedBands, VolatilityPacing,
                                VolatilitySignal)
from optimizer.policies import signals  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
WINDOWS = {"2008": ("2007-01-03", "2009-12-31"), "2020": ("2019-01-02", "2020-12-31"),
           "2018": ("2017-01-03", "2018-12-31")}
#: The stress level of each window: the VIX where the shared file covers it, else realized vol.
STRESS_SOURCE = {"2008": "realized", "2020": "realized", "2018": "vix"}
STOCKS = ("XOM", "JPM", "WMT", "MSFT")
BOOKS = {
    "60_40": dict(target={"SP500": 0.6, "UST10Y": 0.4}, bands=Bands.absolute(0.05), te=0.01),
    "7_assets": dict(target={"SP500": 0.35, "UST10Y": 0.35, "UST2Y": 0.10, **{s: 0.05 for s in STOCKS}},
                     bands=Bands.relative_to_target(0.2), te=0.0075),
}
NAV_USD = 1e9
#: An institutional (tax-exempt) book: no tax in the simulator nor in the optimizer's objective.
TAX_EXEMPT = TaxRules(short_term_rate=0.0, long_term_rate=0.0)
COLUMNS = ("window", "book", "policy", "costs", "trading_cost_bps", "spread_bps", "impact_bps", "turnover",
           "rebalance_events", "tracking_error_pct", "annual_return_pct", "max_drawdown_pct",
           "net_return_vs_baseline_bps", "net_return_ci_low", "net_return_ci_high", "significant",
           "cost_vs_baseline_bps", "cost_ci_low", "cost_ci_high", "seconds")


def market_levels() -> pd.DataFrame:
    """Total-return levels on S&P 500 trading days 1990..2020: SP500, UST2Y, UST10Y, CASH, stocks."""
    spx = datasets.load_sp500_index()["SP500"]
    shiller = datasets.load_shiller()
    curve = datasets.load_treasury_par_curve()
    calendar = spx.index[(spx.index > curve.index[0]) & (spx.index <= curve.index[-1])]
    columns = {"SP500": datasets._levels(datasets._sp500_total_returns_daily(spx, shiller), spx.index[0])}
    for name, level in datasets._treasury_levels(curve).items():
        columns[name] = level
    frame = pd.DataFrame({k: v.reindex(v.index.union(calendar)).ffill().reindex(calendar)
                          for k, v in columns.items()})
    stocks = datasets.stocks_daily(list(STOCKS), start="1995-01-03").reindex(calendar)
    return pd.concat([frame, stocks], axis=1)


def stress_level() -> tuple[pd.Series, float]:
    """21-day realized volatility of the S&P 500 price index, percent a year, and its median."""
    spx = datasets.load_sp500_index()["SP500"]
    level = (signals.realized_volatility(spx, 21) * 100).dropna()
    return level, float(level.median())


def cost_model(assets: list[str], stress: pd.Series | None, reference: float) -> CostModel:
    half_spread = pd.Series({a: 0.0003 if a in STOCKS else 0.0001 for a in assets})
    adv = pd.Series({a: 5e8 if a in STOCKS else (1.5e9 if a == "SP500" else 1e9) for a in assets})
    return CostModel(half_spread=half_spread, commission=0.00005, adv_usd=adv, impact_eta=1.0, stress=stress,
                     stress_reference=reference, stress_cap=4.0)


def policies(book: dict, market_vol: pd.Series, costs: CostModel, optimizer: bool):
    target, bands, te = book["target"], book["bands"], book["te"]
    yield "band", Threshold(target, bands, name="band")
    yield "calendar_monthly", Calendar(target, "M")
    yield "momentum_12_1", MomentumFilteredBands(target, bands, trend=TrendSignal("momentum"), max_delay_days=182,
                                                 name="momentum_12_1")
    yield "momentum_ma200", MomentumFilteredBands(target, bands, trend=TrendSignal("moving_average", window=200),
                                                  max_delay_days=182, name="momentum_ma200")
    yield "vol_paced_asset", VolatilityPacedBands(target, bands, volatility=VolatilitySignal("realized"),
                                                  slow=0.25, name="vol_paced_asset")
    yield "vol_paced_market", VolatilityPacedBands(target, bands,
                                                   volatility=VolatilitySignal("level", level=market_vol),
                                                   slow=0.25, name="vol_paced_market")
    yield "risk_triggered", RiskTriggered(target, te, name="risk_triggered")
    yield "risk_or_band", RiskTriggered(target, te, bands=bands, name="risk_or_band")
    if optimizer:
        common = dict(costs=costs, tax=TAX_EXEMPT, every="W", lookback=252)
        yield "optimizer", OptimizerPolicy(target, name="optimizer", **common)
        yield "optimizer_momentum", OptimizerPolicy(target, name="optimizer_momentum",
                                                    tactics=(MomentumTilt(TrendSignal("momentum"), max_tilt=0.05),),
                                                    **common)
        yield "optimizer_vol_paced", OptimizerPolicy(
            target, name="optimizer_vol_paced",
            tactics=(VolatilityPacing(VolatilitySignal("level", level=market_vol), slow=0.25),), **common)


def net_returns(result) -> np.ndarray:
    return period_returns(result)


def daily_cost(result) -> np.ndarray:
    cost = result.spread_usd + result.commission_usd + result.impact_usd
    return (cost / result.nav_usd)[1:]


def row(window, book, name, costs_label, result, seconds, baseline) -> dict:
    m = summarize(result)
    out = {"window": window, "book": book, "policy": name, "costs": costs_label,
           "trading_cost_bps": m["trading_cost_bps"], "spread_bps": m["spread_bps"], "impact_bps": m["impact_bps"],
           "turnover": m["turnover"], "rebalance_events": m["rebalance_events"],
           "tracking_error_pct": 100 * m["tracking_error"], "annual_return_pct": 100 * m["annual_return"],
           "max_drawdown_pct": 100 * m["max_drawdown"], "seconds": seconds}
    if baseline is not None and baseline is not result:
        ret = paired_difference_ci(net_returns(result), net_returns(baseline), scale=252e4, seed=0)
        cost = paired_difference_ci(daily_cost(result), daily_cost(baseline), scale=252e4, seed=0)
        out.update(net_return_vs_baseline_bps=ret.estimate, net_return_ci_low=ret.low, net_return_ci_high=ret.high,
                   significant=ret.significant, cost_vs_baseline_bps=cost.estimate, cost_ci_low=cost.low,
                   cost_ci_high=cost.high)
    return out


def run(windows: list[str], books: list[str], optimizer: bool) -> list[dict]:
    levels = market_levels()
    realized, median = stress_level()
    print(f"stress level: S&P 500 21-day realized vol, median {median:.1f}% (1990-2022); VIX reference 20")
    rows = []
    for window in windows:
        start, end = WINDOWS[window]
        stress, reference = (realized, median) if STRESS_SOURCE[window] == "realized" else (datasets.load_vix(), 20.0)
        for book_name in books:
            book = BOOKS[book_name]
            assets = list(book["target"])
            prices = levels.loc[start:end, assets]
            cash = levels.loc[start:end, "CASH"]
            stressed = cost_model(assets, stress, reference)
            calm = cost_model(assets, None, reference)
            sim = Simulator(prices, BacktestConfig(initial_usd=NAV_USD, tax=TAX_EXEMPT, costs=stressed),
                            cash_index=cash)
            baseline = None
            for name, policy in policies(book, stress, stressed, optimizer):
                started = time.perf_counter()
                result = sim.run(policy)
                seconds = time.perf_counter() - started
                if name == "band":
                    baseline = result
                rows.append(row(window, book_name, name, "stressed", result, seconds, baseline))
                print(_line(rows[-1]), flush=True)
            calm_sim = Simulator(prices, BacktestConfig(initial_usd=NAV_USD, tax=TAX_EXEMPT, costs=calm),
                                 cash_index=cash)
            started = time.perf_counter()
            result = calm_sim.run(Threshold(book["target"], book["bands"], name="band"))
            rows.append(row(window, book_name, "band_calm_costs", "base", result, time.perf_counter() - started,
                            baseline))
            print(_line(rows[-1]), flush=True)
    return rows


def _line(r: dict) -> str:
    text = (f"{r['window']} {r['book']:8s} {r['policy']:20s} {r['costs']:8s} cost {r['trading_cost_bps']:6.2f} bp/yr "
            f"(impact {r['impact_bps']:5.2f}) turnover {r['turnover']:.3f} events {r['rebalance_events']:4d} "
            f"TE {r['tracking_error_pct']:.2f}% ret {r['annual_return_pct']:6.2f}%")
    if "net_return_vs_baseline_bps" in r:
        text += (f" | vs band: net {r['net_return_vs_baseline_bps']:+7.1f} bp/yr [{r['net_return_ci_low']:+.1f}, "
                 f"{r['net_return_ci_high']:+.1f}] cost {r['cost_vs_baseline_bps']:+6.2f} [{r['cost_ci_low']:+.2f}, "
                 f"{r['cost_ci_high']:+.2f}]")
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--windows", nargs="+", default=list(WINDOWS), choices=list(WINDOWS))
    parser.add_argument("--books", nargs="+", default=list(BOOKS), choices=list(BOOKS))
    parser.add_argument("--no-optimizer", action="store_true", help="heuristic policies only (fast)")
    args = parser.parse_args(argv)
    rows = run(args.windows, args.books, not args.no_optimizer)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "tactical_timing.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
