"""How much of the optimizer's turnover is caused by re-estimating its risk model alone.

At every decision where the policy re-estimates its risk model, the same decision is
also solved with the *previous* model: same date, prices, lots and cash, only the
estimation window moved. The trade difference, ``sum |u_new - u_old| / 2`` summed over
the run, is the turnover caused by re-estimation alone; it is reported as a share of the
run's total one-way turnover (``sum |u| / 2`` over all decisions). Compared:

* ``shrunk_monthly``: the default (Ledoit-Wolf shrinkage, re-estimated monthly);
* ``sample_daily``: the previous design (sample covariance re-estimated every decision).

Data: the 20 shared stocks, daily 2005-2020, equal weight 98% + 2% cash, $1m taxable
with $10k each quarter, weekly decisions at the default risk aversion. Writes
``benchmarks/results/risk_jitter.csv``.

Run: ``.venv/bin/python benchmarks/risk_jitter.py [--start 2005-01-03 --end 2020-12-31]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.backtest import BacktestConfig, Simulator
from optimizer.model import TaxRules
from optimizer.policies import OptimizerPolicy
from problems import real_data

RESULTS = Path(__file__).resolve().parent / "results"


class JitterProbe(OptimizerPolicy):
    """An :class:`OptimizerPolicy` that also solves each re-estimation date with the old model."""

    def start(self, assets):
        super().start(assets)
        self.total_usd = 0.0          # one-way trade of the decisions taken
        self.jitter_usd = 0.0         # one-way trade difference caused by the new model
        self.reestimations = 0

    def decide(self, date, state):
        if not self.schedule.due(date, state.next_date):
            return None
        previous, previous_var = self._risk, self._relative_var
        risk = self.risk_model(date, state)
        if risk is None:
            return None
        orders = self._decide(date, state, risk)
        new = np.zeros(len(state.assets)) if orders is None else orders.trade_usd
        self.total_usd += float(np.abs(new).sum()) / 2
        if previous is not None and risk is not previous:
            current_var, self._relative_var = self._relative_var, previous_var
            old_orders = self._decide(date, state, previous)
            self._relative_var = current_var
            old = np.zeros(len(state.assets)) if old_orders is None else old_orders.trade_usd
            self.jitter_usd += float(np.abs(new - old).sum()) / 2
            self.reestimations += 1
        return orders


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", default="2005-01-03")
    parser.add_argument("--end", default="2020-12-31")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    prices = real_data.stocks_daily(start=args.start, end=args.end)
    target = pd.Series(0.98 / prices.shape[1], index=prices.columns)
    quarter_starts = prices.index.to_series().groupby(prices.index.to_period("Q")).first()
    flows = pd.Series(10_000.0, index=pd.DatetimeIndex(quarter_starts.to_numpy()[1:]))
    simulator = Simulator(prices, BacktestConfig(tax=TaxRules()), flows=flows)
    rows = []
    designs = (("shrunk_monthly", {}), ("sample_daily", {"shrink": False, "risk_every": "D", "risk_blend": 1.0}))
    for label, options in designs:
        started = time.perf_counter()
        probe = JitterProbe(target, **options)
        metrics = simulator.run(probe).metrics()
        rows.append({"risk_model": label, "start": args.start, "end": args.end,
                     "reestimations": probe.reestimations, "total_trade_usd": probe.total_usd,
                     "jitter_trade_usd": probe.jitter_usd, "jitter_share": probe.jitter_usd / probe.total_usd,
                     "turnover": metrics["turnover"], "tracking_error": metrics["tracking_error"],
                     "seconds": time.perf_counter() - started})
        print(f"{label:15s} re-estimations {probe.reestimations:4d}  jitter {probe.jitter_usd:>12,.0f} of "
              f"{probe.total_usd:>12,.0f} traded = {probe.jitter_usd / probe.total_usd:.1%}  "
              f"({rows[-1]['seconds']:.0f} s)", flush=True)
    table = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "risk_jitter.csv", index=False)
    return table


if __name__ == "__main__":
    main()
