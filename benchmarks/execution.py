"""A $5bn sale scheduled over 5 and 10 days: optimal (Almgren-Chriss) vs TWAP, VWAP and all at once.

Every number here is the **model's** expected shortfall and its standard deviation
(Almgren & Chriss 2000, "Optimal execution of portfolio transactions", J. Risk 3(2)),
computed by ``optimizer.execution.expected_cost_and_variance``: not a backtest, not a
measured cost. Executing decisions over several days inside the backtester (with
implementation shortfall against the arrival price) is not done yet.

Asset ("S&P-500-like"): the S&P 500 basket, one unit priced at the index close, from
``sp500_ohlcv_daily.csv.gz`` (shared data):

* volatility sigma: the realised daily volatility of the index close over the 60 trading
  days before arrival, times the close (USD per unit per sqrt(day));
* market volume: the file's ``Volume`` is shares traded in the index's members; it is
  turned into dollars with the volume-weighted average share price of the 100 members in
  ``sp500_100_stocks_ohlcv_daily.csv.gz`` over the same 60 days (~$200bn a day in
  2015-2017), then into index units by dividing by the close. Arrival dates therefore lie
  in 2013-2018, where both files overlap;
* forecast volume per execution day (no look-ahead): the 60-day mean dollar volume times
  that weekday's mean volume relative to the week over the year before arrival; the VWAP
  profile is this forecast.
* impact, the paper's rules of thumb (its section 4.2) with an ASSUMED full bid-ask spread
  of 2 bp (not in the data): fixed cost eps = half the spread; trading at 1% of a day's
  volume costs one spread (eta_k = spread / (0.01 V_k)); selling 10% of ADV moves the price
  one spread permanently (gamma = spread / (0.1 ADV)).

Liquidity variants: ``index`` (the basket's whole volume) and ``large_cap``, a hypothetical
single stock with the same volatility and 2% of the basket's dollar volume (a $5bn sale is
then about one day's volume; the trade-offs become visible). Strategies: ``optimal`` at
several risk aversions (given as a nominal urgency kappa*T, converted to lambda per USD with
the mean eta), the optimal schedule again under a 20% participation cap where that is
feasible, ``twap``, ``vwap``, and ``all_at_once`` (everything on day 1; the discrete
model then charges no price risk, since no holding is left at the end of a period).

Writes ``benchmarks/results/execution.csv``. Run: ``.venv/bin/python benchmarks/execution.py``
(a few seconds).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.datasets import SHARED_DATA_DIR, load_sp500_100_ohlcv
from optimizer.errors import InfeasibleError
from optimizer.execution import ScheduleInputs, ScheduleProgram, expected_cost_and_variance, twap, vwap

RESULTS = Path(__file__).resolve().parent / "results"
NOTIONAL_USD = 5e9
SPREAD_BP = 2.0                       # assumed full bid-ask spread of the basket, bp
WINDOW = 60                           # trading days of history for vol, ADV and price per share
ARRIVALS = ("2015-08-24", "2017-06-01")   # a stressed day (August 2015 sell-off) and a calm one
HORIZONS = (5, 10)                    # trading days
URGENCIES = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)   # nominal kappa * T
LIQUIDITY = {"index": 1.0, "large_cap": 0.02}
MAX_PARTICIPATION = 0.2


def load_index() -> pd.DataFrame:
    raw = pd.read_csv(SHARED_DATA_DIR / "sp500_ohlcv_daily.csv.gz")
    frame = raw.set_index(pd.to_datetime(raw["Date"], format="%m/%d/%Y"))[["Close", "Volume"]].astype(float)
    return frame.sort_index()


def member_price_per_share() -> pd.Series:
    """Volume-weighted average share price of the 100 members, per day (USD per share)."""
    bars = load_sp500_100_ohlcv()
    bars = bars.assign(dollars=bars["close"] * bars["volume"])
    daily = bars.groupby("date")[["dollars", "volume"]].sum()
    return daily["dollars"] / daily["volume"]


def market_at(index: pd.DataFrame, price: pd.Series, arrival: pd.Timestamp, horizon: int, share: float) -> dict:
    """Arrival price, daily sigma, forecast volume per day (units) and ADV, from data before arrival."""
    before = index.loc[: arrival - pd.Timedelta(days=1)]
    window = before.iloc[-WINDOW:]
    close = float(window["Close"].iloc[-1])
    returns = np.log(window["Close"]).diff().dropna()
    dollar_volume = window["Volume"] * price.reindex(window.index)
    if dollar_volume.isna().any():
        raise ValueError(f"no member prices for the window before {arrival.date()}")
    adv_usd = float(dollar_volume.mean()) * share
    year = before.iloc[-252:]
    weekday = year["Volume"].groupby(year.index.day_of_week).mean()
    weekday = weekday / weekday.mean()
    days = index.index[index.index >= arrival][:horizon]          # the trading calendar only
    forecast_usd = adv_usd * weekday.reindex(days.day_of_week).to_numpy()
    return {"close": close, "sigma": float(returns.std()) * close, "adv_units": adv_usd / close,
            "volume_units": forecast_usd / close, "daily_vol": float(returns.std()), "adv_usd": adv_usd,
            "first_day": days[0]}


def rows_for(arrival: str, liquidity: str, horizon: int, index: pd.DataFrame, price: pd.Series) -> list[dict]:
    m = market_at(index, price, pd.Timestamp(arrival), horizon, LIQUIDITY[liquidity])
    spread_usd = SPREAD_BP * 1e-4 * m["close"]
    units = NOTIONAL_USD / m["close"]
    eta = spread_usd / (0.01 * m["volume_units"])
    gamma = spread_usd / (0.1 * m["adv_units"])
    model = dict(sigma=m["sigma"], eta=eta, gamma=gamma, spread=spread_usd / 2)
    base = {"arrival": arrival, "liquidity": liquidity, "horizon_days": horizon, "notional_usd": NOTIONAL_USD,
            "adv_usd": round(m["adv_usd"]), "order_over_adv": NOTIONAL_USD / m["adv_usd"],
            "daily_vol": m["daily_vol"], "spread_bp_assumed": SPREAD_BP}

    def row(strategy, path, urgency=np.nan, lam=np.nan, note=""):
        cost = expected_cost_and_variance(path, **model)
        trades = -np.diff(path.to_numpy())
        return base | {"strategy": strategy, "urgency_kappa_T": urgency, "risk_aversion_per_usd": lam,
                       "expected_cost_bp": cost.expected_cost / NOTIONAL_USD * 1e4,
                       "std_bp": cost.std / NOTIONAL_USD * 1e4,
                       "day1_fraction": trades[0] / units,
                       "max_participation": float(np.max(np.abs(trades) / m["volume_units"])), "note": note}

    eta_tilde = float(np.mean(eta)) - gamma / 2
    out = []
    uncapped = ScheduleProgram(ScheduleInputs.build(units, horizon, volume=m["volume_units"], **model))
    try:
        capped = ScheduleProgram(ScheduleInputs.build(units, horizon, volume=m["volume_units"],
                                                      max_participation=MAX_PARTICIPATION, **model))
    except InfeasibleError as error:
        capped, capped_note = None, f"cap {MAX_PARTICIPATION:.0%} infeasible: {error}"
    for urgency in URGENCIES:
        kappa_tilde_sq = 2 * (np.cosh(urgency / horizon) - 1)          # tau = 1 day
        lam = kappa_tilde_sq * eta_tilde / m["sigma"] ** 2
        out.append(row("optimal", uncapped.solve(lam).holdings, urgency, lam))
        if capped is not None:
            out.append(row(f"optimal_cap{int(MAX_PARTICIPATION * 100)}", capped.solve(lam).holdings, urgency, lam))
    if capped is None:
        out.append(base | {"strategy": f"optimal_cap{int(MAX_PARTICIPATION * 100)}", "note": capped_note})
    out.append(row("twap", twap(units, horizon)))
    out.append(row("vwap", vwap(units, m["volume_units"])))
    all_at_once = pd.Series([units] + [0.0] * horizon, index=pd.Index(np.arange(horizon + 1.0), name="time"))
    out.append(row("all_at_once", all_at_once, note="all on day 1; the model charges no risk within a period"))
    return out


def main() -> pd.DataFrame:
    index, price = load_index(), member_price_per_share()
    rows = [r for arrival in ARRIVALS for liquidity in LIQUIDITY for horizon in HORIZONS
            for r in rows_for(arrival, liquidity, horizon, index, price)]
    table = pd.DataFrame(rows)
    RESULTS.mkdir(exist_ok=True)
    table.to_csv(RESULTS / "execution.csv", index=False, float_format="%.6g")
    return table


if __name__ == "__main__":
    result = main()
    with pd.option_context("display.width", 200, "display.max_rows", 200):
        print(result[["arrival", "liquidity", "horizon_days", "strategy", "urgency_kappa_T", "expected_cost_bp",
                      "std_bp", "day1_fraction", "max_participation"]].round(3).to_string(index=False))
