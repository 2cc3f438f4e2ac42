"""Daily market inputs of the overlay simulator, built from the packaged real data.

One row per S&P 500 trading day from 1990-01-03 to 2020-12-31 (the Treasury curve's end):

* ``spx``: S&P 500 price index (points); ``div_yield``: Shiller dividend yield of the
  day's month (decimal per year); ``eq_ret``: price return + ``div_yield * days / 365.25``.
* ``bond_level`` / ``bond_ret``: a constant-maturity 10-year Treasury fund
  (:func:`optimizer.datasets.bond_total_returns` on the ``10y`` par yield, actual day count).
* ``rate``: the 3-month par yield (decimal per year) known at the day's close;
  ``cash_ret``: the 3-month yield of the previous quote accrued over the calendar days.
* Treasury series are forward-filled onto exchange days the bond market was closed
  (they earn nothing that day and catch up the next).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DAYS_PER_YEAR = 365.25


def daily_market(start: str = "1990-01-02", end: str = "2020-12-31") -> pd.DataFrame:
    """Daily equity / 10-year bond / cash inputs on S&P 500 trading days in ``[start, end]``.

    Returns
    -------
    pd.DataFrame
        Columns ``spx div_yield eq_ret bond_level bond_ret rate cash_ret y10``; the first
        row's returns are those from the previous trading day (so every row has a return).
    """
    from optimizer import datasets as real_data  # the loaders of the data shipped in the package

    spx = real_data.load_sp500_index()["SP500"]
    shiller = real_data.load_shiller()
    curve = real_data.load_treasury_par_curve()
    dividend_yield = (shiller["Dividend"] / shiller["SP500"])
    months = spx.index.to_period("M").to_timestamp()
    div = pd.Series(dividend_yield.reindex(months).to_numpy(), index=spx.index)
    days = np.r_[np.nan, np.diff(spx.index.to_numpy()).astype("timedelta64[D]").astype(float)]
    eq_ret = spx.pct_change() + div * days / DAYS_PER_YEAR

    bond_ret = real_data.bond_total_returns(curve["10y"], None, 10.0)
    bond_level = (1.0 + bond_ret).cumprod()
    cash_level = (1.0 + real_data.cash_returns_daily(curve)).cumprod()
    calendar = spx.index[(spx.index > curve.index[0]) & (spx.index <= curve.index[-1])]

    def onto(series: pd.Series) -> pd.Series:
        union = series.index.union(calendar)
        return series.reindex(union).ffill().reindex(calendar)

    frame = pd.DataFrame({
        "spx": spx.reindex(calendar),
        "div_yield": div.reindex(calendar),
        "eq_ret": eq_ret.reindex(calendar),
        "bond_level": onto(bond_level),
        "rate": onto(curve["3m"] / 100.0),
        "y10": onto(curve["10y"] / 100.0),
    })
    frame["bond_ret"] = frame["bond_level"].pct_change()
    frame["cash_ret"] = onto(cash_level).pct_change()
    frame = frame.iloc[1:]
    frame = frame.loc[(frame.index >= pd.Timestamp(start)) & (frame.index <= pd.Timestamp(end))]
    if frame.empty or frame.isna().any().any():
        raise ValueError(f"no complete daily data between {start} and {end} (data: 1990-01-03 .. 2020-12-31)")
    frame["bond_level"] = frame["bond_level"] / frame["bond_level"].iloc[0] * 100.0
    return frame
