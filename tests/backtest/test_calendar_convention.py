"""Calendar convention: calendar policies rebalance on the LAST trading date of each period.

* :class:`Schedule` on a small daily calendar with real US holidays: last trading day of
  month / quarter / year, the ``when="first"`` option, never on the first or final date.
* A frictionless monthly 60/40 backtest 1926-2009 with :class:`Simulator` reproduces a
  plain numpy computation written here (drifting weights, back to target on the chosen
  dates): annualised return and volatility to 1e-10, same number of rebalances.
* On daily data a quarterly calendar now trades on 2019-03-29 (last trading day of Q1),
  not on 2019-04-01; schedules resume exactly from a checkpoint.
"""

import numpy as np
import pandas as pd
import pytest

from case_factories import Interrupt, crash_once
from optimizer.backtest import BacktestConfig, CostModel, Simulator
from optimizer.errors import InputError
from optimizer.model import TaxRules
from optimizer.policies import Bands, BuyAndHold, Calendar, CalendarThreshold, Schedule
from problems import real_data

TARGET = {"US_EQUITY": 0.6, "UST10Y": 0.4}
PANDAS_PERIOD = {"M": "M", "Q": "Q", "A": "Y"}
NYSE_HOLIDAYS = ["2019-01-01", "2019-01-21", "2019-02-18", "2019-04-19", "2019-05-27", "2019-07-04", "2019-09-02",
                 "2019-11-28", "2019-12-25", "2020-01-01"]


# --------------------------------------------------------------------------- Schedule


def trading_days(start: str = "2018-12-24", end: str = "2020-01-10") -> pd.DatetimeIndex:
    """Weekdays without the 2019 NYSE holidays (and Christmas 2018)."""
    days = pd.bdate_range(start, end)
    return days.drop(pd.DatetimeIndex(NYSE_HOLIDAYS + ["2018-12-25"]), errors="ignore")


def due_dates(calendar: pd.DatetimeIndex, frequency: str, when: str = "last") -> list[str]:
    """The dates a fresh ``Schedule(frequency, when)`` is due on, stepping through ``calendar``."""
    schedule = Schedule(frequency, when)
    nexts = list(calendar[1:]) + [None]
    return [f"{d.date()}" for d, n in zip(calendar, nexts) if schedule.due(d, n)]


def test_schedule_is_due_on_the_last_trading_day_of_each_period():
    days = trading_days()
    assert due_dates(days, "M") == ["2018-12-31", "2019-01-31", "2019-02-28", "2019-03-29", "2019-04-30",
                                    "2019-05-31", "2019-06-28", "2019-07-31", "2019-08-30", "2019-09-30",
                                    "2019-10-31", "2019-11-29", "2019-12-31"]
    assert due_dates(days, "Q") == ["2018-12-31", "2019-03-29", "2019-06-28", "2019-09-30", "2019-12-31"]
    assert due_dates(days, "A") == ["2018-12-31", "2019-12-31"]


def test_schedule_first_option_is_due_on_the_first_trading_day_of_each_new_period():
    days = trading_days()
    assert due_dates(days, "Q", "first") == ["2019-01-02", "2019-04-01", "2019-07-01", "2019-10-01", "2020-01-02"]
    assert due_dates(days, "A", "first") == ["2019-01-02", "2020-01-02"]
    assert due_dates(days, "M", "first")[:3] == ["2019-01-02", "2019-02-01", "2019-03-01"]


def test_schedule_is_never_due_on_the_first_or_the_final_date():
    days = trading_days("2019-03-29", "2019-12-31")       # both ends close a quarter
    assert due_dates(days, "Q") == ["2019-06-28", "2019-09-30"]
    assert due_dates(days, "Q", "first") == ["2019-04-01", "2019-07-01", "2019-10-01"]
    assert due_dates(days, "D") == [f"{d.date()}" for d in days[1:-1]]


def test_schedule_rejects_an_unknown_convention():
    with pytest.raises(InputError) as caught:
        Schedule("Q", "middle")
    assert caught.value.field == "when"
    with pytest.raises(InputError):
        Calendar(TARGET, "Q", when="end")


# --------------------------------------------------------------------------- 60/40 1926-2009


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return real_data.stock_bond_monthly_1926("1926-01-01", "2009-12-01")


@pytest.fixture(scope="module")
def frictionless(prices) -> Simulator:
    config = BacktestConfig(tax=TaxRules.none(), costs=CostModel(half_spread=0.0, commission=0.0, impact_eta=0.0))
    return Simulator(prices, config)


def period_ends(index: pd.DatetimeIndex, frequency: str, when: str) -> np.ndarray:
    """Rebalance dates of a calendar (bool per date), from pandas periods.

    ``"last"``: dates whose next date lies in another period; ``"first"``: dates whose
    previous date lies in another period. Never the first date; ``"last"`` never the
    final date.
    """
    period = index.to_period(PANDAS_PERIOD[frequency])
    due = np.zeros(len(index), dtype=bool)
    if when == "last":
        due[1:-1] = period[1:-1] != period[2:]
    else:
        due[1:] = period[1:] != period[:-1]
    return due


def reference(prices: pd.DataFrame, *, calendar: np.ndarray | None = None, band: float | None = None,
              checks: np.ndarray | None = None) -> dict[str, float]:
    """Frictionless drifting 60/40 in plain numpy.

    Holdings (NAV fractions of a start NAV of 1) grow with each asset's gross return; on a
    ``calendar`` date everything goes back to target; on a ``checks`` date it does if
    any weight is more than ``band`` (absolute) from target. Returns the annualised
    geometric return over calendar days / 365.25, the annualised volatility of the
    period returns (ddof 1, periods per year = (T - 1) / years) and the rebalance count.
    """
    target = np.array([TARGET[c] for c in prices.columns])
    growth = prices.to_numpy()[1:] / prices.to_numpy()[:-1]
    holdings, nav, events = target.copy(), [1.0], 0
    for k in range(1, len(prices)):
        holdings = holdings * growth[k - 1]
        total = holdings.sum()
        due = calendar is not None and calendar[k]
        if checks is not None and checks[k]:
            due = bool(np.any(np.abs(holdings / total - target) > band))
        if due:
            holdings, events = target * total, events + 1
        nav.append(total)
    nav = np.array(nav)
    returns = nav[1:] / nav[:-1] - 1.0
    years = (prices.index[-1] - prices.index[0]).days / 365.25
    return {"annual_return": nav[-1] ** (1.0 / years) - 1.0,
            "volatility": float(np.std(returns, ddof=1) * np.sqrt(len(returns) / years)),
            "rebalance_events": events}


def assert_matches(run: dict, expected: dict) -> None:
    assert run["annual_return"] == pytest.approx(expected["annual_return"], abs=1e-10, rel=0)
    assert run["volatility"] == pytest.approx(expected["volatility"], abs=1e-10, rel=0)
    assert run["rebalance_events"] == expected["rebalance_events"]


def test_buy_and_hold_matches_the_plain_computation(prices, frictionless):
    run = frictionless.run(BuyAndHold(TARGET)).metrics()
    assert_matches(run, reference(prices))
    assert run["rebalance_events"] == 0


@pytest.mark.parametrize("when", ["last", "first"])
@pytest.mark.parametrize("frequency", ["M", "Q", "A"])
def test_calendar_matches_the_plain_computation(prices, frictionless, frequency, when):
    run = frictionless.run(Calendar(TARGET, frequency, when=when)).metrics()
    expected = reference(prices, calendar=period_ends(prices.index, frequency, when))
    assert_matches(run, expected)
    assert run["rebalance_events"] > 50


@pytest.mark.parametrize("band", [0.01, 0.05, 0.10])
def test_monthly_checked_bands_match_the_plain_computation(prices, frictionless, band):
    policy = CalendarThreshold(TARGET, Bands.absolute(band), check="M", trade_to="target")
    run = frictionless.run(policy).metrics()
    expected = reference(prices, band=band, checks=period_ends(prices.index, "M", "last"))
    assert_matches(run, expected)
    assert run["rebalance_events"] > 0


def test_last_and_first_quarterly_differ_by_the_timing_alone(prices, frictionless):
    last = frictionless.run(Calendar(TARGET, "Q")).metrics()
    first = frictionless.run(Calendar(TARGET, "Q", when="first")).metrics()
    assert last["annual_return"] != first["annual_return"]
    assert abs(last["annual_return"] - first["annual_return"]) < 0.005     # a timing effect, bp not %


# --------------------------------------------------------------------------- daily policies


@pytest.fixture(scope="module")
def daily_2019() -> Simulator:
    prices = real_data.multi_asset_daily()[["SP500", "UST10Y"]].loc["2019-01-02":"2019-06-28"]
    return Simulator(prices)


def test_daily_quarterly_calendar_trades_on_the_last_trading_day_of_the_quarter(daily_2019):
    target = {"SP500": 0.6, "UST10Y": 0.4}
    last = pd.Series(daily_2019.run(Calendar(target, "Q")).events, index=daily_2019.calendar)
    first = pd.Series(daily_2019.run(Calendar(target, "Q", when="first")).events, index=daily_2019.calendar)
    assert list(last.index[last]) == [pd.Timestamp("2019-03-29")]
    assert list(first.index[first]) == [pd.Timestamp("2019-04-01")]


def test_start_rewinds_the_schedule_so_a_policy_can_run_twice(daily_2019):
    policy = Calendar({"SP500": 0.6, "UST10Y": 0.4}, "M")
    first = daily_2019.run(policy)
    assert policy.state_dict()["schedule"] is not None
    policy.start(daily_2019.assets)
    assert policy.state_dict() == {"schedule": None}
    again = daily_2019.run(policy)
    np.testing.assert_array_equal(again.events, first.events)
    assert first.events.sum() == 5                          # Jan .. May month ends; not the final 2019-06-28


CrashingCalendar = crash_once(Calendar)


def test_calendar_resumes_from_a_checkpoint_on_the_same_dates(tmp_path):
    prices = real_data.multi_asset_daily()[["SP500", "UST10Y"]].loc["2018-01-02":"2019-12-31"]
    sim = Simulator(prices)
    target = {"SP500": 0.6, "UST10Y": 0.4}
    full = sim.run(Calendar(target, "M"))
    crashing = CrashingCalendar(target, "M")
    crashing.crash_at = 130
    path = tmp_path / "calendar.ckpt"
    with pytest.raises(Interrupt):
        sim.run(crashing, checkpoint_path=path, checkpoint_every=45)
    resumed = sim.run(CrashingCalendar(target, "M"), checkpoint_path=path, checkpoint_every=45)
    np.testing.assert_array_equal(resumed.events, full.events)
    np.testing.assert_array_equal(resumed.nav_usd, full.nav_usd)
    assert full.events.sum() == 23
