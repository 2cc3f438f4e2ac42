"""Simulator overhead vs the optimizer policy's decision time, per date, at 10 and 100 assets.

* 10 assets: ``problems.real_data.multi_asset_daily`` 2018-2020.
* 100 assets: the 20 real stocks of ``problems.real_data.stocks_daily`` (2018-2020) plus
  80 synthetic ones, each a copy of one real stock's daily return series circularly
  shifted by a seeded random offset (real return distributions, different timing),
  compounded into price paths. Equal target weights.

Both run a taxable account with the optimizer deciding weekly (one Rebalancer; lots
accumulate as it buys). The simulator's time per date (marking, flows, taxes, fills, lot
relief, records: ``BacktestResult.step_seconds``) excludes the policy's decision
(``decide_seconds``). Writes ``benchmarks/results/backtest_speed.csv`` with the median
and mean ms per date of each, the median decision ms per decision (wall time of
``OptimizerPolicy.decide`` on a decision date: risk model, lot grouping, the decision's
data, every solve including the small-trade and wash-sale re-solves) next to the median
of the solvers' own time per decision (the sum, over every solve of the decision, of the
time the solver reports for itself: PIQP's ``run_time`` on the direct path) and the ratio
of the two medians, the program builds (lots are grouped into 8 slots per asset, so one),
and the ratio of the simulator's mean per-date time to the decision's.

The policy builds each decision's ``ProblemData`` straight from the simulator's arrays and
the ledger's records (:class:`optimizer.policies.decision_data.DecisionArrays`, equal
field by field to ``prepare``'s: ``tests/policies/test_decision_data.py``) and reads the
trade off the solution without laying out a result; ``validate_inputs`` on the policy
switches to the checked ``Market``/``Portfolio`` and ``prepare`` (same decisions). The machine's 1-minute load average
before and after each case is written next to its figures (``load_1min_before``,
``load_1min_after``): on a shared machine the wall times grow with it.

Run: ``.venv/bin/python benchmarks/backtest_speed.py`` (about a minute).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.backtest import BacktestConfig, Simulator
from optimizer.policies import OptimizerPolicy
from problems import real_data

RESULTS = Path(__file__).resolve().parent / "results"


def hundred_assets(seed: int = 7) -> pd.DataFrame:
    stocks = real_data.stocks_daily(start="2018-01-02", end="2020-12-31")
    returns = stocks.pct_change().iloc[1:].to_numpy()
    rng = np.random.default_rng(seed)
    columns = [returns]
    names = list(stocks.columns)
    for j in range(80):
        source = j % returns.shape[1]
        shift = int(rng.integers(20, len(returns) - 20))
        columns.append(np.roll(returns[:, source], shift)[:, None])
        names.append(f"{stocks.columns[source]}_S{j:02d}")
    all_returns = np.hstack(columns)
    levels = 100.0 * np.vstack([np.ones(all_returns.shape[1]), np.cumprod(1.0 + all_returns, axis=0)])
    return pd.DataFrame(levels, index=stocks.index, columns=names)


def measure(label: str, prices: pd.DataFrame, cash_index: pd.Series | None, n_factors: int) -> dict:
    target = pd.Series(1.0 / prices.shape[1], index=prices.columns)
    simulator = Simulator(prices, BacktestConfig(), cash_index=cash_index)
    policy = OptimizerPolicy(target, every="W", lookback=126, n_factors=n_factors)
    load_before = os.getloadavg()[0]
    result = simulator.run(policy)
    load_after = os.getloadavg()[0]
    sim_ms = result.step_seconds * 1e3
    dec_ms = result.decide_seconds * 1e3
    row = {
        "case": label, "assets": prices.shape[1], "dates": len(prices), "decisions": policy.decisions,
        "program_builds": policy.rebalancer.builds, "max_lots_per_asset": int(result.final_lots.groupby("asset").size().max()),
        "simulator_median_ms_per_date": float(np.median(sim_ms)),
        "simulator_mean_ms_per_date": float(sim_ms.mean()),
        "decision_median_ms_per_date": float(np.median(dec_ms)),
        "decision_mean_ms_per_date": float(dec_ms.mean()),
        "decision_median_ms_per_decision": float(np.median(policy.decision_seconds)) * 1e3,
        "solver_median_ms_per_decision": float(np.median(policy.solver_seconds)) * 1e3,
        "ratio_decision_to_solver": float(np.median(policy.decision_seconds) / np.median(policy.solver_seconds)),
        "ratio_simulator_to_decision": float(sim_ms.mean() / dec_ms.mean()),
        "load_1min_before": load_before,
        "load_1min_after": load_after,
    }
    print(f"{label}: simulator {row['simulator_mean_ms_per_date']:.3f} ms/date (median "
          f"{row['simulator_median_ms_per_date']:.3f}), decision {row['decision_mean_ms_per_date']:.2f} ms/date "
          f"({row['decision_median_ms_per_decision']:.1f} ms per weekly decision); ratio "
          f"{row['ratio_simulator_to_decision']:.1%} (target <= 10%); decision / solver "
          f"{row['ratio_decision_to_solver']:.1f}x, {row['program_builds']} program build(s); "
          f"load {load_before:.1f} -> {load_after:.1f}", flush=True)
    return row


def main() -> None:
    RESULTS.mkdir(exist_ok=True)
    multi = real_data.multi_asset_daily(start="2018-01-02", end="2020-12-31")
    rows = [measure("multi_asset_daily_10", multi, multi["CASH"], 3),
            measure("stocks_20_real_80_shifted_100", hundred_assets(), None, 5)]
    pd.DataFrame(rows).to_csv(RESULTS / "backtest_speed.csv", index=False, float_format="%.6g")
    print(f"wrote {RESULTS / 'backtest_speed.csv'}")


if __name__ == "__main__":
    main()
