"""The account's books during a backtest: tax lots, cash, realized gains and tax owed.

Every buy opens a lot (id, shares, cost basis per share, acquisition day). A sale relieves
lots named by the policy first (specific identification, as the optimizer policy does
through ``RebalanceResult.lot_sales``), then the rest by the ledger's method:
``"fifo"`` (oldest first) or ``"hifo"`` (highest basis first).

Realized gains are split short/long term with :class:`optimizer.TaxRules` (a lot held
more than ``long_term_days`` is long-term) and accumulate over a tax period. At the end
of a period, :meth:`Ledger.settle_tax` nets them the simple US way: losses offset gains
of the same term, then of the other term; a net loss carries forward (no annual cap, no
ordinary-income offset) to later periods, short-term first. Tax owed is paid from cash.
No wash-sale disallowance is applied by the ledger; the date of each asset's latest loss
sale is kept so a policy (the optimizer) can respect the rule itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.model import TaxRules

#: Shares below this count as none (floating dust after lot relief).
DUST_SHARES = 1e-10
#: A sale may exceed holdings by this fraction (rounding) and is then clipped; more raises.
OVERSELL_TOLERANCE = 1e-9

RELIEF_METHODS = ("fifo", "hifo")


def day_number(date) -> int:
    """Days since 1970-01-01 (integer) for fast holding-period arithmetic."""
    return int(np.datetime64(pd.Timestamp(date).date(), "D").astype(np.int64))


def net_tax(short_gain: float, long_gain: float, carry_loss: float, tax: TaxRules) -> tuple[float, float]:
    """Tax owed on one period's net gains and the loss carried forward, account currency.

    Parameters
    ----------
    short_gain, long_gain:
        Net realized gains of the period per term (negative = net loss).
    carry_loss:
        Loss carried in from earlier periods (>= 0).

    Returns
    -------
    (tax_usd, carry_out):
        Tax owed (>= 0) and the loss carried to the next period (>= 0).
    """
    if short_gain < 0 < long_gain:
        long_gain += short_gain
        short_gain = 0.0
    elif long_gain < 0 < short_gain:
        short_gain += long_gain
        long_gain = 0.0
    use = min(carry_loss, max(short_gain, 0.0))
    short_gain -= use
    carry_loss -= use
    use = min(carry_loss, max(long_gain, 0.0))
    long_gain -= use
    carry_loss -= use
    carry_loss += -min(short_gain, 0.0) - min(long_gain, 0.0)
    tax_usd = tax.short_term_rate * max(short_gain, 0.0) + tax.long_term_rate * max(long_gain, 0.0)
    return tax_usd, carry_loss


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
        self.period_short_usd = 0.0   # realized this tax period, net
        self.period_long_usd = 0.0
        self.carry_loss_usd = 0.0
        self.total_short_usd = 0.0    # realized over the whole run
        self.total_long_usd = 0.0
        self.tax_paid_usd = 0.0
        self.last_loss_sale: dict[str, pd.Timestamp] = {}

    # -- trading -------------------------------------------------------------------------
    def buy(self, i: int, shares: float, price: float, date) -> str:
        """Open a lot of ``shares`` at ``price`` (basis per share); cash is not touched."""
        if not shares > 0:
            raise InputError("buy.shares", f"is {shares!r}; a buy needs a positive number of shares",
                             asset=self.assets[i])
        lot_id = f"L{self.next_lot:07d}"
        self.next_lot += 1
        self.lots[i].append([lot_id, float(shares), float(price), day_number(date)])
        self.shares[i] += shares
        return lot_id

    def sell(self, i: int, shares: float, price: float, date,
             specific: dict[str, float] | None = None) -> tuple[float, float]:
        """Relieve ``shares`` of asset ``i`` at ``price``; return realized (short, long) gains.

        ``specific`` maps lot id -> shares to sell from that lot first; the remainder goes
        by the ledger's relief method. Cash is not touched.
        """
        asset = self.assets[i]
        held = self.shares[i]
        if shares > held * (1 + OVERSELL_TOLERANCE) + DUST_SHARES:
            raise InputError("sell.shares", f"sells {shares:g} shares but only {held:g} are held", asset=asset)
        shares = min(shares, held)
        today = day_number(date)
        lots = self.lots[i]
        short = long = 0.0
        remaining = shares

        def take_from(lot: list, want: float) -> None:
            nonlocal short, long, remaining
            take = min(want, lot[1], remaining)
            if take > 0:
                s, l_ = self._relieve(lot, take, price, today)
                short += s
                long += l_
                remaining -= take

        if specific:
            by_id = {lot[0]: lot for lot in lots}
            for lot_id, want in specific.items():
                lot = by_id.get(str(lot_id))
                if lot is None:
                    raise InputError("lot_sales", "names a lot the ledger does not hold", asset=asset, lot=str(lot_id))
                take_from(lot, float(want))
        if remaining > DUST_SHARES:
            order = lots if self.relief == "fifo" else sorted(lots, key=lambda lot: -lot[2])
            for lot in order:
                if remaining <= DUST_SHARES:
                    break
                take_from(lot, lot[1])
        self.lots[i] = [lot for lot in lots if lot[1] > DUST_SHARES]
        self.shares[i] = sum(lot[1] for lot in self.lots[i])
        self.period_short_usd += short
        self.period_long_usd += long
        self.total_short_usd += short
        self.total_long_usd += long
        if short + long < 0:
            self.last_loss_sale[asset] = pd.Timestamp(date)
        return short, long

    def _relieve(self, lot: list, take: float, price: float, today: int) -> tuple[float, float]:
        gain = take * (price - lot[2])
        lot[1] -= take
        if today - lot[3] > self.tax.long_term_days:
            return 0.0, gain
        return gain, 0.0

    # -- tax -----------------------------------------------------------------------------
    def settle_tax(self) -> float:
        """Close the tax period: pay what is owed from cash, carry any net loss; return tax paid."""
        owed, self.carry_loss_usd = net_tax(self.period_short_usd, self.period_long_usd, self.carry_loss_usd, self.tax)
        self.period_short_usd = self.period_long_usd = 0.0
        self.cash_usd -= owed
        self.tax_paid_usd += owed
        return owed

    def unrealized_usd(self, prices: np.ndarray, date) -> tuple[float, float]:
        """Unrealized (short, long) gains of all lots at ``prices``."""
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
        """Tax owed if every lot were sold at ``prices`` today and the period closed (>= 0)."""
        short, long = self.unrealized_usd(prices, date)
        owed, _ = net_tax(self.period_short_usd + short, self.period_long_usd + long, self.carry_loss_usd, self.tax)
        return owed

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

    def lot_counts(self) -> np.ndarray:
        return np.array([len(lots) for lots in self.lots])
