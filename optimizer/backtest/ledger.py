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
than one cent (:data:`LOSS_USD`, dust added to close a lot not counted) is a *loss sale*:
its date is recorded in ``last_loss_sale[asset]`` (for policies) and the wash-sale rule
below is applied to it.

Wash sales (US, IRS Pub. 550 "Wash Sales"), shares and dollars
---------------------------------------------------------------
A loss sale of ``q`` shares losing ``l`` dollars per share is a wash sale to the extent
shares of its wash group (``TaxRules.wash_group``: the asset, or its group of
substantially identical securities) were bought within ``TaxRules.wash_sale_days``
calendar days before or after the sale date (both ends included), in this account or in
another account of the household (:meth:`Ledger.record_external_buy`). The purchase that
created the sold lot is never its own replacement (nor are other lots split off it).

* **Matching.** Replacement shares are matched in order of acquisition (day, then order
  of booking); each replacement share absorbs at most one loss share. A loss sale first
  takes the shares bought before it (up to the sale day) that are still held after the
  sale; what stays unmatched is an *open loss* that a buy within the window after the
  sale absorbs when it is booked (open losses in order of sale). So the same buy is
  matched to the earliest loss first.
* **Disallowance.** ``m`` matched shares disallow ``m * l`` dollars of the sale's loss:
  that amount is added back to the realized gain of the sale's term (short or long) in
  the sale's tax year. If that year is already closed (a later year's sale was booked
  before the replacement buy), the closed year is restated: the ledger keeps every
  closed year's realized gains, carried-in losses and tax (``closed_years``), nets the
  year again and every later closed year with the corrected carry-forward, adds the
  change in tax to the tax due (settled at the next :meth:`Ledger.settle_tax`) and
  replaces the carry into the current year.
* **Replacement lot.** The matched shares of a replacement lot in this account get the
  disallowed loss added to their basis (``l`` per share) and their acquisition day moved
  earlier by the sold lot's holding period (sale day less its acquisition day), so their
  own sale later is short- or long-term as the law says. If only part of the lot is
  matched, the matched part is split off as a new lot ``<lot_id>w<n>`` (same asset and
  purchase; its buy stays logged under the original id, and its reliefs carry the
  original id in ``bought_lot_id``); the unmatched rest keeps the original id and can
  still replace later losses.
* **Replacement shares already sold.** Shares bought before the loss sale whose lot was
  sold before it (or in the same sale) replace nothing: the loss stays allowed. A basis
  increase on shares already sold would be realized at once, so this treatment is the
  economic one and keeps every closed sale's gain as logged.
* **Other accounts.** :meth:`Ledger.record_external_buy` books a purchase in another
  account of the household. It can replace a loss here like a buy here (bought before
  the sale, it is assumed still held), but its basis lives in the other account's books:
  for a taxable account the disallowed loss is reported as deferred to that account's
  lot (kind ``"external"``); for a tax-exempt or tax-deferred account (IRA, 401k, Roth)
  it is lost for good (kind ``"exempt"``: no basis adjustment anywhere).

Every disallowance is logged in ``wash_log`` (see :meth:`Ledger.wash_sales_frame`).
:meth:`Ledger.recent_buys` lists the purchases of the window (held or sold, external
ones included) in the form the engine's ``Portfolio.recent_buys`` takes, so a policy can
avoid wash sales instead of having them disallowed.
Realized gains (``year_*``, ``total_*``, what :meth:`Ledger.sell` returns) are the
*recognized* amounts, net of disallowed losses; ``relief_log`` keeps each relief's gain
as booked, before disallowance. Dates must not go backwards across calls (a backtest
books in date order).

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
RELIEF_COLUMNS = ["date", "asset", "lot_id", "shares", "price", "basis", "acquired", "gain_usd", "long_term",
                  "bought_lot_id"]
WASH_COLUMNS = ["date", "asset", "lot_id", "shares", "disallowed_usd", "long_term", "replacement_asset",
                "replacement_lot_id", "replacement_bought", "kind", "booked"]
RECENT_BUY_COLUMNS = ["asset", "lot_id", "acquired"]
#: Kinds of replacement in the wash log: a lot of this account (loss deferred to its basis),
#: a taxable other account (deferred there), a tax-exempt/-deferred account (lost for good).
WASH_KINDS = ("lot", "external", "exempt")


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
      long_term, bought_lot_id)`` per lot relief;
    * ``wash_log``: ``(sale_day, asset, lot_id, shares, disallowed_usd, long_term,
      replacement_asset, replacement_lot_id, replacement_day, kind, booked_day)`` per
      (loss relief, replacement) match; see :meth:`wash_sales_frame`.

    A lot is a list ``[lot_id, shares, basis, acquired_day, bought_lot_id, replaceable]``:
    ``bought_lot_id`` is the id of the buy that opened it (its own id unless split off by
    a wash sale) and ``replaceable`` is true while its shares have replaced no loss.
    """

    def __init__(self, assets: list[str], tax: TaxRules = TaxRules(), relief: str = "hifo"):
        if relief not in RELIEF_METHODS:
            raise InputError("relief", f"is {relief!r}; use one of {RELIEF_METHODS}")
        self.assets = list(assets)
        self.index = {a: i for i, a in enumerate(self.assets)}
        self.tax = tax
        self.relief = relief
        self.lots: list[list[list]] = [[] for _ in self.assets]   # per asset: see the class docstring
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
        # wash-sale state (plain Python; see the module docstring)
        self.wash_log: list[tuple] = []
        self.closed_years: dict[int, list[float]] = {}   # year -> [short, long, carry_in_short, carry_in_long, tax]
        self.wash_pool: dict[str, list[list]] = {}       # group -> purchases that may replace a later loss:
        #   [day, purchase_id, asset, kind, unused_shares] (kind "lot": shares read off the lot)
        self.open_losses: dict[str, list[list]] = {}     # group -> loss sales a later buy may still wash:
        #   [sale_day, asset, lot_id, bought_lot_id, shares_left, loss_per_share, long_term, holding_days]
        self.external_buys: list[tuple] = []              # (day, asset, purchase_id, shares, kind)
        self.next_external = 0
        self.next_piece = 0
        self.overlay = None   # derivative positions (backtest.derivatives.AccountOverlay), cash shared with this ledger

    # -- trading -------------------------------------------------------------------------
    def buy(self, i: int, shares: float, price: float, date) -> str:
        """Open a lot of ``shares`` at ``price`` (basis per share, dollars); cash is not touched.

        The new shares first replace open losses of the asset's wash group sold within the
        wash-sale window before ``date`` (see the module docstring); the rest may replace
        a later loss sale.
        """
        if not shares > 0:
            raise InputError("buy.shares", f"is {shares!r}; a buy needs a positive number of shares",
                             asset=self.assets[i])
        lot_id = f"L{self.next_lot:07d}"
        self.next_lot += 1
        today = day_number(date)
        lot = [lot_id, float(shares), float(price), today, lot_id, True]
        self.lots[i].append(lot)
        self.shares[i] += shares
        self.last_buy_day[self.assets[i]] = today
        self.buy_log.append((today, self.assets[i], lot_id, float(shares), float(price)))
        entry = [today, lot_id, self.assets[i], "lot", 0.0]
        self._replace_open_losses(entry, today)
        self._pool(self._group(self.assets[i]), today).append(entry)
        return lot_id

    def record_external_buy(self, asset: str, shares: float, date, *, tax_exempt: bool) -> str:
        """Book a purchase of ``shares`` of ``asset`` in another account of the household.

        It replaces loss sales of this account like a buy here (see the module docstring),
        but no lot opens here and its basis is the other account's: a taxable account's
        purchase defers the disallowed loss to that account's lot (logged as kind
        ``"external"``); a tax-exempt or tax-deferred one (``tax_exempt=True``: IRA, 401k,
        Roth) disallows it for good (kind ``"exempt"``). ``asset`` need not be traded here.
        Returns the purchase id (``X<n>``).
        """
        if not shares > 0:
            raise InputError("record_external_buy.shares", f"is {shares!r}; a buy needs a positive number of shares",
                             asset=str(asset))
        purchase_id = f"X{self.next_external:07d}"
        self.next_external += 1
        today = day_number(date)
        kind = "exempt" if tax_exempt else "external"
        self.external_buys.append((today, str(asset), purchase_id, float(shares), kind))
        entry = [today, purchase_id, str(asset), kind, float(shares)]
        self._replace_open_losses(entry, today)
        if entry[4] > DUST_SHARES:
            self._pool(self._group(str(asset)), today).append(entry)
        return purchase_id

    def sell(self, i: int, shares: float, price: float, date,
             specific: dict[str, float] | None = None) -> tuple[float, float]:
        """Relieve ``shares`` of asset ``i`` at ``price``; return recognized (short, long) gains, dollars.

        ``specific`` maps lot id -> shares to sell from that lot first, in the order given,
        each capped by the lot and by what is left of the sale; the remainder goes by the
        ledger's relief method. A lot whose remainder would be worth less than
        :data:`DUST_USD` (or hold under :data:`DUST_SHARES`) is relieved entirely, so the
        shares sold may exceed ``shares`` by such dust. Cash is not touched. Loss lots are
        matched to replacement shares bought before (wash sales); the gains returned are
        net of the losses this disallows now (a later buy may still disallow more).
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
        losses = []
        for lot, want in plan:
            if remaining <= DUST_SHARES:
                break
            take = min(want, lot[1], remaining)
            if take <= 0:
                continue
            s, l_, taken, loss = self._relieve(i, lot, take, price, today)
            short += s
            long += l_
            remaining -= taken
            if loss is not None:
                losses.append(loss)
        self.lots[i] = [lot for lot in lots if lot[1] > 0]
        self.shares[i] = sum(lot[1] for lot in self.lots[i])
        before = (self.total_short_usd + short, self.total_long_usd + long)
        self._realize(short, long, today)
        for loss in losses:
            self._wash_loss(loss, today)
        return short + self.total_short_usd - before[0], long + self.total_long_usd - before[1]

    def _named(self, i: int, specific: dict[str, float] | None, by_id: dict) -> list[tuple[str, float]]:
        """The named lots of a sale, checked to exist."""
        for lot_id in specific or {}:
            if str(lot_id) not in by_id:
                raise InputError("lot_sales", "names a lot the ledger does not hold", asset=self.assets[i],
                                 lot=str(lot_id))
        return list((specific or {}).items())

    def _relieve(self, i: int, lot: list, take: float, price: float,
                 today: int) -> tuple[float, float, float, list | None]:
        """Relieve ``take`` shares of ``lot`` (all of it if the rest would be dust); log it.

        A relief losing more than :data:`LOSS_USD` on the shares asked for (dust added
        to close the lot does not count) is a loss sale of the asset for the wash-sale
        rule. Returns (short, long) realized gain (dollars), the shares relieved, and for
        a loss sale its open-loss record (see ``open_losses``), else ``None``.
        """
        wanted_gain = take * (price - lot[2])
        rest = lot[1] - take
        if rest * price < DUST_USD or rest < DUST_SHARES:
            take = lot[1]
        gain = take * (price - lot[2])
        lot[1] -= take
        held_days = today - lot[3]
        long_term = held_days > self.tax.long_term_days
        asset = self.assets[i]
        self.relief_log.append((today, asset, lot[0], float(take), float(price), lot[2], lot[3], float(gain),
                                bool(long_term), lot[4]))
        loss = None
        if wanted_gain < -LOSS_USD:
            self.last_loss_sale[asset] = pd.Timestamp(np.datetime64(today, "D"))
            loss = [today, asset, lot[0], lot[4], float(take), float(lot[2] - price), bool(long_term), held_days]
        return (0.0, gain, take, loss) if long_term else (gain, 0.0, take, loss)

    # -- wash sales ----------------------------------------------------------------------
    def _group(self, asset: str) -> str:
        return self.tax.wash_group(asset)

    def _wash_loss(self, loss: list, today: int) -> None:
        """Match a loss sale booked ``today`` to earlier replacement shares; keep the rest open."""
        group = self._group(loss[1])
        window = self.tax.wash_sale_days
        for entry in sorted(self._pool(group, today), key=lambda e: e[0]):   # stable: same day in booking order
            if loss[4] <= DUST_SHARES:
                break
            if entry[0] - today > window or entry[1] == loss[3]:
                continue
            self._match(loss, entry, today)
        if loss[4] > DUST_SHARES:
            still = [old for old in self.open_losses.get(group, []) if today - old[0] <= window]
            self.open_losses[group] = still + [loss]

    def _pool(self, group: str, today: int) -> list[list]:
        """The group's purchases that may still replace a loss sold ``today`` or later (older
        ones are dropped, which keeps the pickled state small)."""
        pool = [e for e in self.wash_pool.get(group, []) if today - e[0] <= self.tax.wash_sale_days]
        self.wash_pool[group] = pool
        return pool

    def _replace_open_losses(self, entry: list, today: int) -> None:
        """Let a purchase booked ``today`` replace open losses of its group sold within the window."""
        group = self._group(entry[2])
        window = self.tax.wash_sale_days
        losses = [loss for loss in self.open_losses.get(group, [])
                  if today - loss[0] <= window and loss[4] > DUST_SHARES]
        for loss in losses:
            if abs(today - loss[0]) > window or entry[1] == loss[3]:
                continue
            self._match(loss, entry, today)
        self.open_losses[group] = [loss for loss in losses if loss[4] > DUST_SHARES]

    def _match(self, loss: list, entry: list, today: int) -> None:
        """Let the purchase ``entry`` replace as many of ``loss``'s shares as it can; book it."""
        if entry[3] == "lot":
            i = self.index[entry[2]]
            lot = next((lot for lot in self.lots[i] if lot[0] == entry[1] and lot[5] and lot[1] > 0), None)
            if lot is None:                                      # sold (or already a replacement): none left
                return
            shares = min(lot[1], loss[4])
            replacement = self._adjust_lot(i, lot, shares, shares * loss[5], loss[7])
        else:
            shares = min(entry[4], loss[4])
            if shares <= DUST_SHARES:
                return
            entry[4] -= shares
            replacement = entry[1]
        usd = shares * loss[5]
        loss[4] -= shares
        self._disallow(loss[0], loss[6], usd)
        self.wash_log.append((loss[0], loss[1], loss[2], float(shares), float(usd), loss[6], entry[2], replacement,
                              entry[0], entry[3], today))

    def _adjust_lot(self, i: int, lot: list, shares: float, usd: float, holding_days: int) -> str:
        """Add ``usd`` of disallowed loss to ``shares`` of ``lot`` and carry ``holding_days`` over.

        All of the lot when the rest would be dust, else the shares are split off as a new
        lot. Returns the id of the lot that carries the adjustment.
        """
        rest = lot[1] - shares
        if rest < DUST_SHARES or rest * lot[2] < DUST_USD:
            lot[2] += usd / lot[1]
            lot[3] -= holding_days
            lot[5] = False
            return lot[0]
        piece_id = f"{lot[4]}w{self.next_piece}"
        self.next_piece += 1
        lot[1] = rest
        piece = [piece_id, float(shares), lot[2] + usd / shares, lot[3] - holding_days, lot[4], False]
        lots = self.lots[i]
        lots.insert(lots.index(lot) + 1, piece)
        return piece_id

    def _disallow(self, sale_day: int, long_term: bool, usd: float) -> None:
        """Take ``usd`` of loss back out of the realized gains of the sale's term and tax year."""
        d_short, d_long = (0.0, usd) if long_term else (usd, 0.0)
        self.total_short_usd += d_short
        self.total_long_usd += d_long
        year = _year(sale_day)
        if year == self.tax_year:
            self.year_short_usd += d_short
            self.year_long_usd += d_long
        else:
            self._restate(year, d_short, d_long)

    def _restate(self, year: int, d_short: float, d_long: float) -> None:
        """Correct closed tax year ``year`` by (short, long) gains; re-net it and later closed years.

        Each restated year's change in tax becomes due (settled with the next
        :meth:`settle_tax`), and the carry into the current tax year is replaced.
        """
        if year not in self.closed_years:
            raise InputError("wash_sale", f"corrects tax year {year}, which the ledger never booked")
        record = self.closed_years[year]
        record[0] += d_short
        record[1] += d_long
        carry = (record[2], record[3])
        for y in sorted(y for y in self.closed_years if y >= year):
            record = self.closed_years[y]
            record[2], record[3] = carry
            outcome = net_tax(record[0], record[1], self.tax, record[2], record[3])
            self.tax_due_usd += outcome.tax_usd - record[4]
            record[4] = outcome.tax_usd
            carry = (outcome.carry_short_usd, outcome.carry_long_usd)
        self.carry_short_usd, self.carry_long_usd = carry

    def recent_buys(self, date, days: int) -> pd.DataFrame:
        """Buys (held or already sold) within ``days`` calendar days up to ``date``, oldest first.

        Columns ``asset, lot_id, acquired`` (the purchase date), as
        :attr:`optimizer.model.Portfolio.recent_buys` takes them: one row per buy of this
        account (``lot_id`` the lot it opened; lots split off it by a wash sale are not
        listed) and one per purchase booked by :meth:`record_external_buy` (``lot_id``
        empty: no lot here).
        """
        asset, lot_id, day = self.recent_buy_arrays(date, days)
        return pd.DataFrame({"asset": asset, "lot_id": lot_id, "acquired": day.astype("datetime64[us]")})

    def recent_buy_arrays(self, date, days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`recent_buys` as arrays, no DataFrame built: asset names and lot ids (object)
        and purchase dates (datetime64[D]), oldest first."""
        today = day_number(date)
        rows = [(asset, lot_id, day) for day, asset, lot_id, _, _ in self.buy_log if 0 <= today - day <= days]
        rows += [(asset, "", day) for day, asset, _, _, _ in self.external_buys if 0 <= today - day <= days]
        rows.sort(key=lambda row: row[2])
        asset, lot_id, day = zip(*rows) if rows else ((), (), ())
        return np.array(asset, dtype=object), np.array(lot_id, dtype=object), np.array(day, dtype="datetime64[D]")

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
        year = _year(today)
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
        """End ``tax_year``: its unsettled tax becomes due, its losses carry forward.

        The year's amounts are kept in ``closed_years`` so a wash sale found later can
        restate it (:meth:`_restate`).
        """
        outcome = self.year_outcome()
        self.closed_years[self.tax_year] = [self.year_short_usd, self.year_long_usd, self.carry_short_usd,
                                            self.carry_long_usd, outcome.tax_usd]
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
            for _, shares, basis, day, _, _ in lots:
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
                for i, lots in enumerate(self.lots) for lot_id, shares, basis, day, _, _ in lots]
        frame = pd.DataFrame(rows, columns=["lot_id", "asset", "quantity", "cost_basis", "acquired"])
        frame["acquired"] = pd.to_datetime(frame["acquired"].astype("int64"), unit="D")
        return frame

    def lot_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Open lots as arrays, in :meth:`lots_frame`'s order (asset by asset): ``lot_id``
        (object), the asset's position in ``assets``, shares, basis per share (dollars) and
        the acquisition date (datetime64[ns]); no DataFrame built."""
        rows = [(lot[0], i, lot[1], lot[2], lot[3]) for i, lots in enumerate(self.lots) for lot in lots]
        if not rows:
            return (np.zeros(0, dtype=object), np.zeros(0, dtype=int), np.zeros(0), np.zeros(0),
                    np.zeros(0, dtype="datetime64[ns]"))
        lot_id, asset, shares, basis, day = zip(*rows)
        return (np.array(lot_id, dtype=object), np.array(asset, dtype=int), np.array(shares, dtype=float),
                np.array(basis, dtype=float), np.array(day, dtype="datetime64[D]").astype("datetime64[ns]"))

    def buys_frame(self) -> pd.DataFrame:
        """Every buy: ``date, asset, lot_id, shares, price`` (price per share, dollars)."""
        frame = pd.DataFrame(self.buy_log, columns=BUY_COLUMNS)
        frame["date"] = _dates(frame["date"])
        return frame

    def reliefs_frame(self) -> pd.DataFrame:
        """Every lot relief: ``date, asset, lot_id, shares, price, basis, acquired, gain_usd, long_term,
        bought_lot_id`` (``gain_usd`` as booked, before any wash-sale disallowance; ``acquired`` the
        holding-period start; ``bought_lot_id`` the buy that opened the lot)."""
        frame = pd.DataFrame(self.relief_log, columns=RELIEF_COLUMNS)
        frame["date"] = _dates(frame["date"])
        frame["acquired"] = _dates(frame["acquired"])
        frame["long_term"] = frame["long_term"].astype(bool)
        return frame

    def wash_sales_frame(self) -> pd.DataFrame:
        """Every wash-sale disallowance, one row per (loss relief, replacement purchase) match.

        Columns: ``date`` of the loss sale, ``asset``, ``lot_id`` sold, ``shares`` of the
        loss matched, ``disallowed_usd`` (positive dollars), ``long_term`` (the loss's
        term), ``replacement_asset``, ``replacement_lot_id`` (the lot here that carries the
        disallowed loss in its basis, or the external purchase id), ``replacement_bought``
        (purchase date), ``kind`` (:data:`WASH_KINDS`: ``"lot"``, ``"external"`` deferred
        to another taxable account, ``"exempt"`` lost for good) and ``booked`` (the date the
        disallowance was booked: the sale's, or the later buy's).
        """
        frame = pd.DataFrame(self.wash_log, columns=WASH_COLUMNS)
        for column in ("date", "replacement_bought", "booked"):
            frame[column] = _dates(frame[column])
        frame["long_term"] = frame["long_term"].astype(bool)
        frame["disallowed_usd"] = frame["disallowed_usd"].astype(float)
        return frame

    def disallowed_loss_usd(self) -> float:
        """Total loss disallowed by wash sales so far (positive dollars)."""
        return float(sum(row[4] for row in self.wash_log))

    def lot_counts(self) -> np.ndarray:
        return np.array([len(lots) for lots in self.lots])


def _year(day: int) -> int:
    """Calendar year of a :func:`day_number`."""
    return int(str(np.datetime64(day, "D").astype("datetime64[Y]")))


def _dates(days: pd.Series) -> pd.Series:
    return pd.to_datetime(days.astype("int64"), unit="D")
