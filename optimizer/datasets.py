"""Loaders and return builders for the real market data shipped in ``optimizer/data``.

The package's data sets live here (``problems.real_data`` re-exports them for the
case catalogs, tests and benchmarks), so the package never imports ``problems``.

The files, their columns and units are described in ``optimizer/data/README.md``; where
they came from and under which licence is in the top-level ``NOTICE``.

Conventions used throughout this module
---------------------------------------
* Every loader returns a ``pd.DataFrame`` indexed by a sorted, unique ``DatetimeIndex``
  named ``"date"``, with the file's value columns unchanged (same names, same units:
  prices in USD or index points, yields and Fama-French factors in **percent**).
  Monthly files are labelled by the first day of the month.
* Returns are **decimal** simple returns per period (0.01 is 1%).
* Index levels ("total-return price indices") start at 100.
* Day counts: year fraction = calendar days / ``DAYS_PER_YEAR`` (365.25), so that a
  run of real dates spanning N years accrues exactly N years of coupon or interest,
  whatever the holidays in between. Daily bond and cash returns use this actual day
  count rather than a fixed 252 periods per year: a return over a weekend or holiday
  earns the interest for all the days it spans.
* Every loader takes an optional ``directory``; by default it reads the copies packaged
  in ``optimizer/data`` (see :func:`data_dir`).
* Problems with a file raise :class:`DataError`, which names the file and the column.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

DAYS_PER_YEAR = 365.25

FACTOR_ETFS_FILE = "factor_etfs_daily.csv.gz"
SP500_INDEX_FILE = "sp500_index_daily.csv.gz"
SP500_STOCKS_FILE = "sp500_20_stocks_daily.csv.gz"
TREASURY_CURVE_FILE = "us_treasury_par_curve_daily.csv.gz"
SHILLER_FILE = "shiller_sp500_monthly.csv"
TREASURY_10Y_FILE = "us_treasury_10y_yield_monthly.csv"
GOLD_FILE = "gold_usd_monthly.csv"
FF3_FILE = "ff3_monthly.csv.gz"

PACKAGED_FILES = (
    FACTOR_ETFS_FILE,
    SP500_INDEX_FILE,
    SP500_STOCKS_FILE,
    TREASURY_CURVE_FILE,
    SHILLER_FILE,
    TREASURY_10Y_FILE,
    GOLD_FILE,
    FF3_FILE,
)

FACTOR_ETFS = ("MTUM", "QUAL", "SIZE", "USMV", "VLUE")
SP500_STOCKS = (
    "AAPL", "AMD", "BAC", "BBY", "CVX", "GE", "HD", "JNJ", "JPM", "KO",
    "LLY", "MRK", "MSFT", "PEP", "PFE", "PG", "RRC", "UNH", "WMT", "XOM",
)
TREASURY_TENORS = ("1m", "2m", "3m", "6m", "1y", "2y", "3y", "5y", "7y", "10y", "20y", "30y")
SHILLER_COLUMNS = (
    "SP500", "Dividend", "Earnings", "Consumer Price Index", "Long Interest Rate",
    "Real Price", "Real Dividend", "Real Earnings", "PE10",
)
FF3_COLUMNS = ("Mkt-RF", "SMB", "HML", "RF")

# From 2023-07 on, the Shiller file fills only SP500 (from FRED); other columns hold 0.
SHILLER_LAST_COMPLETE_MONTH = pd.Timestamp("2023-06-01")

# Treasury "funds" of the daily multi-asset universe: column -> (curve tenor, maturity).
TREASURY_FUNDS = {"UST2Y": ("2y", 2.0), "UST10Y": ("10y", 10.0), "UST30Y": ("30y", 30.0)}

MULTI_ASSET_CLASSES = {
    "MTUM": "US_EQUITY",
    "QUAL": "US_EQUITY",
    "SIZE": "US_EQUITY",
    "USMV": "US_EQUITY",
    "VLUE": "US_EQUITY",
    "SP500": "US_EQUITY",
    "UST2Y": "SHORT_BONDS",
    "UST10Y": "LONG_BONDS",
    "UST30Y": "LONG_BONDS",
    "CASH": "CASH",
}


class DataError(ValueError):
    """A data file is missing a column or holds a value that cannot be right.

    Parameters
    ----------
    file : str or os.PathLike
        The file (or data set) at fault.
    column : str
        The column at fault.
    problem : str
        What is wrong, e.g. ``"non-positive price 0.0 on 2016-05-02"``.
    """

    def __init__(self, file: str | os.PathLike, column: str, problem: str) -> None:
        self.file = str(file)
        self.column = column
        self.problem = problem
        super().__init__(f"{self.file}: column {column!r}: {problem}")


# --------------------------------------------------------------------------- files


def data_dir() -> Path:
    """Return the directory holding the packaged data files (``optimizer/data``).

    Returns
    -------
    pathlib.Path
        The ``data`` folder of the installed ``optimizer`` package.

    Raises
    ------
    FileNotFoundError
        If ``optimizer`` cannot be found or has no ``data`` folder.
    """
    candidate = Path(__file__).resolve().parent / "data"
    if candidate.is_dir():
        return candidate
    raise FileNotFoundError(f"the optimizer package has no data folder ({candidate})")


def _path(name: str, directory: str | os.PathLike | None) -> Path:
    return (data_dir() if directory is None else Path(directory)) / name


def _read_dated_csv(
    path: Path, date_column: str, date_format: str, value_columns: tuple[str, ...]
) -> pd.DataFrame:
    """Read a CSV with one date column; return the value columns on a sorted index."""
    raw = pd.read_csv(path, dtype={date_column: str})
    for column in (date_column, *value_columns):
        if column not in raw.columns:
            raise DataError(path, column, "column missing")
    try:
        dates = pd.to_datetime(raw[date_column], format=date_format)
    except ValueError as error:
        problem = f"date not in format {date_format!r}: {error}"
        raise DataError(path, date_column, problem) from error
    if dates.isna().any():
        row = int(np.flatnonzero(dates.isna())[0])
        raise DataError(path, date_column, f"missing date in data row {row + 1}")
    frame = raw.loc[:, list(value_columns)].set_index(pd.DatetimeIndex(dates, name="date"))
    frame = frame.sort_index()
    duplicated = frame.index[frame.index.duplicated()]
    if len(duplicated):
        raise DataError(path, date_column, f"duplicate date {duplicated[0].date()}")
    for column in value_columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise DataError(path, column, "values are not numeric")
    return frame.astype(float)


def _check_positive(frame: pd.DataFrame, path: Path, columns: tuple[str, ...]) -> None:
    """Raise DataError at the first non-positive value of any of ``columns``."""
    for column in columns:
        bad = frame.index[frame[column] <= 0]
        if len(bad):
            value = frame.at[bad[0], column]
            raise DataError(path, column, f"non-positive price {value} on {bad[0].date()}")


def _load_prices(
    name: str, directory: str | os.PathLike | None, date_column: str, columns: tuple[str, ...]
) -> pd.DataFrame:
    path = _path(name, directory)
    frame = _read_dated_csv(path, date_column, "%Y-%m-%d", columns)
    _check_positive(frame, path, columns)
    return frame


# --------------------------------------------------------------------------- loaders


def load_factor_etfs(directory: str | os.PathLike | None = None) -> pd.DataFrame:
    """Daily adjusted closes of five US equity factor ETFs, 2014-01-02 .. 2022-12-28.

    Parameters
    ----------
    directory : str or os.PathLike, optional
        Folder holding ``factor_etfs_daily.csv.gz``; default :func:`data_dir`.

    Returns
    -------
    pd.DataFrame
        Columns ``MTUM QUAL SIZE USMV VLUE``: dividend- and split-adjusted close, USD
        (so their ratios are total returns). Index: exchange trading days.

    Raises
    ------
    DataError
        On a missing column, a bad date or a non-positive price.
    """
    return _load_prices(FACTOR_ETFS_FILE, directory, "Date", FACTOR_ETFS)


def load_sp500_index(directory: str | os.PathLike | None = None) -> pd.DataFrame:
    """Daily S&P 500 index level (price index, no dividends), 1990-01-02 .. 2022-12-28.

    Parameters
    ----------
    directory : str or os.PathLike, optional
        Folder holding ``sp500_index_daily.csv.gz``; default :func:`data_dir`.

    Returns
    -------
    pd.DataFrame
        One column ``SP500``: index points. Index: exchange trading days.

    Raises
    ------
    DataError
        On a missing column, a bad date or a non-positive level.
    """
    return _load_prices(SP500_INDEX_FILE, directory, "Date", ("SP500",))


def load_sp500_stocks(directory: str | os.PathLike | None = None) -> pd.DataFrame:
    """Daily adjusted closes of 20 S&P 500 stocks, 1990-01-02 .. 2022-12-28.

    Prices are rounded to 3 decimals in the file, so early-1990s prices under $1
    (AAPL, BBY, UNH, MSFT) have daily returns quantised to about 0.3%.

    Parameters
    ----------
    directory : str or os.PathLike, optional
        Folder holding ``sp500_20_stocks_daily.csv.gz``; default :func:`data_dir`.

    Returns
    -------
    pd.DataFrame
        20 columns (tickers ``AAPL`` .. ``XOM``): dividend- and split-adjusted close, USD.

    Raises
    ------
    DataError
        On a missing column, a bad date or a non-positive price.
    """
    return _load_prices(SP500_STOCKS_FILE, directory, "Date", SP500_STOCKS)


def load_treasury_par_curve(directory: str | os.PathLike | None = None) -> pd.DataFrame:
    """US Treasury daily par yield curve, 1990-01-02 .. 2020-12-31.

    Two rows of the file carry no quote and are dropped: rows whose yields are all
    missing (2010-10-11) or all exactly zero (2017-04-14, a closed Good Friday). Their
    dates are listed in ``.attrs["dropped_dates"]``. Other gaps stay NaN: ``1m`` starts
    in 2001, ``2m`` in 2018, ``20y``/``30y`` have multi-year gaps, ``3m`` misses three
    days in December 2008. Zero yields on other rows are real (0.00% bills) and kept.

    Parameters
    ----------
    directory : str or os.PathLike, optional
        Folder holding ``us_treasury_par_curve_daily.csv.gz``; default :func:`data_dir`.

    Returns
    -------
    pd.DataFrame
        Columns ``1m 2m 3m 6m 1y 2y 3y 5y 7y 10y 20y 30y``: par yields, percent per
        year (bond-equivalent). Index: Treasury market days.

    Raises
    ------
    DataError
        On a missing column or a bad date.
    """
    path = _path(TREASURY_CURVE_FILE, directory)
    frame = _read_dated_csv(path, "date", "%Y-%m-%d", TREASURY_TENORS)
    no_quote = frame.isna().all(axis=1) | frame.fillna(0.0).eq(0.0).all(axis=1)
    frame = frame.loc[~no_quote].copy()
    frame.attrs["dropped_dates"] = list(no_quote.index[no_quote])
    return frame


def load_shiller(directory: str | os.PathLike | None = None) -> pd.DataFrame:
    """Robert Shiller's monthly S&P 500 data, 1871-01 .. 2026-06.

    After 2023-06 the file fills only ``SP500``; the zeros it holds in the other
    columns there are returned as NaN. ``PE10`` is also 0 in 1871-1880, where its
    ten-year earnings average is undefined; those zeros are NaN too.

    Parameters
    ----------
    directory : str or os.PathLike, optional
        Folder holding ``shiller_sp500_monthly.csv``; default :func:`data_dir`.

    Returns
    -------
    pd.DataFrame
        Columns ``SP500`` (monthly average of daily closes, index points), ``Dividend``
        and ``Earnings`` (annualised, index points), ``Consumer Price Index``,
        ``Long Interest Rate`` (10-year Treasury, percent), ``Real Price``,
        ``Real Dividend``, ``Real Earnings``, ``PE10``. Index: first day of each month.

    Raises
    ------
    DataError
        On a missing column, a bad date or a non-positive ``SP500``.
    """
    path = _path(SHILLER_FILE, directory)
    frame = _read_dated_csv(path, "Date", "%Y-%m-%d", SHILLER_COLUMNS)
    _check_positive(frame, path, ("SP500",))
    others = [column for column in SHILLER_COLUMNS if column != "SP500"]
    after = frame.index > SHILLER_LAST_COMPLETE_MONTH
    frame.loc[after, others] = frame.loc[after, others].mask(frame.loc[after, others] == 0.0)
    frame["PE10"] = frame["PE10"].mask(frame["PE10"] == 0.0)
    return frame


def load_treasury_10y_monthly(directory: str | os.PathLike | None = None) -> pd.DataFrame:
    """10-year constant-maturity Treasury yield, monthly average, 1953-04 .. 2026-06.

    Parameters
    ----------
    directory : str or os.PathLike, optional
        Folder holding ``us_treasury_10y_yield_monthly.csv``; default :func:`data_dir`.

    Returns
    -------
    pd.DataFrame
        One column ``Rate``: percent per year. Index: first day of each month.

    Raises
    ------
    DataError
        On a missing column or a bad date.
    """
    return _read_dated_csv(_path(TREASURY_10Y_FILE, directory), "Date", "%Y-%m-%d", ("Rate",))


def load_gold_monthly(directory: str | os.PathLike | None = None) -> pd.DataFrame:
    """Gold price, monthly, 1833-01 .. 2026-06.

    Parameters
    ----------
    directory : str or os.PathLike, optional
        Folder holding ``gold_usd_monthly.csv``; default :func:`data_dir`.

    Returns
    -------
    pd.DataFrame
        One column ``Price``: USD per troy ounce. Index: first day of each month.

    Raises
    ------
    DataError
        On a missing column, a bad date or a non-positive price.
    """
    return _load_prices(GOLD_FILE, directory, "Date", ("Price",))


def load_ff3(directory: str | os.PathLike | None = None) -> pd.DataFrame:
    """Fama-French three factors, monthly, 1926-07 .. 2018-11.

    Parameters
    ----------
    directory : str or os.PathLike, optional
        Folder holding ``ff3_monthly.csv.gz``; default :func:`data_dir`.

    Returns
    -------
    pd.DataFrame
        Columns ``Mkt-RF SMB HML RF``: **percent** per month; ``RF`` is the one-month
        T-bill return. Index: first day of the month the returns were earned in (the
        file's ``yyyymm``).

    Raises
    ------
    DataError
        On a missing column or a bad date.
    """
    return _read_dated_csv(_path(FF3_FILE, directory), "Date", "%Y%m", FF3_COLUMNS)


# --------------------------------------------------------------------------- returns


def _year_fractions(index: pd.DatetimeIndex) -> np.ndarray:
    """Calendar days between consecutive dates / DAYS_PER_YEAR (first entry NaN)."""
    days = np.diff(index.values).astype("timedelta64[s]").astype(float) / 86400.0
    return np.concatenate([[np.nan], days / DAYS_PER_YEAR])


def _par_coupon_bond_price(coupon: np.ndarray, yld: np.ndarray, years: np.ndarray) -> np.ndarray:
    """Price per unit face of a semi-annual bond; coupon and yield decimal per year.

    Exact for a whole number of half-years; for fractional ones it is the usual smooth
    extension of the annuity formula. A zero yield prices at ``1 + coupon * years``.
    """
    discount = (1.0 + yld / 2.0) ** (-2.0 * years)
    safe_yield = np.where(yld == 0.0, 1.0, yld)
    annuity = np.where(yld == 0.0, years, (1.0 - discount) / safe_yield)
    return coupon * annuity + discount


def bond_total_returns(
    yields_pct: pd.Series, periods_per_year: int | None, maturity_years: float
) -> pd.Series:
    """Total returns of a constant-maturity Treasury "fund" from a yield series.

    Each period the fund buys a par bond at last period's yield ``y0`` (coupon ``y0``,
    paid semi-annually, maturity ``maturity_years``), reprices it at this period's
    yield ``y1`` with the maturity shortened by the period length ``dt``, and adds the
    coupon accrued over the period::

        r = P(coupon=y0, yield=y1, years=maturity_years - dt) + y0 * dt - 1

    Parameters
    ----------
    yields_pct : pd.Series
        Yields in percent per year (bond-equivalent), indexed by date. Missing values
        are dropped, so a return then spans the gap.
    periods_per_year : int or None
        Fixed period length ``dt = 1 / periods_per_year`` years (12 for monthly data).
        ``None`` uses the actual day count, ``dt = calendar days / 365.25``, which needs
        a DatetimeIndex; use it for daily data.
    maturity_years : float
        Constant maturity of the fund, years (e.g. 10.0).

    Returns
    -------
    pd.Series
        Decimal simple return per period, labelled by the period's end date; one entry
        fewer than the non-missing yields. Same name as ``yields_pct``.

    Raises
    ------
    ValueError
        If ``periods_per_year`` is not positive, the maturity is not longer than a
        period, or ``periods_per_year`` is None without a DatetimeIndex.
    """
    yields = yields_pct.dropna() / 100.0
    if periods_per_year is None:
        if not isinstance(yields.index, pd.DatetimeIndex):
            raise ValueError("periods_per_year=None needs a DatetimeIndex")
        dt = _year_fractions(yields.index)
    elif periods_per_year <= 0:
        raise ValueError(f"periods_per_year must be positive, got {periods_per_year}")
    else:
        dt = np.full(len(yields), 1.0 / periods_per_year)
    if np.nanmax(dt, initial=0.0) >= maturity_years:
        raise ValueError(f"maturity_years={maturity_years} is not longer than a period")
    y1 = yields.to_numpy()
    y0 = np.concatenate([[np.nan], y1[:-1]])
    price = _par_coupon_bond_price(y0, y1, maturity_years - dt)
    returns = pd.Series(price + y0 * dt - 1.0, index=yields.index, name=yields_pct.name)
    return returns.iloc[1:]


def cash_returns_daily(par_curve: pd.DataFrame, column: str = "3m") -> pd.Series:
    """Daily cash returns: the ``3m`` par yield accrued per calendar day.

    The return from one quote date to the next is ``y0 * days / 365.25`` with ``y0``
    the yield quoted on the earlier date (simple interest, known in advance), so a
    weekend earns three days of interest. Missing yields are skipped: the previous
    yield then accrues over the whole gap.

    Parameters
    ----------
    par_curve : pd.DataFrame
        As returned by :func:`load_treasury_par_curve` (yields in percent).
    column : str, default "3m"
        Tenor to accrue.

    Returns
    -------
    pd.Series
        Decimal simple return per quote date (labelled by the later date), named "CASH".

    Raises
    ------
    DataError
        If ``column`` is not in ``par_curve``.
    """
    if column not in par_curve.columns:
        raise DataError("par curve", column, "column missing")
    yields = par_curve[column].dropna() / 100.0
    returns = yields.shift(1) * _year_fractions(yields.index)
    return returns.iloc[1:].rename("CASH")


def shiller_equity_total_returns(directory: str | os.PathLike | None = None) -> pd.Series:
    """Monthly US equity total returns from the Shiller file, 1871-02 .. 2023-06.

    ``r_t = (SP500_t + Dividend_t / 12) / SP500_{t-1} - 1``. Shiller prices are monthly
    averages of daily closes, so drawdowns look milder than with month-end prices.

    Parameters
    ----------
    directory : str or os.PathLike, optional
        Folder holding ``shiller_sp500_monthly.csv``; default :func:`data_dir`.

    Returns
    -------
    pd.Series
        Decimal return per month, labelled by the first day of the month, named
        "US_EQUITY". Ends at the last month with a dividend (2023-06).
    """
    shiller = load_shiller(directory)
    price, dividend = shiller["SP500"], shiller["Dividend"]
    returns = (price + dividend / 12.0) / price.shift(1) - 1.0
    return returns.dropna().rename("US_EQUITY")


def _sp500_total_returns_daily(index_level: pd.Series, shiller: pd.DataFrame) -> pd.Series:
    """Daily S&P 500 price return plus the Shiller dividend yield accrued per day.

    The dividend yield of the calendar month containing the return's end date
    (``Dividend / SP500`` from the Shiller file, annualised) accrues over the calendar
    days the return spans: ``r = P_t / P_{t-1} - 1 + yield_month(t) * days / 365.25``.
    """
    dividend_yield = (shiller["Dividend"] / shiller["SP500"]).rename("dividend_yield")
    months = index_level.index.to_period("M").to_timestamp()
    daily_yield = dividend_yield.reindex(months).to_numpy()
    price_returns = index_level.pct_change().to_numpy()
    returns = price_returns + daily_yield * _year_fractions(index_level.index)
    return pd.Series(returns, index=index_level.index, name="SP500").iloc[1:]


def _levels(returns: pd.Series, first_date: pd.Timestamp) -> pd.Series:
    """Index level 1.0 on ``first_date``, then compounded ``returns``."""
    base = pd.Series([1.0], index=pd.DatetimeIndex([first_date]))
    return pd.concat([base, (1.0 + returns).cumprod()]).rename(returns.name)


def _forward_fill_onto(level: pd.Series, calendar: pd.DatetimeIndex) -> tuple[pd.Series, int]:
    """Put ``level`` on ``calendar``, carrying the last value over missing dates."""
    union = level.index.union(calendar)
    filled = level.reindex(union).ffill().reindex(calendar)
    return filled, int((~calendar.isin(level.index)).sum())


def _treasury_levels(curve: pd.DataFrame) -> dict[str, pd.Series]:
    """Levels (1.0 on each tenor's first quote) of the Treasury funds and cash."""
    levels = {}
    for fund, (tenor, maturity) in TREASURY_FUNDS.items():
        returns = bond_total_returns(curve[tenor], None, maturity)
        levels[fund] = _levels(returns.rename(fund), curve[tenor].first_valid_index())
    levels["CASH"] = _levels(cash_returns_daily(curve), curve["3m"].first_valid_index())
    return levels


def multi_asset_daily(
    start: str = "2014-01-02",
    end: str = "2020-12-31",
    directory: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Daily total-return price indices of a multi-asset universe, each starting at 100.

    Assets (see :func:`multi_asset_classes`):

    * ``MTUM QUAL SIZE USMV VLUE``: factor ETF adjusted closes.
    * ``SP500``: the S&P 500 price index plus dividends, the Shiller dividend yield of
      each day's month accrued per calendar day (see the module notes on day count).
    * ``UST2Y UST10Y UST30Y``: constant-maturity Treasury funds from the ``2y``,
      ``10y``, ``30y`` par yields (:func:`bond_total_returns`, actual day count).
    * ``CASH``: the ``3m`` par yield accrued per calendar day (:func:`cash_returns_daily`).

    Calendar: the exchange trading days common to the ETF and S&P 500 files, within the
    span of the Treasury curve and ``[start, end]``. Treasury-based levels are
    forward-filled onto exchange days the Treasury market was closed (Columbus and
    Veterans Day), i.e. they earn nothing that day and catch up the next; Treasury-only
    days (some Good Fridays) roll into the next exchange day. Equity series are never
    filled. The count of forward-filled values per column is in
    ``.attrs["forward_filled"]`` (a dict, 0 for equity columns).

    Parameters
    ----------
    start, end : str
        First and last calendar dates to include (ISO format).
    directory : str or os.PathLike, optional
        Folder holding the data files; default :func:`data_dir`.

    Returns
    -------
    pd.DataFrame
        One row per exchange day, 10 columns (``MTUM QUAL SIZE USMV VLUE SP500 UST2Y
        UST10Y UST30Y CASH``); first row all 100.

    Raises
    ------
    ValueError
        If no exchange day lies in ``[start, end]`` within the Treasury curve's span.
    DataError
        If a series has no value on or before the first day of the window.
    """
    etfs = load_factor_etfs(directory)
    sp500 = load_sp500_index(directory)["SP500"]
    curve = load_treasury_par_curve(directory)
    shiller = load_shiller(directory)

    calendar = etfs.index.intersection(sp500.index)
    in_window = (
        (calendar >= max(pd.Timestamp(start), curve.index[0]))
        & (calendar <= min(pd.Timestamp(end), curve.index[-1]))
    )
    calendar = calendar[in_window]
    if calendar.empty:
        raise ValueError(f"no exchange day with Treasury data between {start} and {end}")

    columns = {name: etfs[name].reindex(calendar) for name in FACTOR_ETFS}
    sp500_returns = _sp500_total_returns_daily(sp500, shiller)
    columns["SP500"] = _levels(sp500_returns, sp500.index[0]).reindex(calendar)
    forward_filled = dict.fromkeys(columns, 0)

    for name, level in _treasury_levels(curve).items():
        columns[name], forward_filled[name] = _forward_fill_onto(level, calendar)

    levels = pd.DataFrame(columns, index=calendar)
    first_row = levels.iloc[0]
    if first_row.isna().any():
        column = first_row.index[first_row.isna()][0]
        raise DataError("multi-asset data", column, f"no value on or before {calendar[0].date()}")
    levels = levels / first_row * 100.0
    levels.attrs["forward_filled"] = forward_filled
    return levels


def multi_asset_classes() -> pd.Series:
    """Asset class of each column of :func:`multi_asset_daily`.

    Returns
    -------
    pd.Series
        Index: asset names; values: ``US_EQUITY``, ``SHORT_BONDS``, ``LONG_BONDS`` or
        ``CASH``. Named "asset_class".
    """
    return pd.Series(MULTI_ASSET_CLASSES, name="asset_class").rename_axis("asset")


def _monthly_bills(directory: str | os.PathLike | None) -> pd.Series:
    """Monthly T-bill returns: Fama-French ``RF``, then the ``3m`` par yield.

    ``RF`` (one-month bill) covers 1926-07 .. 2018-11. Later complete months are
    derived by compounding :func:`cash_returns_daily` (``3m`` par yield) within each
    calendar month, which extends the series to 2020-12.
    """
    rf = load_ff3(directory)["RF"] / 100.0
    curve = load_treasury_par_curve(directory)
    daily = cash_returns_daily(curve)
    months = daily.index.to_period("M").to_timestamp()
    derived = (1.0 + daily).groupby(months).prod() - 1.0
    last_quote = curve.index[-1]
    if last_quote != last_quote + pd.offsets.BMonthEnd(0):
        derived = derived.iloc[:-1]
    derived = derived[derived.index > rf.index[-1]]
    return pd.concat([rf, derived]).rename("BILLS")


def stock_bond_monthly(
    start: str | None = None,
    end: str | None = None,
    directory: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Monthly total-return indices of US equity, 10y Treasuries, bills and gold.

    * ``US_EQUITY``: :func:`shiller_equity_total_returns` (monthly-average prices).
    * ``UST10Y``: :func:`bond_total_returns` of the monthly-average 10-year yield,
      ``periods_per_year=12``, ``maturity_years=10``.
    * ``BILLS``: Fama-French ``RF`` to 2018-11; afterwards the ``3m`` par yield
      compounded within each month (a splice of a 1-month and a 3-month bill rate).
    * ``GOLD``: month-on-month change in the gold price.

    The common span is 1953-04 (first 10y yield, the base month) .. 2020-12 (last
    bill month). Returns are labelled by the first day of the month they are earned in.

    Parameters
    ----------
    start, end : str, optional
        Keep months in ``[start, end]`` (ISO dates); the first kept month is the base.
    directory : str or os.PathLike, optional
        Folder holding the data files; default :func:`data_dir`.

    Returns
    -------
    pd.DataFrame
        Columns ``US_EQUITY UST10Y BILLS GOLD``, index levels starting at 100, one row
        per month (first day of month).

    Raises
    ------
    DataError
        If a series has a missing month inside the common span.
    ValueError
        If no month lies in ``[start, end]``.
    """
    ten_year = load_treasury_10y_monthly(directory)["Rate"]
    gold = load_gold_monthly(directory)["Price"]
    returns = pd.DataFrame(
        {
            "US_EQUITY": shiller_equity_total_returns(directory),
            "UST10Y": bond_total_returns(ten_year, 12, 10.0),
            "BILLS": _monthly_bills(directory),
            "GOLD": gold.pct_change().iloc[1:],
        }
    )
    first = max(returns[column].first_valid_index() for column in returns)
    last = min(returns[column].last_valid_index() for column in returns)
    returns = returns.loc[first:last]
    for column in returns:
        gaps = returns.index[returns[column].isna()]
        if len(gaps):
            raise DataError("stock-bond monthly data", column, f"missing month {gaps[0].date()}")
    base_month = first - pd.DateOffset(months=1)
    levels = pd.concat([pd.DataFrame(1.0, index=[base_month], columns=returns.columns),
                        (1.0 + returns).cumprod()])
    levels.index = pd.DatetimeIndex(levels.index, name="date")
    levels = levels.loc[start:end]
    if levels.empty:
        raise ValueError(f"no month between {start} and {end}")
    return levels / levels.iloc[0] * 100.0


def stocks_daily(
    tickers: list[str] | tuple[str, ...] | None = None,
    start: str = "1995-01-03",
    end: str = "2022-12-28",
    directory: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Daily adjusted closes of (some of) the 20 S&P 500 stocks.

    The default start, 1995, avoids the early-1990s prices under $1 whose 3-decimal
    rounding quantises daily returns (see :func:`load_sp500_stocks`).

    Parameters
    ----------
    tickers : sequence of str, optional
        Tickers to keep, in this order; default all 20.
    start, end : str
        First and last dates to include (ISO format).
    directory : str or os.PathLike, optional
        Folder holding ``sp500_20_stocks_daily.csv.gz``; default :func:`data_dir`.

    Returns
    -------
    pd.DataFrame
        Adjusted closes, USD; one column per ticker, one row per exchange day.

    Raises
    ------
    DataError
        If a ticker is not in the file (or the file is bad).
    """
    prices = load_sp500_stocks(directory)
    chosen = list(SP500_STOCKS if tickers is None else tickers)
    for ticker in chosen:
        if ticker not in prices.columns:
            raise DataError(_path(SP500_STOCKS_FILE, directory), ticker, "unknown ticker")
    return prices.loc[start:end, chosen]


# --------------------------------------------------------------------------- 100 stocks, OHLCV

SP500_100_FILE = "sp500_100_stocks_ohlcv_daily.csv.gz"
SP500_100_COLUMNS = ("open", "high", "low", "close", "volume")

#: Environment variable naming a folder to search for files that are not packaged in
#: ``optimizer/data`` (such as :data:`SP500_100_FILE`); see :func:`_locate`.
DATA_DIR_ENV = "REBALANCE_DATA_DIR"
#: The project's shared data folder, searched last for files that are not packaged.
SHARED_DATA_DIR = Path("/work/shared/data")

#: Spin-offs and special dividends in the 100-stock file that the split adjustment does
#: not cover (from the shared data README): symbol -> (ex-date, what happened).
SP500_100_SPIN_OFFS = {
    "A": ("2014-11-03", "Keysight spin-off"),
    "BAX": ("2015-07-01", "Baxalta spin-off"),
    "ARNC": ("2016-11-01", "Alcoa Corp separation"),
    "CAG": ("2016-11-10", "Lamb Weston spin-off"),
    "BHGE": ("2017-07-05", "$17.50 special dividend"),
}
#: Longest run of consecutive missing closes (exchange days) inside a symbol's history
#: that :func:`sp500_100_daily` forward-fills; a longer gap makes the history not full.
MAX_FILLED_RUN = 3
#: Trailing window of the ADV estimate, exchange days (about three months).
ADV_WINDOW = 63

ADJUSTMENT_COLUMNS = ("symbol", "date", "kind", "ratio", "note")


@dataclass(frozen=True)
class StockUniverse:
    """Daily prices, a liquidity scale and an audit trail for a stock universe.

    Attributes
    ----------
    prices : pd.DataFrame
        Dates x symbols, daily close in USD, split-adjusted and (by default) adjusted
        for the spin-offs in :data:`SP500_100_SPIN_OFFS`. **Not** dividend-adjusted:
        their ratios are *price* returns, which understate total return by the dividend
        yield (about 2% a year for the S&P 500 over 2013-2018).
    adv_usd : pd.Series
        Per symbol, USD per day: the median over the span of the trailing
        :data:`ADV_WINDOW`-day mean of ``volume x close`` (unadjusted close). It uses
        the whole span, so it is look-ahead: fit only as a cost scale (``CostModel``),
        never as a signal.
    adjustments : pd.DataFrame
        One row per change made to the file's data, columns ``symbol date kind ratio
        note``. ``kind`` is ``"spin_off"`` (closes before ``date`` multiplied by
        ``ratio``), ``"forward_fill"`` (the close of ``date`` is the previous day's;
        ``ratio`` NaN) or ``"dropped"`` (symbol left out, ``date`` its first close in the
        span, ``note`` why).
    """

    prices: pd.DataFrame
    adv_usd: pd.Series
    adjustments: pd.DataFrame


def _locate(name: str, directory: str | os.PathLike | None) -> Path:
    """Path of data file ``name``: in ``directory`` if given, else the first folder holding it.

    Without ``directory`` the search order is :func:`data_dir` (packaged files), the
    folder named by the ``REBALANCE_DATA_DIR`` environment variable, then
    :data:`SHARED_DATA_DIR`.

    Raises
    ------
    FileNotFoundError
        If no folder searched holds ``name``.
    """
    if directory is not None:
        return Path(directory) / name
    folders = [data_dir()]
    if os.environ.get(DATA_DIR_ENV):
        folders.append(Path(os.environ[DATA_DIR_ENV]))
    folders.append(SHARED_DATA_DIR)
    for folder in folders:
        if (folder / name).is_file():
            return folder / name
    searched = ", ".join(str(folder) for folder in folders)
    raise FileNotFoundError(f"{name} is in none of: {searched}; pass directory= or set {DATA_DIR_ENV}")


def load_sp500_100_ohlcv(directory: str | os.PathLike | None = None) -> pd.DataFrame:
    """Daily bars of 100 S&P 500 members (``A`` .. ``CLX``), 2013-02-08 .. 2018-02-07, long format.

    Parameters
    ----------
    directory : str or os.PathLike, optional
        Folder holding ``sp500_100_stocks_ohlcv_daily.csv.gz``; default: searched as in
        :func:`_locate` (the file is not packaged in ``optimizer/data``).

    Returns
    -------
    pd.DataFrame
        The file's 121,855 rows sorted by ``date`` then ``symbol``, columns ``date``
        (Timestamp), ``symbol``, ``open high low close`` (USD, split-adjusted, not
        dividend- or spin-off-adjusted) and ``volume`` (shares). One missing ``open``,
        ``high`` and ``low`` are kept as NaN.

    Raises
    ------
    DataError
        On a missing column, a bad date, a duplicate (date, symbol), or a close that
        is missing or not positive.
    FileNotFoundError
        If the file cannot be found.
    """
    path = _locate(SP500_100_FILE, directory)
    raw = pd.read_csv(path, dtype={"date": str, "symbol": str})
    for column in ("date", "symbol", *SP500_100_COLUMNS):
        if column not in raw.columns:
            raise DataError(path, column, "column missing")
    try:
        raw["date"] = pd.to_datetime(raw["date"], format="%Y-%m-%d")
    except ValueError as error:
        raise DataError(path, "date", f"date not in format '%Y-%m-%d': {error}") from error
    duplicated = raw[raw.duplicated(["date", "symbol"])]
    if len(duplicated):
        first = duplicated.iloc[0]
        raise DataError(path, "date", f"duplicate row for {first['symbol']} on {first['date'].date()}")
    bad = raw[~(raw["close"] > 0)]
    if len(bad):
        first = bad.iloc[0]
        problem = f"missing or non-positive close {first['close']} for {first['symbol']} on {first['date'].date()}"
        raise DataError(path, "close", problem)
    return raw.sort_values(["date", "symbol"], ignore_index=True)


def _adjustment_rows(rows: list[dict]) -> pd.DataFrame:
    """The rows as a frame with exactly :data:`ADJUSTMENT_COLUMNS` (empty-safe)."""
    return pd.DataFrame(rows, columns=list(ADJUSTMENT_COLUMNS)).astype({"ratio": float})


def _interior_gaps(close: pd.Series) -> list[pd.DatetimeIndex]:
    """Runs of missing values between a series' first and last valid values."""
    inside = close.loc[close.first_valid_index():close.last_valid_index()]
    missing = inside.isna().to_numpy()
    runs, start = [], None
    for i, flag in enumerate(np.append(missing, False)):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            runs.append(inside.index[start:i])
            start = None
    return runs


def _select_full_histories(close: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    """Keep symbols quoted on the span's first and last day with short gaps; fill the gaps.

    Returns the kept, forward-filled closes and the ``forward_fill``/``dropped`` rows.
    """
    rows, keep = [], []
    for symbol in close.columns:
        series = close[symbol]
        gaps = _interior_gaps(series) if series.notna().any() else []
        long_gap = max((len(run) for run in gaps), default=0) > MAX_FILLED_RUN
        if series.isna().iloc[0] or series.isna().iloc[-1] or long_gap:
            first = series.first_valid_index()
            note = (f"first close {first.date()} after the span's start" if series.isna().iloc[0] and first is not None
                    else "gap longer than MAX_FILLED_RUN days or no close at the span's end")
            rows.append({"symbol": symbol, "date": first, "kind": "dropped", "ratio": np.nan, "note": note})
            continue
        keep.append(symbol)
        for run in gaps:
            rows += [{"symbol": symbol, "date": day, "kind": "forward_fill", "ratio": np.nan,
                      "note": "no row in the file; previous close carried"} for day in run]
    return close[keep].ffill(), rows


def _adjust_spin_offs(close: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    """Scale closes before each listed spin-off date (inside the span) by that day's ratio.

    The ratio is ``close(event) / close(previous day)``: the event day's return becomes
    0, so the distribution is not a price loss (it also removes that day's market move,
    a small error next to a -26% .. -44% drop).
    """
    adjusted, rows = close.copy(), []
    for symbol, (day, what) in SP500_100_SPIN_OFFS.items():
        event = pd.Timestamp(day)
        if symbol not in adjusted.columns or event not in adjusted.index:
            continue
        position = adjusted.index.get_loc(event)
        if position == 0 or np.isnan(adjusted[symbol].iloc[position - 1]):
            continue
        ratio = float(adjusted[symbol].iloc[position] / adjusted[symbol].iloc[position - 1])
        adjusted.loc[adjusted.index < event, symbol] *= ratio
        rows.append({"symbol": symbol, "date": event, "kind": "spin_off", "ratio": ratio,
                     "note": f"{what}; closes before this date x ratio"})
    return adjusted, rows


def _median_trailing_adv(dollar_volume: pd.DataFrame) -> pd.Series:
    """Median over dates of the trailing :data:`ADV_WINDOW`-day mean of dollar volume, USD."""
    trailing = dollar_volume.rolling(ADV_WINDOW, min_periods=ADV_WINDOW // 3).mean()
    return trailing.median().rename("adv_usd")


def sp500_100_daily(
    start: str | None = None,
    end: str | None = None,
    directory: str | os.PathLike | None = None,
    *,
    full_history_only: bool = True,
    adjust_spin_offs: bool = True,
) -> StockUniverse:
    """Daily closes and ADV of 100 S&P 500 members, ready for a tax-lot backtest.

    From :func:`load_sp500_100_ohlcv`, on ``[start, end]`` (default: the whole file,
    2013-02-08 .. 2018-02-07; the calendar is every date of the file in the span):

    * **Price returns only**: the file is not dividend-adjusted, so the closes' ratios
      miss the dividend yield (about 2% a year). Say so wherever the results are used.
    * **Spin-offs** (:data:`SP500_100_SPIN_OFFS`: A, BAX, ARNC, CAG, BHGE) whose date lies
      inside the span (after its first day): closes before the date are multiplied by
      that day's price ratio, so the drop is not a loss (in a tax-lot backtest the basis
      is split with the distribution). Recorded as ``kind="spin_off"``.
    * **Full histories**: with ``full_history_only`` (the default) only symbols with a
      close on the span's first and last days and no interior gap longer than
      :data:`MAX_FILLED_RUN` days are kept; the others (on the full span ALLE, APTV,
      BHF, BHGE and CFG, which list later) are recorded as ``kind="dropped"``.
      Interior gaps are forward-filled and recorded as ``kind="forward_fill"`` (on the
      full span: BMY on 2013-04-26 and 2013-06-07). So the full span has 95 symbols:
      the README's 94 that trade every day, plus BMY. Without ``full_history_only``
      every symbol is kept, NaN before its first close and after its last; interior
      gaps are still filled.
    * **ADV**: see :class:`StockUniverse` (look-ahead; a cost scale only).

    Parameters
    ----------
    start, end : str, optional
        First and last dates to include (ISO format); default the file's span.
    directory : str or os.PathLike, optional
        Folder holding the file; default as in :func:`load_sp500_100_ohlcv`.
    full_history_only : bool, default True
        Drop symbols without a full history on the span (see above).
    adjust_spin_offs : bool, default True
        Apply the spin-off adjustment (False gives the file's split-adjusted closes).

    Returns
    -------
    StockUniverse
        ``prices`` (dates x symbols, USD, symbols sorted), ``adv_usd`` (USD per day, same
        symbols), ``adjustments`` (rows sorted by kind, symbol, date).

    Raises
    ------
    ValueError
        If no date of the file lies in ``[start, end]``, or no symbol is left.
    DataError, FileNotFoundError
        As :func:`load_sp500_100_ohlcv`.
    """
    bars = load_sp500_100_ohlcv(directory)
    in_span = bars["date"].between(pd.Timestamp(start or bars["date"].min()), pd.Timestamp(end or bars["date"].max()))
    bars = bars[in_span]
    if bars.empty:
        raise ValueError(f"no date of {SP500_100_FILE} between {start} and {end}")
    close = bars.pivot(index="date", columns="symbol", values="close").sort_index(axis=1)
    dollar_volume = bars.assign(usd=bars["volume"] * bars["close"]).pivot(index="date", columns="symbol",
                                                                          values="usd")
    if full_history_only:
        close, rows = _select_full_histories(close)
    else:
        rows = [{"symbol": symbol, "date": day, "kind": "forward_fill", "ratio": np.nan,
                 "note": "no row in the file; previous close carried"}
                for symbol in close.columns for run in _interior_gaps(close[symbol]) for day in run]
        filled = close.ffill()
        close = filled.where(close.bfill().notna())
    if close.shape[1] == 0:
        raise ValueError(f"no symbol has a full history between {start} and {end}")
    if adjust_spin_offs:
        close, spin_rows = _adjust_spin_offs(close)
        rows += spin_rows
    close.index.name, close.columns.name = "date", None
    adv = _median_trailing_adv(dollar_volume.reindex(columns=close.columns))
    adjustments = _adjustment_rows(rows).sort_values(["kind", "symbol", "date"], ignore_index=True)
    return StockUniverse(prices=close, adv_usd=adv, adjustments=adjustments)


def stock_bond_monthly_1926(
    start: str = "1926-01-01",
    end: str = "2009-12-01",
    directory: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Monthly total-return indices of US equity and 10y Treasuries from the Shiller file alone.

    :func:`stock_bond_monthly` starts in 1953 (the first month of the separate 10-year
    yield file); this loader reaches back to 1871 by taking both assets from Shiller:

    * ``US_EQUITY``: :func:`shiller_equity_total_returns` (monthly-average prices).
    * ``UST10Y``: :func:`bond_total_returns` of Shiller's ``Long Interest Rate``
      (10-year Treasury yield, percent), ``periods_per_year=12``, ``maturity_years=10``.

    The default span is the classic 1926-01 .. 2009-12 of published rebalancing studies.
    Returns are labelled by the first day of the month they are earned in, so the level
    on a label is the level at the end of that month.

    Parameters
    ----------
    start, end : str
        First and last months of returns (ISO dates, first of month). The month before
        ``start`` is the base month, level 100.
    directory : str or os.PathLike, optional
        Folder holding ``shiller_sp500_monthly.csv``; default :func:`data_dir`.

    Returns
    -------
    pd.DataFrame
        Columns ``US_EQUITY UST10Y``, index levels (base month = 100), one row per month
        (first day of month), index named "date".

    Raises
    ------
    DataError
        If either series is missing a month in ``[start, end]``.
    ValueError
        If no month lies in ``[start, end]``.
    """
    shiller = load_shiller(directory)
    returns = pd.DataFrame(
        {
            "US_EQUITY": shiller_equity_total_returns(directory),
            "UST10Y": bond_total_returns(shiller["Long Interest Rate"], 12, 10.0),
        }
    ).loc[start:end]
    if returns.empty:
        raise ValueError(f"no month between {start} and {end}")
    for column in returns:
        gaps = returns.index[returns[column].isna()]
        if len(gaps):
            raise DataError(_path(SHILLER_FILE, directory), column, f"missing month {gaps[0].date()}")
    base_month = returns.index[0] - pd.DateOffset(months=1)
    levels = pd.concat([pd.DataFrame(1.0, index=[base_month], columns=returns.columns),
                        (1.0 + returns).cumprod()])
    levels.index = pd.DatetimeIndex(levels.index, name="date")
    return levels * 100.0


# --------------------------------------------------------------------------- VIX

VIX_FILE = "vix_daily.csv.gz"


def load_vix(directory: str | os.PathLike | None = None) -> pd.Series:
    """CBOE VIX daily close, 2014-01-03 .. 2019-01-03 (annualised volatility, percent).

    The stress level of :class:`optimizer.model.costs.CostModel` (``stress=``) and the
    ``"level"`` signal of :class:`optimizer.policies.VolatilitySignal`. It does not cover
    2008 or 2020: use a realized volatility there (:func:`optimizer.policies.signals.realized_volatility`).

    Parameters
    ----------
    directory : str or os.PathLike, optional
        Folder holding ``vix_daily.csv.gz``; default: searched as in :func:`_locate`
        (the file is not packaged in ``optimizer/data``).

    Returns
    -------
    pd.Series
        Named ``vix``, indexed by date (sorted, unique), values > 0. The file marks
        exchange holidays with ``.`` (no close); those rows are dropped, and their dates
        listed in ``.attrs["holidays"]`` (46 of them).

    Raises
    ------
    DataError
        On a missing column, a bad or duplicate date, a value that is neither a number nor
        ``.``, or one that is not positive.
    FileNotFoundError
        If the file cannot be found.
    """
    path = _locate(VIX_FILE, directory)
    raw = pd.read_csv(path, dtype=str)
    for column in ("Date", "vix"):
        if column not in raw.columns:
            raise DataError(path, column, "column missing")
    holiday = raw["vix"].str.strip() == "."
    values = pd.to_numeric(raw.loc[~holiday, "vix"], errors="coerce")
    if values.isna().any():
        row = int(values.index[values.isna()][0])
        raise DataError(path, "vix", f"value {raw.at[row, 'vix']!r} in data row {row + 1} is not a number")
    try:
        dates = pd.to_datetime(raw["Date"], format="%m/%d/%Y")
    except ValueError as error:
        raise DataError(path, "Date", f"date not in format '%m/%d/%Y': {error}") from error
    series = pd.Series(values.to_numpy(dtype=float), index=pd.DatetimeIndex(dates[~holiday], name="date"),
                       name="vix").sort_index()
    if series.index.has_duplicates:
        raise DataError(path, "Date", f"duplicate date {series.index[series.index.duplicated()][0].date()}")
    _check_positive(series.to_frame(), path, ("vix",))
    series.attrs["holidays"] = list(pd.DatetimeIndex(dates[holiday]))
    return series
