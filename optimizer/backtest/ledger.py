"""The account's books during a backtest: tax lots, cash, realized gains and tax owed.

Lots
----
Every buy opens a lot (id, shares, cost basis per share, acquisition day). A sale relieves
lots named by the policy first (specific identification, as the optimizer policy does
through ``RebalanceResult.lot_sales``), in the order given, each capped by the lot and by
what is left of the sale; then the rest by the ledger's method: ``"fifo"`` (oldest
first) or ``"hifo"`` (highest basis first). A lot whose remainder after a relief would be
worth less than one cent (:data:`DUST_USD`) or hold fewer than :data:`DUST_SHARES`
shares is relieved entirely, so no sub-cent slivers stay on the books.

Every buy and every lot relief is logged (``buy_log``, ``relief_log``; plain tuples,
see :meth:`Ledger.buys_frame` and :meth:`Ledger.reliefs_frame`). A relief that loses more
than one cent (:data:`LOSS_USD`, dust added to close a lot not counted) records the date
in ``last_loss_sale[asset]``, so a policy (the optimizer) can respect the wash-sale rule
itself; the ledger applies no wash-sale disallowance.

Tax netting (US style), dollars
-------------------------------
A lot held more than ``long_term_days`` is long-term. Gains are taxed per calendar tax
year (the year of the sale date), by :func:`net_tax`:

1. short-term gains and losses of the year net to one short-term amount, long-term to
   one long-term amount; losses carried in from earlier years join their own term
   (short-term carryover against short-term gains, long-term against long-term);
2. if one term is a net gain and the other a net loss, they net against each other; the
   result keeps the character of the larger side;
3. net gains are taxed at ``short_term_rate`` / ``long_term_rate``;
4. a net loss offsets up to ``TaxRules.ordinary_offset_usd`` (3000 dollars a year) of
   ordinary income, short-term loss used first. The offset is valued at
   ``short_term_rate`` (the ordinary-income rate), so the year's tax is
   ``-short_term_rate * offset``: negative, a refund against the account holder's other
   income, which this ledger **credits to the account as cash**;
5. the rest of the loss carries forward indefinitely, keeping its character: two
   amounts, ``carry_short_usd`` and ``carry_long_usd``.

:meth:`Ledger.settle_tax` is called on the tax schedule of the simulator (annual,
quarterly, monthly or every date). It always settles on the year to date: it pays (or
is credited) the year's tax so far less what was already settled for that year, plus
the unsettled tax of closed years. So a quarterly or daily schedule ends each year with
exactly the annual amount, and the ordinary-income offset is granted once per year, not
once per settlement. A year is closed (its carry-forward fixed) when the first sale of a
later year is booked.

:meth:`Ledger.liquidation_tax_usd` sells every lot on paper on a date and closes that
date's tax year with the same netting: the year's realized gains, the carry-forward, and
the liquidation's gains together; tax still unsettled is included.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.model import TaxRules

#: Shares below this count as none (floating dust after lot relief).
DUST_SHARES = 1e-10
#: A sale may exceed holdings by this fraction (rounding) and is then clipped; more raises.
OVERSELL_TOLERANCE = 1e-9

#: A lot remainder worth less than this (dollars) is relieved with the rest of the lot.
DUST_USD = 0.01
#: A lot relief losing more than this (dollars) is a loss sale for the wash-sale rule.
LOSS_USD = 0.01

RELIEF_METHODS = ("fifo", "hifo")
BUY_COLUMNS = ["date", "asset", "lot_id", "shares", "price"]
RELIEF_COLUMNS = ["date", "asset", "lot_id", "shares", "price", "basis", "acquired", "gain_usd", "long_term"]


def day_number(date) -> int:
    """Days since 1970-01-01 (integer) for fast holding-period arithmetic."""
    return int(np.datetime64(pd.Timestamp(date).date(), "D").astype(np.int64))


class NetTax(NamedTuple):
    """One tax year's outcome (dollars): tax owed (< 0: a credit) and the losses carried out."""

    tax_usd: float
    carry_short_usd: float
    carry_long_usd: float
    ordinary_offset_usd: float


def net_tax(short_gain: float, long_gain: float, tax: TaxRules, carry_short: float = 0.0,
            carry_long: float = 0.0) -> NetTax:
    """Tax of one tax year's realized gains, US style (see the module docstring), dollars.

    Parameters
    ----------
    short_gain, long_gain:
        The year's realized gains per term, already net within the term (< 0: net loss).
    tax:
        Rates and ``ordinary_offset_usd``.
    carry_short, carry_long:
        Losses carried in from earlier years, by character (>= 0).

    Returns
    -------
    NetTax
        ``tax_usd`` owed (negative when a net loss offsets ordinary income: the saving
        ``short_term_rate * offset``), the short- and long-term losses carried out
        (>= 0) and the ordinary-income offset used (>= 0).
    """
    for name, value in (("carry_short", carry_short), ("carry_long", carry_long)):
        if not value >= 0:
            raise InputError(f"net_tax.{name}", f"is {value!r}; a carried loss is a non-negative amount")
    short = short_gain - carry_short
    long = long_gain - carry_long
    if short < 0 < long or long < 0 < short:          # across terms: the larger side keeps its character
        total = short + long
        short, long = (total, 0.0) if (total >= 0) == (short > 0) else (0.0, total)
    if short >= 0 and long >= 0:
        return NetTax(tax.short_term_rate * short + tax.long_term_rate * long, 0.0, 0.0, 0.0)
    offset = min(-(short + long), tax.ordinary_offset_usd)
    from_short = min(-short, offset)                  # the offset uses short-term loss first
    carry_short_out = -short - from_short
    carry_long_out = -long - (offset - from_short)
    return NetTax(-tax.short_term_rate * offset if offset > 0 else 0.0, carry_short_out,
                  max(carry_long_out, 0.0), offset)


class Ledger:
    """Lots and cash of one account; plain Python state so a checkpoint can pickle it.

    Parameters
    ----------
    assets:
        Asset names, in the price history's column order.
    tax:
        Rates and holding period.
    relief:
        Default lot relief for sales the policy does not specify: ``"fifo"`` or ``"hifo"``.

    Logs (plain lists of tuples, appended as trades happen; days are :func:`day_number`):

    * ``buy_log``: ``(day, asset, lot_id, shares, price)`` per buy;
    * ``relief_log``: ``(day, asset, lot_id, shares, price, basis, acquired_day, gain_usd,
      long_term)`` per lot relief.
    """

    def __init__(self, assets: list[str], tax: TaxRules = TaxRules(), relief: str = "hifo"):
        if relief not in RELIEF_METHODS:
            raise InputError("relief", f"is {relief!r}; use one of {RELIEF_METHODS}")
        self.assets = list(assets)
        self.index = {a: i for i, a in enumerate(self.assets)}
        self.tax = tax
        self.relief = relief
        self.lots: list[list[list]] = [[] for _ in self.assets]   # per asset: [lot_id, shares, basis, day]
        self.shares = np.zeros(len(self.assets))
        self.cash_usd = 0.0
        self.next_lot = 0
        self.tax_year: int | None = None   # calendar year the year_* amounts belong to
        self.year_short_usd = 0.0          # realized in tax_year so far, net within the term
        self.year_long_usd = 0.0
        self.year_settled_usd = 0.0        # tax of tax_year already settled from cash (< 0: credited)
        self.carry_short_usd = 0.0         # losses carried into tax_year, by character (>= 0)
        self.carry_long_usd = 0.0
        self.tax_due_usd = 0.0             # tax of closed years not yet settled (< 0: credit due)
        self.total_short_usd = 0.0         # realized over the whole run
        self.total_long_usd = 0.0
        self.tax_paid_usd = 0.0
        self.last_loss_sale: dict[str, pd.Timestamp] = {}
        self.last_buy_day: dict[str, int] = {}
        self.buy_log: list[tuple] = []
        self.relief_log: list[tuple] = []

    # -- trading -------------------------------------------------------------------------
    def buy(self, i: int, shares: float, price: float, date) -> str:
        """Open a lot of ``shares`` at ``price`` (basis per share, dollars); cash is not touched."""
        if not shares > 0:
            raise InputError("buy.shares", f"is {shares!r}; a buy needs a positive number of shares",
                             asset=self.assets[i])
        lot_id = f"L{self.next_lot:07d}"
        self.next_lot += 1
        today = day_number(date)
        self.lots[i].append([lot_id, float(shares), float(price), today])
        self.shares[i] += shares
        self.last_buy_day[self.assets[i]] = today
        self.buy_log.append((today, self.assets[i], lot_id, float(shares), float(price)))
        return lot_id

    def sell(self, i: int, shares: float, price: float, date,
             specific: dict[str, float] | None = None) -> tuple[float, float]:
        """Relieve ``shares`` of asset ``i`` at ``price``; return realized (short, long) gains, dollars.

        ``specific`` maps lot id -> shares to sell from that lot first, in the order given,
        each capped by the lot and by what is left of the sale; the remainder goes by the
        ledger's relief method. A lot whose remainder would be worth less than
        :data:`DUST_USD` (or hold under :data:`DUST_SHARES`) is relieved entirely, so the
        shares sold may exceed ``shares`` by such dust. Cash is not touched.
        """
        asset = self.assets[i]
        held = self.shares[i]
        if shares > held * (1 + OVERSELL_TOLERANCE) + DUST_SHARES:
            raise InputError("sell.shares", f"sells {shares:g} shares but only {held:g} are held", asset=asset)
        today = day_number(date)
        lots = self.lots[i]
        by_id = {lot[0]: lot for lot in lots}
        plan = [(by_id[str(lot_id)], float(want)) for lot_id, want in self._named(i, specific, by_id)]
        order = lots if self.relief == "fifo" else sorted(lots, key=lambda lot: -lot[2])
        plan += [(lot, lot[1]) for lot in order]
        remaining = min(shares, held)
        short = long = 0.0
        for lot, want in plan:
            if remaining <= DUST_SHARES:
                break
            take = min(want, lot[1], remaining)
            if take <= 0:
                continue
            s, l_, taken = self._relieve(i, lot, take, price, today)
            short += s
            long += l_
            remaining -= taken
        self.lots[i] = [lot for lot in lots if lot[1] > 0]
        self.shares[i] = sum(lot[1] for lot in self.lots[i])
        self._realize(short, long, today)
        return short, long

    def _named(self, i: int, specific: dict[str, float] | None, by_id: dict) -> list[tuple[str, float]]:
        """The named lots of a sale, checked to exist."""
        for lot_id in specific or {}:
            if str(lot_id) not in by_id:
                raise InputError("lot_sales", "names a lot the ledger does not hold", asset=self.assets[i],
                                 lot=str(lot_id))
        return list((specific or {}).items())

    def _relieve(self, i: int, lot: list, take: float, price: float, today: int) -> tuple[float, float, float]:
        """Relieve ``take`` shares of ``lot`` (all of it if the rest would be dust); log it.

        A relief losing more than :data:`LOSS_USD` on the shares asked for (dust added
        to close the lot does not count) records a loss sale of the asset for the
        wash-sale rule. Returns (short, long) realized gain (dollars) and the shares relieved.
        """
        wanted_gain = take * (price - lot[2])
        rest = lot[1] - take
        if rest * price < DUST_USD or rest < DUST_SHARES:
            take = lot[1]
        gain = take * (price - lot[2])
        lot[1] -= take
        long_term = today - lot[3] > self.tax.long_term_days
        asset = self.assets[i]
        self.relief_log.append((today, asset, lot[0], float(take), float(price), lot[2], lot[3], float(gain),
                                bool(long_term)))
        if wanted_gain < -LOSS_USD:
            self.last_loss_sale[asset] = pd.Timestamp(np.datetime64(today, "D"))
        return (0.0, gain, take) if long_term else (gain, 0.0, take)

    def recent_buy_days(self, date, days: int) -> dict[str, int]:
        """Assets bought within ``days`` calendar days up to ``date``: their latest buy day
        (:func:`day_number`), the buys the wash-sale rule looks back at."""
        today = day_number(date)
        return {asset: day for asset, day in self.last_buy_day.items() if today - day <= days}

    def gains_first(self, i: int, price: float) -> dict[str, float]:
        """All lots of asset ``i`` as a ``{lot_id: shares}`` relief order: lots at a gain (or
        none) at ``price`` first, then loss lots; highest basis first within each group."""
        lots = sorted(self.lots[i], key=lambda lot: (lot[2] > price, -lot[2]))
        return {lot[0]: lot[1] for lot in lots}

    def gains_usd_available(self, i: int, price: float) -> float:
        """Value (dollars) at ``price`` of the lots of asset ``i`` that are not at a loss."""
        return float(sum(lot[1] for lot in self.lots[i] if lot[2] <= price) * price)

    # -- tax -----------------------------------------------------------------------------
    def _realize(self, short: float, long: float, today: int) -> None:
        """Add realized gains (dollars) to the tax year of ``today``, closing earlier years first."""
        year = int(str(np.datetime64(today, "D").astype("datetime64[Y]")))
        if self.tax_year is not None and year > self.tax_year:
            self._close_year()
        if self.tax_year is None or year > self.tax_year:
            self.tax_year = year
        self.year_short_usd += short
        self.year_long_usd += long
        self.total_short_usd += short
        self.total_long_usd += long

    def year_outcome(self, short: float = 0.0, long: float = 0.0) -> NetTax:
        """The current tax year netted with extra (short, long) gains, dollars."""
        return net_tax(self.year_short_usd + short, self.year_long_usd + long, self.tax, self.carry_short_usd,
                       self.carry_long_usd)

    def _close_year(self) -> None:
        """End ``tax_year``: its unsettled tax becomes due, its losses carry forward."""
        outcome = self.year_outcome()
        self.tax_due_usd += outcome.tax_usd - self.year_settled_usd
        self.carry_short_usd, self.carry_long_usd = outcome.carry_short_usd, outcome.carry_long_usd
        self.year_short_usd = self.year_long_usd = self.year_settled_usd = 0.0

    def settle_tax(self) -> float:
        """Settle tax from cash: closed years' tax still due plus the current year to date.

        Returns the amount paid (dollars; negative when the account is credited, e.g. the
        ordinary-income offset of a net loss, or a credit reversed by later gains).
        """
        year_tax = self.year_outcome().tax_usd
        owed = self._unsettled(year_tax)
        self.year_settled_usd = year_tax
        self.tax_due_usd = 0.0
        self.cash_usd -= owed
        self.tax_paid_usd += owed
        return owed

    def tax_owed_usd(self) -> float:
        """What :meth:`settle_tax` would pay now (dollars; negative when it would credit)."""
        return self._unsettled(self.year_outcome().tax_usd)

    def _unsettled(self, year_tax_usd: float) -> float:
        """Tax still to settle when the current tax year's tax is ``year_tax_usd`` (dollars)."""
        return self.tax_due_usd + year_tax_usd - self.year_settled_usd

    def realized_gain_usd(self, date) -> float:
        """Net gain realized in ``date``'s tax year less the losses carried into it (dollars;
        negative: losses available to absorb gains), as ``Portfolio.realized_gain_usd`` wants."""
        if self.tax_year is None:
            return 0.0
        if pd.Timestamp(date).year == self.tax_year:
            return self.year_short_usd + self.year_long_usd - self.carry_short_usd - self.carry_long_usd
        closed = self.year_outcome()
        return -(closed.carry_short_usd + closed.carry_long_usd)

    def unrealized_usd(self, prices: np.ndarray, date) -> tuple[float, float]:
        """Unrealized (short, long) gains of all lots at ``prices``, dollars."""
        today = day_number(date)
        short = long = 0.0
        for i, lots in enumerate(self.lots):
            for _, shares, basis, day in lots:
                gain = shares * (prices[i] - basis)
                if today - day > self.tax.long_term_days:
                    long += gain
                else:
                    short += gain
        return short, long

    def liquidation_tax_usd(self, prices: np.ndarray, date) -> float:
        """Tax still to settle if every lot were sold at ``prices`` on ``date`` and the year closed.

        Netted like any year (:func:`net_tax`): the sale's gains join the realized gains of
        ``date``'s tax year and meet the carried losses; tax of earlier years not yet
        settled is added and tax already settled for the year subtracted. Negative when the
        account would be credited (dollars).
        """
        short, long = self.unrealized_usd(prices, date)
        year = pd.Timestamp(date).year
        if self.tax_year is None or year == self.tax_year:
            return self._unsettled(self.year_outcome(short, long).tax_usd)
        if year < self.tax_year:
            raise InputError("liquidation_tax.date", f"is in {year}, before the ledger's tax year {self.tax_year}")
        closed = self.year_outcome()
        due = self._unsettled(closed.tax_usd)
        final = net_tax(short, long, self.tax, closed.carry_short_usd, closed.carry_long_usd)
        return due + final.tax_usd

    # -- views ---------------------------------------------------------------------------
    def holdings_usd(self, prices: np.ndarray) -> np.ndarray:
        return self.shares * prices

    def lots_frame(self) -> pd.DataFrame:
        """Open lots as a frame with :data:`optimizer.model.portfolio.LOT_COLUMNS`."""
        rows = [(lot_id, self.assets[i], shares, basis, day)
                for i, lots in enumerate(self.lots) for lot_id, shares, basis, day in lots]
        frame = pd.DataFrame(rows, columns=["lot_id", "asset", "quantity", "cost_basis", "acquired"])
        frame["acquired"] = pd.to_datetime(frame["acquired"].astype("int64"), unit="D")
        return frame

    def buys_frame(self) -> pd.DataFrame:
        """Every buy: ``date, asset, lot_id, shares, price`` (price per share, dollars)."""
        frame = pd.DataFrame(self.buy_log, columns=BUY_COLUMNS)
        frame["date"] = _dates(frame["date"])
        return frame

    def reliefs_frame(self) -> pd.DataFrame:
        """Every lot relief: ``date, asset, lot_id, shares, price, basis, acquired, gain_usd, long_term``."""
        frame = pd.DataFrame(self.relief_log, columns=RELIEF_COLUMNS)
        frame["date"] = _dates(frame["date"])
        frame["acquired"] = _dates(frame["acquired"])
        frame["long_term"] = frame["long_term"].astype(bool)
        return frame

    def lot_counts(self) -> np.ndarray:
        return np.array([len(lots) for lots in self.lots])


def _dates(days: pd.Series) -> pd.Series:
    return pd.to_datetime(days.astype("int64"), unit="D")
