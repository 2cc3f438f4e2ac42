"""The verdict of a policy comparison: who wins on what, by how much, and why the optimizer deviates.

Everything here is computed from the comparison table and the backtest results; no
sentence is written unless the numbers behind it say so.

* :func:`headline_verdicts` - best optimizer point vs best heuristic on total cost
  (incl. tax), after-tax terminal wealth and tracking error.
* :func:`dominance_verdicts` - for each heuristic, whether some optimizer point is no
  worse on both tracking error and total cost (via
  :func:`optimizer.backtest.compare.evaluate_targets`), with the margin otherwise.
* :func:`deviation_explanations` - for each optimizer point, the asset it deviates most
  from target on average, and whether that deviation coincides with unrealized gains
  (tax cost of trimming) or with a low-volatility asset (cheap in tracking-error terms).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.backtest.compare import evaluate_targets
from optimizer.backtest.result import BacktestResult


@dataclass(frozen=True)
class Headline:
    """One metric's winner: best of all policies, the best optimizer point and the best heuristic."""

    metric: str
    label: str
    winner: str
    winner_value: float
    best_optimizer: str | None
    optimizer_value: float
    best_heuristic: str | None
    heuristic_value: float
    margin: float          # best optimizer minus best heuristic, signed so that > 0 means the optimizer is better
    unit: str

    def text(self) -> str:
        fmt = _FMT[self.unit]
        if self.best_optimizer is None or self.best_heuristic is None:
            return f"{self.label}: {self.winner} ({fmt(self.winner_value)})."
        who = "optimizer" if self.margin > 0 else ("heuristic" if self.margin < 0 else "tie")
        lead = (f"{self.best_optimizer} ({fmt(self.optimizer_value)}) vs best heuristic {self.best_heuristic} "
                f"({fmt(self.heuristic_value)})")
        if who == "tie":
            return f"{self.label}: tie, {lead}."
        better = self.best_optimizer if who == "optimizer" else self.best_heuristic
        return f"{self.label}: {lead}; {better} is better by {fmt(abs(self.margin), diff=True)}."


def _pct(v: float, diff: bool = False) -> str:
    return f"{v * 100:.2f} %-points/yr" if diff else f"{v:.2%}/yr"


def _bp(v: float, diff: bool = False) -> str:
    return f"{v:.1f} bp/yr"


def _usd(v: float, diff: bool = False) -> str:
    return f"${v:,.0f}"


_FMT = {"pct": _pct, "bp": _bp, "usd": _usd}

#: (column, label, higher is better, unit)
HEADLINE_METRICS = (
    ("total_cost_bps", "Lowest total cost incl. tax", False, "bp"),
    ("after_tax_terminal_usd", "Highest after-tax terminal wealth", True, "usd"),
    ("tracking_error", "Lowest tracking error", False, "pct"),
)


def _is_optimizer(index: pd.Index, prefix: str) -> np.ndarray:
    return np.asarray(index.astype(str).str.startswith(prefix), dtype=bool)


def headline_verdicts(table: pd.DataFrame, *, frontier_prefix: str = "optimizer") -> list[Headline]:
    """Best optimizer point vs best heuristic on each of :data:`HEADLINE_METRICS` present in ``table``."""
    is_opt = _is_optimizer(table.index, frontier_prefix)
    out = []
    for column, label, higher, unit in HEADLINE_METRICS:
        if column not in table.columns:
            continue
        values = table[column].astype(float)
        pick = (lambda s: s.idxmax()) if higher else (lambda s: s.idxmin())
        winner = pick(values)
        opt, heu = values[is_opt].dropna(), values[~is_opt].dropna()
        best_opt = pick(opt) if len(opt) else None
        best_heu = pick(heu) if len(heu) else None
        ov = float(opt[best_opt]) if best_opt is not None else np.nan
        hv = float(heu[best_heu]) if best_heu is not None else np.nan
        margin = (ov - hv) if higher else (hv - ov)
        out.append(Headline(column, label, str(winner), float(values[winner]), best_opt, ov, best_heu, hv,
                            float(margin), unit))
    return out


def dominance_verdicts(table: pd.DataFrame, *, frontier_prefix: str = "optimizer") -> pd.DataFrame:
    """Per heuristic: is some optimizer point no worse on both tracking error and total cost?

    Columns: ``heuristic``, ``dominated`` (bool), ``by`` (the dominating optimizer points,
    comma-separated, tightest first), ``text`` (one sentence with the margin).
    """
    frame = table.copy()
    if "wash_sale_violations" not in frame.columns:
        frame["wash_sale_violations"] = np.nan
    frame.index = frame.index.astype(str)
    frame.index.name = "policy"
    targets = evaluate_targets(frame, frontier_prefix=frontier_prefix)
    is_opt = _is_optimizer(frame.index, frontier_prefix)
    front = frame[is_opt].sort_values("tracking_error")
    rows = []
    for _, t in targets.iterrows():
        h = str(t["heuristic"])
        h_te, h_cost = float(t["heuristic_tracking_error"]), float(t["heuristic_total_cost_bps"])
        by = [str(n) for n, r in front.iterrows()
              if r["tracking_error"] <= h_te and r["total_cost_bps"] <= h_cost]
        if t["a_dominated"]:
            best = front.loc[by[0]]
            text = (f"{h} (TE {h_te:.2%}, cost {h_cost:.1f} bp/yr): matched or beaten on both by "
                    f"{', '.join(by)}; e.g. {by[0]} has TE {best['tracking_error']:.2%} and cost "
                    f"{best['total_cost_bps']:.1f} bp/yr.")
        elif np.isfinite(t["a_cost_miss_bps"]):
            miss_te = t["a_te_miss"]
            tail = (f"; those at least as cheap track at least {miss_te * 100:.2f} %-points/yr worse"
                    if np.isfinite(miss_te) else "; no optimizer point is as cheap")
            text = (f"{h} (TE {h_te:.2%}, cost {h_cost:.1f} bp/yr): not dominated; optimizer points at least as "
                    f"tight cost at least {t['a_cost_miss_bps']:.1f} bp/yr more{tail}.")
        else:
            miss_te = t["a_te_miss"]
            tail = (f"; those at least as cheap track at least {miss_te * 100:.2f} %-points/yr worse"
                    if np.isfinite(miss_te) else "")
            text = (f"{h} (TE {h_te:.2%}, cost {h_cost:.1f} bp/yr): not dominated; no optimizer point tracks "
                    f"as tightly{tail}.")
        rows.append({"heuristic": h, "dominated": bool(t["a_dominated"]), "by": ", ".join(by), "text": text})
    return pd.DataFrame(rows, columns=["heuristic", "dominated", "by", "text"])


@dataclass(frozen=True)
class Deviation:
    """Where one optimizer run sits away from target, and the data-derived reasons."""

    policy: str
    asset: str
    mean_abs_deviation: float       # weight minus target, mean of the absolute value over dates
    mean_deviation: float           # signed mean (> 0: overweight)
    final_deviation_usd: float      # (final weight - target) x final NAV
    unrealized_gain_usd: float      # open lots of the asset at the last price
    gain_to_trim_usd: float         # gain realized selling the final overweight, highest basis lots first
    asset_volatility: float         # annualized, from daily price returns
    others_median_volatility: float
    reasons: tuple[str, ...]

    def text(self) -> str:
        side = "over" if self.mean_deviation > 0 else "under"
        head = (f"{self.policy} deviates most in {self.asset}: {abs(self.mean_deviation) * 100:.1f} points "
                f"{side} target on average (mean absolute deviation {self.mean_abs_deviation * 100:.1f} points).")
        return " ".join((head, *self.reasons))


def _gain_to_sell(lots: pd.DataFrame, price: float, usd: float) -> float:
    """Gain realized by selling ``usd`` of an asset's ``lots`` at ``price``, highest basis first."""
    if usd <= 0 or lots.empty or price <= 0:
        return 0.0
    left = usd / price
    gain = 0.0
    for _, lot in lots.sort_values("cost_basis", ascending=False).iterrows():
        take = min(left, float(lot["quantity"]))
        gain += take * (price - float(lot["cost_basis"]))
        left -= take
        if left <= 1e-12:
            break
    return gain


def explain_deviation(result: BacktestResult, *, cheap_ratio: float = 0.5, gain_threshold: float = 0.02
                      ) -> Deviation:
    """The asset ``result`` deviates most from target on average, and why, from the run's own data.

    Two explanations are tested: a **tax** one (the asset is overweight at the end, its
    lots carry unrealized gains of more than ``gain_threshold`` of its value, so trimming
    it to target would realize gains) and a **risk** one (the asset's volatility is below
    ``cheap_ratio`` times the median of the other assets', so a deviation there adds little
    tracking error). Each reason is stated only if its test passes; if none does, that is said.
    """
    weights = result.weights
    target = pd.Series(result.target, index=list(result.assets))
    dev = weights - target
    mad = dev.abs().mean()
    asset = str(mad.idxmax())
    j = list(result.assets).index(asset)
    mean_dev = float(dev[asset].mean())
    nav = float(result.nav_usd[-1])
    final_dev_usd = float(dev[asset].iloc[-1]) * nav
    price = float(result.prices[-1, j])
    lots = result.final_lots[result.final_lots["asset"] == asset]
    unrealized = float((lots["quantity"] * (price - lots["cost_basis"])).sum()) if len(lots) else 0.0
    value = float(result.holdings_usd[-1, j])
    trim_gain = _gain_to_sell(lots, price, final_dev_usd)
    rets = pd.DataFrame(result.prices, index=result.calendar, columns=list(result.assets)).pct_change().iloc[1:]
    vols = rets.std() * np.sqrt(result.periods_per_year)
    vol = float(vols[asset])
    others = float(vols.drop(asset).median())

    reasons = []
    if mean_dev > 0 and final_dev_usd > 0 and value > 0 and unrealized > gain_threshold * value and trim_gain > 0:
        reasons.append(f"Tax: at the end it is ${final_dev_usd:,.0f} over target and its lots carry "
                       f"${unrealized:,.0f} of unrealized gains ({unrealized / value:.0%} of its value); selling "
                       f"the overweight, highest-basis lots first, would realize ${trim_gain:,.0f} of gains.")
    elif mean_dev < 0 and final_dev_usd < 0:
        over = dev.iloc[-1] * nav
        over = over[(over > 0) & (over.index != asset)]
        gains = {a: _gain_to_sell(result.final_lots[result.final_lots["asset"] == a],
                                  float(result.prices[-1, list(result.assets).index(a)]), float(usd))
                 for a, usd in over.items()}
        total = float(sum(gains.values()))
        if total > 0:
            top = sorted(gains, key=gains.get, reverse=True)[:3]
            reasons.append(f"Tax: at the end it is ${-final_dev_usd:,.0f} under target while the overweight assets "
                           f"({', '.join(top)}{', ...' if len(gains) > 3 else ''}) are ${float(over.sum()):,.0f} "
                           f"over; trimming those to target, highest-basis lots first, would realize "
                           f"${total:,.0f} of gains.")
        else:
            reasons.append(f"Tax does not explain it: trimming the overweight assets to fund it would realize "
                           f"no gains (${total:,.0f}).")
    elif mean_dev > 0 and value > 0:
        where = (f"${abs(final_dev_usd):,.0f} {'over' if final_dev_usd > 0 else 'under'} target"
                 if abs(final_dev_usd) >= 0.5 else "on target")
        reasons.append(f"Tax does not explain it: at the end it is {where}, so there is no overweight left to "
                       f"trim, although its lots carry ${unrealized:,.0f} of unrealized gains "
                       f"({unrealized / value:.0%} of its value)." if final_dev_usd <= 0 else
                       f"Tax does not explain it: at the end it is {where} and its lots carry "
                       f"${unrealized:,.0f} of unrealized gains ({unrealized / value:.0%} of its value).")
    if vol < cheap_ratio * others:
        reasons.append(f"Risk: its volatility is {vol:.1%}/yr vs a median of {others:.1%}/yr for the other "
                       f"assets, so a deviation there costs little tracking error.")
    else:
        reasons.append(f"Its volatility ({vol:.1%}/yr vs a median of {others:.1%}/yr for the others) does not "
                       f"make the deviation cheap in tracking-error terms.")
    return Deviation(result.policy, asset, float(mad[asset]), mean_dev, final_dev_usd, unrealized, trim_gain,
                     vol, others, tuple(reasons))


def deviation_explanations(results: dict[str, BacktestResult], *, frontier_prefix: str = "optimizer"
                           ) -> list[Deviation]:
    """:func:`explain_deviation` for each optimizer run in ``results``."""
    return [explain_deviation(r) for name, r in results.items() if str(name).startswith(frontier_prefix)]
