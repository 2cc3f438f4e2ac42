"""Synthetic rebalancing on real data: physical-only vs overlay-first vs joint optimization.

A $5bn book, 60% US equity (S&P 500 + Shiller dividends) / 38% 10-year Treasury fund /
2% cash (3-month yield), +/-3-point absolute bands, physical trades capped at 10% of an
assumed accessible ADV ($1.5bn equity basket, $1.0bn Treasuries) and charged
``half_spread + eta * daily_vol * u / ADV`` per dollar (eta = 1, 20-day realized vol).
Futures: an E-mini-like S&P future and a 10-year future on the bond sleeve's own index,
cost-of-carry priced, quarterly rolls five business days before expiry, whole contracts,
gross overlay <= 25% of NAV, margin from cash. ``overlay-first-trs`` uses an S&P total-return
swap first (3m yield + 35 bp, $300M counterparty line, monthly resets, 1 bp to trade) and
futures for the rest. Every run goes through the one simulator,
:class:`optimizer.backtest.Simulator` with an overlay (:mod:`optimizer.backtest.derivatives`);
:func:`optimizer.overlays.simulate.book_simulator` sets the book up and
:func:`optimizer.backtest.metrics.overlay_summary` computes each row.

Against the table written by the former stand-alone overlay simulator every figure is
identical (to the 4 decimals written); dollar amounts differ by floating-point rounding
(below $0.02 a day on $5bn for joint optimization, whose solver sees inputs perturbed at
1e-16; micro-dollars for the others).

Per calendar year (2017 and 2019 calm; 2008 and 2020 stressed) and policy it reports:

* ``cost_bps``: all costs over the year (spread, impact, forced sales, futures commissions
  and rolls, swap dealer fees and financing spread), bps of starting NAV; ``impact_bps``,
  ``futures_bps`` and ``swap_bps`` parts;
* ``tracking_error_bps``: annualized std of daily book return minus a costless,
  daily-rebalanced 60/38/2 benchmark;
* ``days_out_of_band``: closes with an exposure outside its band after trading;
  ``trigger_days``: closes that started outside a band (before trading);
* turnover, largest overlay, margin calls, optimizer solves and solves that failed (kept
  as "no trade" days).

The stressed years are also run with ``liquidity = thin``: a quarter of the ADV (so the
participation cap and impact bind four times harder).

    python benchmarks/overlay.py [--years 2008 2017 2019 2020]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optimizer.backtest.metrics import overlay_summary  # noqa: E402
from optimizer.overlays.market_data import daily_market  # noqa: E402
from optimizer.overlays.policies import JointOptimization, OverlayFirst, PhysicalOnly  # noqa: E402
from optimizer.overlays.simulate import SPX_TRS, BookConfig, book_simulator  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
COLUMNS = ("year", "regime", "liquidity", "policy", "cost_bps", "impact_bps", "futures_bps", "swap_bps", "tracking_error_bps",
           "days_out_of_band", "trigger_days", "physical_turnover", "max_overlay_gross", "margin_calls",
           "return_pct", "solves", "solver_failures", "seconds")
STRESSED = {2008, 2020}


def run(years: list[int], config: BookConfig, liquidity: str = "base") -> list[dict]:
    rows = []
    for year in years:
        market = daily_market(f"{year - 1}-01-01", f"{year}-12-31")
        with_swap = replace(config, swaps=(SPX_TRS,))
        target, band = config.target_weights, config.band
        for policy, book in ((PhysicalOnly(target, band), config), (OverlayFirst(target, band), config),
                             (OverlayFirst(target, band, use_swaps=True), with_swap),
                             (JointOptimization(target, band), config)):
            started = time.perf_counter()
            result = book_simulator(market, book, start=f"{year}-01-01").run(policy, book.target_weights)
            summary = overlay_summary(result, book.band, book.nav_usd)
            row = {"year": year, "regime": "stressed" if year in STRESSED else "calm", "liquidity": liquidity,
                   "policy": result.policy,
                   **{k: v for k, v in summary.items() if k in COLUMNS},
                   "solves": getattr(policy, "solves", 0), "solver_failures": len(getattr(policy, "failures", [])),
                   "seconds": time.perf_counter() - started}
            rows.append(row)
            print(f"{year} {liquidity:<5} {result.policy:<19} cost {row['cost_bps']:6.2f} bps  TE {row['tracking_error_bps']:6.1f} bps"
                  f"  out-of-band days {row['days_out_of_band']:3d}  ({row['seconds']:.1f}s)", flush=True)
    return rows


def write_csv(rows: list[dict], path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{row[k]:.4f}" if isinstance(row[k], float) else row[k]) for k in COLUMNS})


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    groups = list(dict.fromkeys((r["year"], r["liquidity"]) for r in rows))
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    metrics = (("cost_bps", "trading cost, bps of NAV"), ("tracking_error_bps", "tracking error, bps/yr"),
               ("days_out_of_band", "closes out of band"))
    fig, axes = plt.subplots(1, len(metrics), figsize=(15, 4.2))
    width = 0.8 / len(policies)
    x = np.arange(len(groups))
    for ax, (metric, label) in zip(axes, metrics):
        for j, policy in enumerate(policies):
            values = [next(r[metric] for r in rows if (r["year"], r["liquidity"]) == g and r["policy"] == policy)
                      for g in groups]
            ax.bar(x + (j - (len(policies) - 1) / 2) * width, values, width, label=policy)
        ax.set_xticks(x, [f"{y}" if liq == "base" else f"{y}\n{liq}" for y, liq in groups], fontsize=8)
        ax.set_title(label)
    axes[0].legend(fontsize=8)
    fig.suptitle("$5bn 60/38/2 book, +/-3pt bands: physical-only vs overlay-first (futures; TRS+futures) vs joint optimization")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def print_table(rows: list[dict]) -> None:
    header = ("year", "liquidity", "policy", "cost_bps", "impact_bps", "futures_bps", "swap_bps", "tracking_error_bps",
              "days_out_of_band", "trigger_days", "physical_turnover", "max_overlay_gross", "margin_calls")
    print(" ".join(f"{h:>11}" if i > 2 else f"{h:<19}" if i == 2 else f"{h:<9}" for i, h in enumerate(header)))
    for r in rows:
        cells = []
        for i, h in enumerate(header):
            v = r[h]
            text = f"{v:.2f}" if isinstance(v, float) else str(v)
            cells.append(f"{text:<9}" if i < 2 else f"{text:<19}" if i == 2 else f"{text:>11}")
        print(" ".join(cells))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, nargs="+", default=[2008, 2017, 2019, 2020])
    parser.add_argument("--thin-years", type=int, nargs="*", default=[2008, 2020],
                        help="years also run with a quarter of the ADV (thin liquidity)")
    args = parser.parse_args(argv)
    base = BookConfig()
    rows = run(args.years, base)
    thin = replace(base, adv_usd=tuple(a / 4 for a in base.adv_usd))
    rows += run(args.thin_years, thin, "thin")
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_csv(rows, RESULTS / "overlay.csv")
    plot(rows, RESULTS / "overlay.png")
    print()
    print_table(rows)
    print(f"\nwrote {RESULTS / 'overlay.csv'} and {RESULTS / 'overlay.png'}")


if __name__ == "__main__":
    main()
