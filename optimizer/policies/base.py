"""One interface for every rebalancing policy: ``decide(date, state) -> Orders | None``.

The simulator calls :meth:`Policy.decide` on every date of the price history; a policy
keeps its own schedule (calendar, checks, decision frequency) and returns ``None`` when
it does not trade. Orders are signed dollar trades per asset, optionally naming the tax
lots to sell (specific identification).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.model._checks import as_series, nonnegative
from optimizer.model.costs import CostModel

FREQUENCIES = ("D", "W", "M", "Q", "S", "A")


class LedgerView(Protocol):
    """What a policy may read of the account's books (the simulator's
    :class:`optimizer.backtest.ledger.Ledger` is one); policies must not write to it.

    ``lots`` holds per asset the open lots ``[lot_id, shares, basis, acquired_day, ...]``;
    ``last_loss_sale`` the date of each asset's last sale at a loss; ``overlay`` the
    derivative positions (``None`` without an overlay). A ledger may also offer
    ``lot_arrays()`` (:meth:`optimizer.backtest.ledger.Ledger.lot_arrays`), which the
    optimizer policy reads instead of ``lots_frame()`` when present.
    """

    lots: list
    last_loss_sale: dict
    overlay: object | None

    def lots_frame(self) -> pd.DataFrame: ...

    def realized_gain_usd(self, date) -> float: ...

    def recent_buys(self, date, days: int) -> pd.DataFrame: ...

    def recent_buy_days(self, date, days: int) -> dict[str, int]: ...

    def tax_owed_usd(self) -> float: ...


@dataclass(frozen=True)
class Orders:
    """What a policy wants traded on one date.

    Attributes
    ----------
    trade_usd:
        Signed trade per asset, account currency (+ buy, - sell): an array in the
        simulator's asset order, or a Series indexed by asset (assets left out trade
        nothing; see :meth:`trade_array`).
    lot_sales:
        Optional ``{asset: {lot_id: shares}}``: lots to relieve first when selling that
        asset; the rest of a sale goes by the ledger's relief method.
    futures_contracts:
        Optional ``{future name: whole contracts to trade}`` (+ buy, - sell); only in a
        simulator whose account holds an overlay (``BacktestConfig.overlay``).
    swap_notional_usd:
        Optional ``{swap name: change of notional}``, account currency (+ receive more of
        the total return); only with an overlay.
    """

    trade_usd: np.ndarray
    lot_sales: dict[str, dict[str, float]] | None = None
    futures_contracts: dict[str, int] | None = None
    swap_notional_usd: dict[str, float] | None = None

    def trade_array(self, assets: tuple[str, ...] | list[str]) -> np.ndarray:
        """``trade_usd`` as one finite amount per asset of ``assets``, in that order.

        Raises :class:`InputError` naming the asset for an unknown asset or a non-finite
        amount, or when an array has the wrong length.
        """
        if isinstance(self.trade_usd, pd.Series):
            series = as_series(self.trade_usd, "orders.trade_usd")
            unknown = [a for a in series.index if a not in set(assets)]
            if unknown:
                raise InputError("orders.trade_usd", "names an asset that is not in the price history",
                                 asset=unknown[0])
            given = ~np.isfinite(series.to_numpy(dtype=float))
            if given.any():
                raise InputError("orders.trade_usd", f"is {series[given].iloc[0]!r}; it must be a finite amount",
                                 asset=str(series.index[given][0]))
            trade = series.reindex(list(assets)).fillna(0.0).to_numpy(dtype=float)
        else:
            trade = np.array(self.trade_usd, dtype=float)
            if trade.shape != (len(assets),):
                raise InputError("orders.trade_usd", f"must be {len(assets)} amounts, one per asset "
                                                     f"(or a Series indexed by asset)")
        bad = ~np.isfinite(trade)
        if bad.any():
            raise InputError("orders.trade_usd", f"is {trade[bad][0]!r}; it must be a finite amount",
                             asset=str(assets[int(np.argmax(bad))]))
        return trade


@dataclass(frozen=True)
class OverlayView:
    """The derivative side of the account on one date, after the day's marks, before trading.

    Arrays are per asset in the simulator's order (an instrument's asset class is one of
    the simulator's assets); money in account currency. Futures and swap specifications
    are the instrument objects of :mod:`optimizer.overlays.instruments`.

    Attributes
    ----------
    exposure_usd:
        Exposure of the overlay per asset: futures ``beta * notional``, swaps notional
        grown with their level since the last reset, options by Black-Scholes delta.
    contracts:
        Whole contracts held per future (only those held).
    futures, futures_price:
        The futures the account may trade and the price of the contract one would trade
        today (the held contract's last settlement, else the front contract's fair value).
    swaps, swap_notional:
        Total-return swaps available and the notional held per swap (signed).
    option_delta_usd, option_value_usd:
        Delta exposure per asset and Black-Scholes value of the options held (the value
        is in the NAV; the delta in ``exposure_usd``).
    gross_limit:
        Overlay gross notional cap, NAV fraction.
    initial_margin_usd, maintenance_margin_usd:
        Requirements of the overlay held (futures margin plus swap collateral).
    """

    exposure_usd: np.ndarray
    contracts: dict[str, int]
    futures: dict[str, object]
    futures_price: dict[str, float]
    swaps: dict[str, object]
    swap_notional: dict[str, float]
    option_delta_usd: np.ndarray
    option_value_usd: float
    gross_limit: float
    initial_margin_usd: float
    maintenance_margin_usd: float


@dataclass(frozen=True)
class State:
    """What a policy sees on one date (arrays in the simulator's asset order; read-only).

    ``prices`` are total-return price indices per share; ``holdings_usd`` and ``nav_usd``
    are marked at them, after today's cash flow (``flow_usd``, + inflow) and any tax
    payment. ``volatility`` is the trailing daily return volatility the simulator uses
    to charge impact; ``history`` holds the prices of every date up to today.
    ``next_date`` is the next date of the price calendar (``None`` on the last date), so a
    calendar can tell that today closes its period.

    ``costs`` is the simulator's cost model (the fills' prices); ``max_trade_usd`` the
    largest trade per asset the simulator fills today (``None``: no participation cap).
    ``overlay`` describes the derivative positions when the account holds an overlay
    (``None`` otherwise); ``nav_usd`` then includes the options' and swaps' value and
    exposures are ``holdings_usd + overlay.exposure_usd``.
    """

    step: int
    date: pd.Timestamp
    assets: tuple[str, ...]
    prices: np.ndarray
    holdings_usd: np.ndarray
    cash_usd: float
    nav_usd: float
    flow_usd: float
    volatility: np.ndarray
    history: np.ndarray
    periods_per_year: float
    ledger: LedgerView = field(repr=False)
    next_date: pd.Timestamp | None
    costs: CostModel | None = None
    max_trade_usd: np.ndarray | None = None
    overlay: OverlayView | None = None

    @property
    def weights(self) -> np.ndarray:
        """Holdings as NAV fractions."""
        return self.holdings_usd / self.nav_usd

    def frame(self) -> pd.DataFrame:
        """Today's book as an asset-indexed DataFrame: ``price``, ``holdings_usd``, ``weight``
        (NAV fraction), ``volatility`` (daily) and, with an overlay, ``exposure_usd``."""
        columns = {"price": self.prices, "holdings_usd": self.holdings_usd, "weight": self.weights,
                   "volatility": self.volatility}
        if self.overlay is not None:
            columns["exposure_usd"] = self.exposure_usd
        return pd.DataFrame(columns, index=pd.Index(self.assets, name="asset"))

    @property
    def exposure_usd(self) -> np.ndarray:
        """Exposure per asset: holdings plus the overlay's exposure, account currency."""
        return self.holdings_usd if self.overlay is None else self.holdings_usd + self.overlay.exposure_usd


def period_key(date: pd.Timestamp, frequency: str) -> tuple:
    """A key that changes exactly when ``date`` enters a new period of ``frequency``.

    ``"D"`` every date, ``"W"`` ISO week, ``"M"`` month, ``"Q"`` quarter, ``"S"`` half
    year, ``"A"`` calendar year.
    """
    if frequency == "D":
        return (date.value,)
    if frequency == "W":
        iso = date.isocalendar()
        return (iso[0], iso[1])
    if frequency == "M":
        return (date.year, date.month)
    if frequency == "Q":
        return (date.year, (date.month - 1) // 3)
    if frequency == "S":
        return (date.year, (date.month - 1) // 6)
    if frequency == "A":
        return (date.year,)
    raise InputError("frequency", f"is {frequency!r}; use one of {FREQUENCIES}")


WHEN = ("last", "first")


class Schedule:
    """Which dates of the price calendar a periodic rule acts on.

    Parameters
    ----------
    frequency:
        Period length: one of :data:`FREQUENCIES` (see :func:`period_key`).
    when:
        ``"last"`` (default, the convention of published rebalancing studies): due on the
        last date of each period, i.e. on ``date`` when ``next_date`` falls in a different
        period. ``"first"``: due on the first date of each new period, i.e. after that
        period's first return.

    Either way a schedule is never due on the first date it sees (the backtest's first
    date: the book is invested at target there); with ``"last"`` it is never due on the
    final date either (``next_date is None``: no period follows for a trade to matter).
    The only state is ``last``, the period key of the previous date seen (``None``
    before the first date), so :meth:`Policy.state_dict` resumes it exactly.
    """

    def __init__(self, frequency: str, when: str = "last"):
        period_key(pd.Timestamp("2000-01-03"), frequency)   # validates
        if when not in WHEN:
            raise InputError("when", f"is {when!r}; use one of {WHEN}")
        self.frequency = frequency
        self.when = when
        self.last: tuple | None = None

    def due(self, date: pd.Timestamp, next_date: pd.Timestamp | None) -> bool:
        """True if the rule acts on ``date``; ``next_date`` is the calendar's next date or None.

        Call once per date, in calendar order (the schedule remembers the previous date).
        """
        key = period_key(date, self.frequency)
        previous, self.last = self.last, key
        if previous is None:
            return False
        if self.when == "first":
            return key != previous
        return next_date is not None and period_key(next_date, self.frequency) != key


def target_array(target: pd.Series | dict, assets: tuple[str, ...] | list[str], field: str = "target") -> np.ndarray:
    """Target weights (NAV fractions, summing to at most 1; the rest is cash) over ``assets``.

    Raises :class:`InputError` for an unknown asset, a negative weight or a sum above 1.
    """
    series = as_series(target, field)
    nonnegative(series, field)
    unknown = [a for a in series.index if a not in assets]
    if unknown:
        raise InputError(field, "names an asset that is not in the price history", asset=unknown[0])
    total = float(series.sum())
    if total > 1 + 1e-9:
        raise InputError(field, f"weights sum to {total:.6f}; at most 1 (the rest is cash)")
    return series.reindex(list(assets)).fillna(0.0).to_numpy(dtype=float)


class Policy(ABC):
    """A rebalancing rule. Subclasses set ``name`` and implement :meth:`decide`.

    Parameters
    ----------
    target:
        Target weights per asset (NAV fractions, the rest held as cash).
    """

    name: str = "policy"

    def __init__(self, target: pd.Series | dict):
        self.target = as_series(target, "target")
        self._target: np.ndarray | None = None

    def start(self, assets: tuple[str, ...]) -> None:
        """Called once before the first date (and again on resume): align to ``assets``.

        Also rewinds every :class:`Schedule` (a resumed run then loads its position), so
        the same policy object can be run again from the first date.
        """
        self._target = target_array(self.target, assets)
        for schedule in vars(self).values():
            if isinstance(schedule, Schedule):
                schedule.last = None

    @abstractmethod
    def decide(self, date: pd.Timestamp, state: State) -> Orders | None:
        """Orders for ``date``, or ``None`` to leave the book alone."""

    def state_dict(self) -> dict:
        """Everything a resumed run needs to carry on exactly (schedule positions)."""
        return {k: v.last for k, v in vars(self).items() if isinstance(v, Schedule)}

    def load_state_dict(self, state: dict) -> None:
        for k, last in state.items():
            getattr(self, k).last = last
