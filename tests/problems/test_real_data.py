"""Oracle tests for the real-data loaders and return builders.

Checkpoints come from the shared data README (/work/shared/data/README.md); each holds
to about 0.5 percentage points unless noted there.
"""

import gzip
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from problems import real_data as rd

SHARED = Path("/work/shared/data")
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="shared data folder absent")


def calendar_year(returns: pd.Series, year: int) -> float:
    """Compound a return series over one calendar year."""
    return float((1.0 + returns.loc[str(year)]).prod() - 1.0)


def level_year(levels: pd.Series, year: int) -> float:
    """Return of an index level from the last value of year-1 to the last of year."""
    return float(levels.loc[str(year)].iloc[-1] / levels.loc[str(year - 1)].iloc[-1] - 1.0)


@pytest.fixture(scope="module")
def multi_asset():
    return rd.multi_asset_daily()


@pytest.fixture(scope="module")
def stock_bond():
    return rd.stock_bond_monthly()


# ------------------------------------------------------------------ packaging


def test_data_dir_holds_every_packaged_file():
    directory = rd.data_dir()
    assert directory.name == "data" and directory.parent.name == "optimizer"
    for name in rd.PACKAGED_FILES:
        assert (directory / name).is_file(), name
    assert not (directory / "__init__.py").exists()


@needs_shared
@pytest.mark.parametrize("name", rd.PACKAGED_FILES)
def test_packaged_copy_is_byte_identical(name):
    assert (rd.data_dir() / name).read_bytes() == (SHARED / name).read_bytes()


@needs_shared
def test_loaders_accept_a_directory():
    pd.testing.assert_frame_equal(rd.load_ff3(SHARED), rd.load_ff3())


@pytest.mark.parametrize(
    "loader",
    [
        rd.load_factor_etfs,
        rd.load_sp500_index,
        rd.load_sp500_stocks,
        rd.load_treasury_par_curve,
        rd.load_shiller,
        rd.load_treasury_10y_monthly,
        rd.load_gold_monthly,
        rd.load_ff3,
    ],
)
def test_loaders_return_sorted_unique_datetime_index(loader):
    frame = loader()
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert len(frame) > 800


# ------------------------------------------------------------------ README checkpoints


@pytest.mark.parametrize(
    ("year", "expected"), [(2008, -0.392), (2009, 0.300), (2020, 0.185), (2022, -0.150)]
)
def test_shiller_equity_total_return(year, expected):
    returns = rd.shiller_equity_total_returns()
    assert calendar_year(returns, year) == pytest.approx(expected, abs=0.005)


@pytest.mark.parametrize(("year", "expected"), [(2008, 0.194), (2022, -0.150)])
def test_ten_year_treasury_total_return_from_monthly_series(year, expected):
    rate = rd.load_treasury_10y_monthly()["Rate"]
    returns = rd.bond_total_returns(rate, 12, 10.0)
    assert calendar_year(returns, year) == pytest.approx(expected, abs=0.01)


def test_sp500_price_index_2008():
    level = rd.load_sp500_index()["SP500"]
    assert level_year(level, 2008) == pytest.approx(-0.3849, abs=0.0005)


def test_sp500_covid_drawdown():
    level = rd.load_sp500_index()["SP500"]
    drawdown = level["2020-03-23"] / level["2020-02-19"] - 1.0
    assert drawdown == pytest.approx(-0.3392, abs=0.0005)
    assert level["2020-02-19"] == level.loc["2020"].iloc[:60].max()


def test_fama_french_market_and_risk_free_2008():
    ff3 = rd.load_ff3() / 100.0
    assert calendar_year(ff3["Mkt-RF"] + ff3["RF"], 2008) == pytest.approx(-0.3675, abs=0.005)
    assert calendar_year(ff3["RF"], 2008) == pytest.approx(0.0159, abs=0.0005)


def test_par_curve_2008_checkpoints():
    curve = rd.load_treasury_par_curve().loc["2008"]
    assert curve["3m"].mean() == pytest.approx(1.41, abs=0.005)
    assert curve["10y"].iloc[0] == pytest.approx(3.91)
    assert curve["10y"].iloc[-1] == pytest.approx(2.25)
    assert curve.index[0] == pd.Timestamp("2008-01-02")
    assert curve.index[-1] == pd.Timestamp("2008-12-31")


# ------------------------------------------------------------------ loader quirks


def test_shiller_zeros_after_june_2023_are_missing():
    shiller = rd.load_shiller()
    after = shiller.loc["2023-07":]
    assert after["SP500"].notna().all() and (after["SP500"] > 0).all()
    assert after["Dividend"].isna().all() and after["Earnings"].isna().all()
    assert not (after.drop(columns="SP500") == 0).any().any()
    assert shiller.loc["2023-06-01", "Dividend"] == pytest.approx(68.71)
    assert shiller["PE10"].loc[:"1880"].isna().all()


def test_par_curve_drops_rows_without_quotes():
    curve = rd.load_treasury_par_curve()
    dropped = [pd.Timestamp("2010-10-11"), pd.Timestamp("2017-04-14")]
    assert curve.attrs["dropped_dates"] == dropped
    assert not curve.index.isin(dropped).any()
    assert curve.loc["2015-10-01", "3m"] == 0.0  # a real zero bill yield is kept


def _write_gz(frame: pd.DataFrame, path: Path) -> None:
    with gzip.open(path, "wt", newline="") as handle:
        frame.to_csv(handle, index=False)


def test_non_positive_price_raises_data_error_naming_the_column(tmp_path):
    raw = pd.read_csv(rd.data_dir() / rd.FACTOR_ETFS_FILE, dtype={"Date": str})
    raw.loc[raw["Date"] == "2016-05-02", "VLUE"] = 0.0
    _write_gz(raw, tmp_path / rd.FACTOR_ETFS_FILE)
    with pytest.raises(rd.DataError, match="VLUE") as caught:
        rd.load_factor_etfs(tmp_path)
    assert caught.value.column == "VLUE"
    assert rd.FACTOR_ETFS_FILE in caught.value.file
    assert "2016-05-02" in str(caught.value)


def test_negative_gold_price_raises_data_error(tmp_path):
    shutil.copy(rd.data_dir() / rd.GOLD_FILE, tmp_path / rd.GOLD_FILE)
    text = (tmp_path / rd.GOLD_FILE).read_text().replace("1833-02-01,18.930", "1833-02-01,-1")
    (tmp_path / rd.GOLD_FILE).write_text(text)
    with pytest.raises(rd.DataError, match="'Price'.*1833-02-01"):
        rd.load_gold_monthly(tmp_path)


def test_bad_date_and_missing_column_raise_data_error(tmp_path):
    (tmp_path / rd.TREASURY_10Y_FILE).write_text("Date,Rate\n1953-04-01,2.83\n04/1953,3.05\n")
    with pytest.raises(rd.DataError, match="'Date'"):
        rd.load_treasury_10y_monthly(tmp_path)
    (tmp_path / rd.TREASURY_10Y_FILE).write_text("Date,Yield\n1953-04-01,2.83\n")
    with pytest.raises(rd.DataError, match="'Rate'"):
        rd.load_treasury_10y_monthly(tmp_path)


# ------------------------------------------------------------------ return builders


def test_bond_at_constant_yield_earns_its_coupon():
    dates = pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-05", "2020-02-05"])
    yields = pd.Series(4.0, index=dates)
    returns = rd.bond_total_returns(yields, None, 10.0)
    days = np.array([1, 3, 31])
    np.testing.assert_allclose(returns.to_numpy(), 0.04 * days / 365.25, rtol=1e-12)
    monthly = rd.bond_total_returns(pd.Series([3.0, 3.0, 3.0]), 12, 10.0)
    np.testing.assert_allclose(monthly.to_numpy(), 0.03 / 12, rtol=1e-12)


def test_bond_price_handles_zero_yield_and_direction():
    up = rd.bond_total_returns(pd.Series([2.0, 3.0]), 12, 10.0).iloc[0]
    down = rd.bond_total_returns(pd.Series([2.0, 0.0]), 12, 10.0).iloc[0]
    assert up < 0 < down
    # at a zero yield the bond is worth face plus undiscounted coupons
    assert down == pytest.approx(0.02 * (10 - 1 / 12) + 0.02 / 12)


def test_bond_total_returns_rejects_bad_arguments():
    yields = pd.Series([2.0, 3.0])
    with pytest.raises(ValueError):
        rd.bond_total_returns(yields, 0, 10.0)
    with pytest.raises(ValueError):
        rd.bond_total_returns(yields, 1, 0.5)
    with pytest.raises(ValueError):
        rd.bond_total_returns(yields, None, 10.0)


def test_daily_ten_year_fund_gains_in_2008_and_loses_in_2013():
    curve = rd.load_treasury_par_curve()
    returns = rd.bond_total_returns(curve["10y"], None, 10.0)
    assert calendar_year(returns, 2008) > 0.15  # 10y yield fell 3.91% -> 2.25%
    assert calendar_year(returns, 2013) < -0.05  # 10y yield rose 1.78% -> 3.04%


def test_cash_accrues_per_calendar_day():
    curve = rd.load_treasury_par_curve()
    cash = rd.cash_returns_daily(curve)
    friday_yield = curve.loc["2008-01-04", "3m"] / 100.0
    assert cash["2008-01-07"] == pytest.approx(friday_yield * 3 / 365.25)
    assert calendar_year(cash, 2008) == pytest.approx(0.0141, abs=0.001)
    assert cash.notna().all()


# ------------------------------------------------------------------ multi-asset daily


def test_multi_asset_daily_shape_and_levels(multi_asset):
    assert list(multi_asset.columns) == list(rd.multi_asset_classes().index)
    assert multi_asset.index[0] == pd.Timestamp("2014-01-02")
    assert multi_asset.index[-1] == pd.Timestamp("2020-12-31")
    assert multi_asset.notna().all().all()
    assert (multi_asset > 0).all().all()
    assert (multi_asset.iloc[0] == 100.0).all()


def test_multi_asset_daily_uses_the_equity_calendar(multi_asset):
    etfs = rd.load_factor_etfs().loc["2014-01-02":"2020-12-31"]
    assert multi_asset.index.equals(etfs.index)
    ratio = multi_asset["MTUM"] / multi_asset["MTUM"].iloc[0]
    np.testing.assert_allclose(ratio, etfs["MTUM"] / etfs["MTUM"].iloc[0])


def test_multi_asset_daily_reports_forward_fills(multi_asset):
    report = multi_asset.attrs["forward_filled"]
    assert set(report) == set(multi_asset.columns)
    for column in ["MTUM", "QUAL", "SIZE", "USMV", "VLUE", "SP500"]:
        assert report[column] == 0
    # Columbus and Veterans Day: exchange open, Treasury market closed (13 days)
    for column in ["UST2Y", "UST10Y", "UST30Y", "CASH"]:
        assert report[column] == 13
    assert multi_asset.loc["2019-10-14", "UST10Y"] == multi_asset.loc["2019-10-11", "UST10Y"]


def test_multi_asset_sp500_adds_dividends(multi_asset):
    price = rd.load_sp500_index()["SP500"]
    for year in range(2015, 2021):
        dividends = level_year(multi_asset["SP500"], year) - level_year(price, year)
        assert 0.01 < dividends < 0.03  # S&P 500 dividend yield was about 2%
    # published S&P 500 total returns: 2019 +31.49%, 2020 +18.40%
    assert level_year(multi_asset["SP500"], 2019) == pytest.approx(0.3149, abs=0.005)
    assert level_year(multi_asset["SP500"], 2020) == pytest.approx(0.1840, abs=0.005)


def test_multi_asset_window_and_classes():
    window = rd.multi_asset_daily(start="2018-06-01", end="2022-12-28")
    assert window.index[0] == pd.Timestamp("2018-06-01")
    assert window.index[-1] == pd.Timestamp("2020-12-31")  # par curve ends here
    assert (window.iloc[0] == 100.0).all()
    classes = rd.multi_asset_classes()
    assert classes.value_counts().to_dict() == {
        "US_EQUITY": 6, "LONG_BONDS": 2, "SHORT_BONDS": 1, "CASH": 1,
    }
    assert classes["UST2Y"] == "SHORT_BONDS" and classes["CASH"] == "CASH"


# ------------------------------------------------------------------ stock-bond monthly


def test_stock_bond_monthly_span(stock_bond):
    assert list(stock_bond.columns) == ["US_EQUITY", "UST10Y", "BILLS", "GOLD"]
    assert stock_bond.index[0] == pd.Timestamp("1953-04-01")
    assert stock_bond.index[-1] == pd.Timestamp("2020-12-01")
    assert len(stock_bond) == 813
    assert stock_bond.notna().all().all() and (stock_bond > 0).all().all()
    assert (stock_bond.iloc[0] == 100.0).all()


def test_stock_bond_monthly_matches_checkpoints(stock_bond):
    assert level_year(stock_bond["US_EQUITY"], 2008) == pytest.approx(-0.392, abs=0.005)
    assert level_year(stock_bond["UST10Y"], 2008) == pytest.approx(0.194, abs=0.01)
    assert level_year(stock_bond["BILLS"], 2008) == pytest.approx(0.0159, abs=0.0005)
    assert level_year(stock_bond["US_EQUITY"], 2020) == pytest.approx(0.185, abs=0.005)


def test_stock_bond_monthly_window_rebases(stock_bond):
    window = rd.stock_bond_monthly(start="2000-01-01", end="2009-12-31")
    assert window.index[0] == pd.Timestamp("2000-01-01")
    assert window.index[-1] == pd.Timestamp("2009-12-01")
    assert (window.iloc[0] == 100.0).all()
    expected = stock_bond.loc["2000":"2009"] / stock_bond.loc["2000-01-01"] * 100.0
    pd.testing.assert_frame_equal(window, expected)


# ------------------------------------------------------------------ stocks


def test_stocks_daily_defaults_and_subset():
    prices = rd.stocks_daily()
    assert prices.shape[1] == 20
    assert prices.index[0] == pd.Timestamp("1995-01-03")
    assert prices.index[-1] == pd.Timestamp("2022-12-28")
    subset = rd.stocks_daily(["MSFT", "AAPL"], start="2008-01-01", end="2008-12-31")
    assert list(subset.columns) == ["MSFT", "AAPL"]
    assert subset.index.year.unique().tolist() == [2008]


def test_stocks_daily_unknown_ticker():
    with pytest.raises(rd.DataError, match="'TSLA'"):
        rd.stocks_daily(["AAPL", "TSLA"])


# ------------------------------------------------------------------ 100 stocks (OHLCV)

SPIN_OFF_DATES = {"A": "2014-11-03", "BAX": "2015-07-01", "ARNC": "2016-11-01", "CAG": "2016-11-10",
                  "BHGE": "2017-07-05"}
LATE_LISTERS = {"ALLE": "2013-11-18", "APTV": "2017-12-05", "BHF": "2017-07-17", "BHGE": "2017-07-03",
                "CFG": "2014-09-24"}


@pytest.fixture(scope="module")
def bars100():
    return rd.load_sp500_100_ohlcv(SHARED)


@pytest.fixture(scope="module")
def universe100():
    return rd.sp500_100_daily(directory=SHARED)


def annual_vol(prices: pd.DataFrame) -> pd.Series:
    """Annualised standard deviation of daily simple returns, per column (252 days a year)."""
    return prices.pct_change().std() * np.sqrt(252)


def ended_below_first_close(prices: pd.DataFrame, year: str) -> int:
    """How many columns closed the year below their first close of that year."""
    closes = prices.loc[year]
    return int((closes.iloc[-1] < closes.iloc[0]).sum())


@needs_shared
def test_sp500_100_raw_file_shape(bars100):
    assert len(bars100) == 121_855
    assert bars100["symbol"].nunique() == 100
    assert bars100["symbol"].min() == "A" and bars100["symbol"].max() == "CLX"
    assert bars100["date"].min() == pd.Timestamp("2013-02-08")
    assert bars100["date"].max() == pd.Timestamp("2018-02-07")
    assert bars100["date"].nunique() == 1259
    counts = bars100.groupby("symbol").size()
    assert (counts == 1259).sum() == 94


@needs_shared
def test_sp500_100_late_listers_spans(bars100):
    first = bars100.groupby("symbol")["date"].min()
    for symbol, day in LATE_LISTERS.items():
        assert first[symbol] == pd.Timestamp(day), symbol
    assert bars100.groupby("symbol").size()["BMY"] == 1257


@needs_shared
def test_sp500_100_universe_keeps_full_histories(universe100):
    prices = universe100.prices
    assert prices.shape == (1259, 95)
    assert not prices.isna().any().any()
    assert set(LATE_LISTERS).isdisjoint(prices.columns) and "BMY" in prices.columns
    adjustments = universe100.adjustments
    dropped = adjustments[adjustments["kind"] == "dropped"]
    assert dict(zip(dropped["symbol"], dropped["date"])) == {s: pd.Timestamp(d) for s, d in LATE_LISTERS.items()}
    filled = adjustments[adjustments["kind"] == "forward_fill"]
    assert filled["symbol"].tolist() == ["BMY", "BMY"]
    assert filled["date"].tolist() == [pd.Timestamp("2013-04-26"), pd.Timestamp("2013-06-07")]
    bmy = prices["BMY"]
    assert bmy["2013-04-26"] == bmy.shift(1)["2013-04-26"]


@needs_shared
def test_sp500_100_median_vol_checkpoint(universe100):
    raw = rd.sp500_100_daily(directory=SHARED, adjust_spin_offs=False).prices.drop(columns="BMY")
    assert raw.shape[1] == 94
    assert annual_vol(raw).median() == pytest.approx(0.229, abs=0.001)
    assert annual_vol(universe100.prices).median() == pytest.approx(0.229, abs=0.005)


@needs_shared
def test_sp500_100_2015_losers_checkpoint(universe100):
    raw = rd.sp500_100_daily(directory=SHARED, adjust_spin_offs=False).prices.drop(columns="BMY")
    assert ended_below_first_close(raw, "2015") == 44
    assert ended_below_first_close(universe100.prices.drop(columns="BMY"), "2015") == 44


@needs_shared
def test_sp500_100_spin_offs_are_not_losses():
    raw = rd.sp500_100_daily(directory=SHARED, full_history_only=False, adjust_spin_offs=False).prices
    adjusted = rd.sp500_100_daily(directory=SHARED, full_history_only=False)
    for symbol, day in SPIN_OFF_DATES.items():
        assert raw[symbol].pct_change()[day] < -0.25, symbol          # the file's drop is there ...
        assert adjusted.prices[symbol].pct_change()[day] > -0.25, symbol   # ... and adjusted away
        pd.testing.assert_series_equal(adjusted.prices[symbol][day:], raw[symbol][day:])
    spins = adjusted.adjustments[adjusted.adjustments["kind"] == "spin_off"].set_index("symbol")
    assert set(spins.index) == set(SPIN_OFF_DATES)
    for symbol, day in SPIN_OFF_DATES.items():
        before = raw[symbol][:day].iloc[-2]
        assert spins.at[symbol, "ratio"] == pytest.approx(raw[symbol][day] / before)
        assert adjusted.prices[symbol][:day].iloc[-2] == pytest.approx(before * spins.at[symbol, "ratio"])


@needs_shared
def test_sp500_100_window_adjusts_only_events_inside(universe100):
    window = rd.sp500_100_daily("2016-01-01", "2016-12-31", directory=SHARED)
    assert window.prices.index[0] == pd.Timestamp("2016-01-04")
    assert window.prices.index[-1] == pd.Timestamp("2016-12-30")
    spins = window.adjustments[window.adjustments["kind"] == "spin_off"]
    assert sorted(spins["symbol"]) == ["ARNC", "CAG"]
    assert "CFG" in window.prices.columns and "BHGE" not in window.prices.columns
    raw = rd.load_sp500_100_ohlcv(SHARED)
    bax = raw[(raw["symbol"] == "BAX") & raw["date"].dt.year.eq(2016)]["close"].to_numpy()
    np.testing.assert_allclose(window.prices["BAX"].to_numpy(), bax)


@needs_shared
def test_sp500_100_adv_is_median_trailing_dollar_volume(bars100, universe100):
    adv = universe100.adv_usd
    assert list(adv.index) == list(universe100.prices.columns)
    assert (adv > 1e7).all() and (adv < 2e10).all()
    aapl = bars100[bars100["symbol"] == "AAPL"].set_index("date")
    expected = (aapl["volume"] * aapl["close"]).rolling(63, min_periods=21).mean().median()
    assert adv["AAPL"] == pytest.approx(expected)
    assert adv["AAPL"] > 3 * adv.median()


def test_sp500_100_missing_file_and_bad_close(tmp_path):
    with pytest.raises(FileNotFoundError):
        rd.sp500_100_daily(directory=tmp_path)
    frame = pd.DataFrame({"date": ["2013-02-08", "2013-02-11"], "symbol": ["A", "A"], "open": [1.0, 1.0],
                          "high": [1.0, 1.0], "low": [1.0, 1.0], "close": [1.0, 0.0], "volume": [10, 10]})
    frame.to_csv(tmp_path / rd.SP500_100_FILE, index=False)
    with pytest.raises(rd.DataError, match="'close'.*2013-02-11"):
        rd.sp500_100_daily(directory=tmp_path)
    frame["close"] = 1.0
    frame.loc[1, "date"] = "2013-02-08"
    frame.to_csv(tmp_path / rd.SP500_100_FILE, index=False)
    with pytest.raises(rd.DataError, match="duplicate"):
        rd.load_sp500_100_ohlcv(tmp_path)


def test_sp500_100_empty_window_raises(tmp_path):
    frame = pd.DataFrame({"date": ["2013-02-08"], "symbol": ["A"], "open": [1.0], "high": [1.0], "low": [1.0],
                          "close": [1.0], "volume": [10]})
    frame.to_csv(tmp_path / rd.SP500_100_FILE, index=False)
    with pytest.raises(ValueError, match="no date"):
        rd.sp500_100_daily("2020-01-01", "2020-12-31", directory=tmp_path)
