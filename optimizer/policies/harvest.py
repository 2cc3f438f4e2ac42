"""Rule-based tax-loss harvesting, as direct-indexing platforms run it.

:class:`LossHarvester` is a heuristic policy with two layers:

* **Harvesting**, on its monitoring dates (``every``, weekly by default). A lot is a
  harvest candidate when its price is at least ``min_loss_pct`` below its basis, it loses
  at least ``min_loss_usd`` dollars and it has been held at least ``min_holding_days``
  calendar days. The candidate lots of an asset are sold together (named lots) and the
  proceeds buy the asset's *substitute*: the asset whose trailing daily returns
  (``correlation_days``) are most correlated with it, outside its wash-sale group
  (:meth:`optimizer.TaxRules.wash_group`), not itself in a swap, not harvested that day,
  and free to buy (no loss sale in its group within ``wash_sale_days``). An asset bought
  within ``wash_sale_days`` (any asset of its group) is not harvested: that loss would
  be a wash sale.
* **Swap back**: from ``swap_back_days`` (31) calendar days after the harvest, on a
  monitoring date, the substitute is sold back to its own target and the original bought
  back to its own (``swap_back="always"``, what platforms do), or only when that sale
  realizes no net gain (``swap_back="if_pays"``; otherwise the swap stays and is looked at
  again on the next monitoring date).
* **Bands**, underneath, on every ``check`` date: a threshold rebalance (like
  :class:`optimizer.policies.Threshold` with ``trade_to="target"``) to the *effective*
  target: during a swap the original keeps what it still holds (it is neither bought,
  inside the wash-sale window, nor sold) and its substitute takes the rest of the
  original's target weight. Sales relieve lots highest basis first (HIFO).

Lots are read off ``Ledger.lots`` (each starts ``[lot_id, shares, basis per share,
acquisition day]``). Every trade goes through the same wash-sale guard, which reads the
ledger's buy and loss-sale history (``Ledger.recent_buy_days``, ``Ledger.last_loss_sale``) plus the
policy's own loss sales, by wash-sale group:

* no buy of a group with a loss sale within ``wash_sale_days`` calendar days (or today);
* no loss lot of a group bought within ``wash_sale_days`` (or today) is sold: such a sale
  relieves only lots at no loss, highest basis first.

Sales name their lots exactly (``Orders.lot_sales``) and the sale amount is the value of
the named shares, so the simulator relieves nothing else. Trades below ``min_trade_usd``
are not made; with ``whole_shares`` buys and partial lot sales are rounded down to whole
shares (a lot sold entirely goes with all its shares).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.model import TaxRules
from optimizer.policies.bands import Bands
from optimizer.policies.base import Orders, Policy, Schedule, State
from optimizer.policies.heuristics import outside

SWAP_BACK = ("always", "if_pays")
#: With whole shares, buys leave this fraction of the traded value in cash for costs.
COST_RESERVE = 0.005
#: Fewest trailing returns a correlation is computed from.
MIN_CORRELATION_RETURNS = 20


def _day_number(date: pd.Timestamp) -> int:
    """Days since 1970-01-01, the ledger's day count."""
    return int(np.datetime64(pd.Timestamp(date).date(), "D").astype(np.int64))


class LossHarvester(Policy):
    """Harvest losses into correlated substitutes, swap back after the wash-sale window,
    and keep the book inside tolerance bands.

    Parameters
    ----------
    target:
        Target weights per asset (NAV fractions; the rest is cash).
    tax:
        Wash-sale window (``wash_sale_days``) and groups of substantially identical
        securities (``identical_groups``); rates are the ledger's business.
    bands:
        Tolerance bands around the effective target (default 20% relative).
    check:
        How often the bands are looked at (``"D"``: every date).
    every:
        Monitoring frequency of harvests and swap-backs (``"W"``: last date of each week).
    min_loss_pct:
        A lot is harvested only if its price is at least this fraction below its basis.
    min_loss_usd:
        ... and it loses at least this many dollars.
    min_holding_days:
        ... and it has been held at least this many calendar days.
    correlation_days:
        Trailing returns (periods of the data) the substitute's correlation is taken over.
    swap_back:
        ``"always"`` or ``"if_pays"`` (only when the substitute's sale realizes no net gain).
    swap_back_days:
        Calendar days after a harvest before the swap back (31: outside the window).
    min_trade_usd:
        No trade smaller than this many dollars is made.
    whole_shares:
        Round buys and partial lot sales down to whole shares.
    name:
        Row name in reports.
    """

    def __init__(self, target, *, tax: TaxRules = TaxRules(), bands: Bands = Bands.relative_to_target(0.20),
                 check: str = "D", every: str = "W", min_loss_pct: float = 0.05, min_loss_usd: float = 250.0,
                 min_holding_days: int = 31, correlation_days: int = 252, swap_back: str = "always",
                 swap_back_days: int = 31, min_trade_usd: float = 100.0, whole_shares: bool = False,
                 name: str | None = None):
        super().__init__(target)
        if not 0.0 <= min_loss_pct < 1.0:
            raise InputError("min_loss_pct", f"is {min_loss_pct!r}; a fraction of the basis in [0, 1)")
        for field, value in (("min_loss_usd", min_loss_usd), ("min_holding_days", min_holding_days),
                             ("min_trade_usd", min_trade_usd)):
            if not (np.isfinite(value) and value >= 0):
                raise InputError(field, f"is {value!r}; it must be a non-negative number")
        if swap_back not in SWAP_BACK:
            raise InputError("swap_back", f"is {swap_back!r}; use one of {SWAP_BACK}")
        if swap_back_days <= tax.wash_sale_days:
            raise InputError("swap_back_days", f"is {swap_back_days!r}; it must exceed the wash-sale window "
                                               f"of {tax.wash_sale_days} days")
        if correlation_days < MIN_CORRELATION_RETURNS:
            raise InputError("correlation_days", f"is {correlation_days!r}; at least {MIN_CORRELATION_RETURNS}")
        self.tax = tax
        self.bands = bands
        self.band_schedule = Schedule(check)
        self.harvest_schedule = Schedule(every)
        self.min_loss_pct = float(min_loss_pct)
        self.min_loss_usd = float(min_loss_usd)
        self.min_holding_days = int(min_holding_days)
        self.correlation_days = int(correlation_days)
        self.swap_back = swap_back
        self.swap_back_days = int(swap_back_days)
        self.min_trade_usd = float(min_trade_usd)
        self.whole_shares = bool(whole_shares)
        self.name = name or f"loss_harvester_{min_loss_pct:g}_{every}"
        # run state: active swaps {original: (substitute, harvest day)}, own loss sales {group: day}
        self.swaps_: dict[str, tuple[str, int]] = {}
        self.loss_days_: dict[str, int] = {}
        self.harvests_ = 0
        self.swap_backs_ = 0

    def start(self, assets: tuple[str, ...]) -> None:
        super().start(assets)
        self._assets = list(assets)
        self._index = {a: i for i, a in enumerate(assets)}
        self._groups = [self.tax.wash_group(a) for a in assets]
        self.swaps_, self.loss_days_ = {}, {}
        self.harvests_ = self.swap_backs_ = 0

    # -- one decision ------------------------------------------------------------------
    def decide(self, date: pd.Timestamp, state: State) -> Orders | None:
        band_due = self.band_schedule.due(date, state.next_date)
        harvest_due = self.harvest_schedule.due(date, state.next_date)
        if not (band_due or harvest_due):
            return None
        today = _day_number(date)
        self._loss_group_days = self._recent_loss_groups(state)
        self._bought_groups = {self.tax.wash_group(asset)
                               for asset in state.ledger.recent_buy_days(date, self.tax.wash_sale_days)}
        trade = np.zeros(len(self._assets))
        named: dict[str, dict[str, float]] = {}
        busy: set[str] = set()       # assets whose position a swap or harvest set today
        if harvest_due:
            self._swap_back(today, state, trade, busy)
            self._harvest(today, state, trade, named, busy)
        self._rebalance(state, trade, busy)
        return self._orders(today, state, trade, named)

    # -- swaps -------------------------------------------------------------------------
    def _swap_back(self, today: int, state: State, trade: np.ndarray, busy: set[str]) -> None:
        """End the swaps at least ``swap_back_days`` old: substitute to its target, original to its."""
        nav, prices = state.nav_usd, state.prices
        for original, (substitute, day) in list(self.swaps_.items()):
            if today - day < self.swap_back_days:
                continue
            i, j = self._index[original], self._index[substitute]
            if self._buy_blocked(i, today, state):
                continue
            sell_usd = max(state.holdings_usd[j] - self._target[j] * nav, 0.0)
            if self.swap_back == "if_pays" and sell_usd > 0:
                lots = self._sale_lots(j, sell_usd / prices[j], prices[j], today, state)
                if sum(shares * (prices[j] - basis) for shares, basis in lots.values()) > 0:
                    continue
            trade[j] -= sell_usd
            trade[i] += max(self._target[i] * nav - state.holdings_usd[i], 0.0)
            del self.swaps_[original]
            busy.update((original, substitute))
            self.swap_backs_ += 1

    def _harvest(self, today: int, state: State, trade: np.ndarray, named: dict, busy: set[str]) -> None:
        """Sell the loss lots past the thresholds; buy each asset's most correlated substitute."""
        in_swap = set(self.swaps_) | {s for s, _ in self.swaps_.values()}
        candidates = {}
        for i, asset in enumerate(self._assets):
            if asset in in_swap or asset in busy or self._bought_recently(i, today, state):
                continue
            lots = self._harvest_lots(i, today, state)
            if lots:
                candidates[asset] = lots
        if not candidates:
            return
        correlation = self._correlation(state)
        if correlation is None:
            return
        loss = {a: sum(shares * (basis - state.prices[self._index[a]]) for shares, basis in lots.values())
                for a, lots in candidates.items()}
        taken = in_swap | busy | set(candidates)
        for asset in sorted(candidates, key=lambda a: -loss[a]):
            i = self._index[asset]
            substitute = self._substitute(i, correlation, taken, today, state)
            if substitute is None:
                continue
            lots = candidates[asset]
            value = state.prices[i] * sum(shares for shares, _ in lots.values())
            named[asset] = {lot_id: shares for lot_id, (shares, _) in lots.items()}
            trade[i] -= value
            trade[substitute] += value
            self.swaps_[asset] = (self._assets[substitute], today)
            taken.add(self._assets[substitute])
            busy.update((asset, self._assets[substitute]))
            self.harvests_ += 1

    def _harvest_lots(self, i: int, today: int, state: State) -> dict[str, tuple[float, float]]:
        """``{lot_id: (shares, basis)}`` of asset ``i``'s lots past every harvest threshold."""
        price = state.prices[i]
        out = {}
        for lot_id, shares, basis, day in (lot[:4] for lot in state.ledger.lots[i]):
            if (price <= basis * (1.0 - self.min_loss_pct) and shares * (basis - price) >= self.min_loss_usd
                    and today - day >= self.min_holding_days and shares * (basis - price) > 0):
                out[lot_id] = (shares, basis)
        return out

    def _correlation(self, state: State) -> np.ndarray | None:
        """Correlation of trailing daily returns (None: too little history)."""
        history = state.history[-(self.correlation_days + 1):]
        if len(history) < MIN_CORRELATION_RETURNS + 1:
            return None
        returns = history[1:] / history[:-1] - 1.0
        with np.errstate(invalid="ignore", divide="ignore"):
            correlation = np.corrcoef(returns, rowvar=False)
        return np.nan_to_num(np.atleast_2d(correlation), nan=-np.inf)

    def _substitute(self, i: int, correlation: np.ndarray, taken: set[str], today: int, state: State) -> int | None:
        """The most correlated asset that may replace asset ``i`` today (None: none may)."""
        group = self._groups[i]
        for j in np.argsort(-correlation[i], kind="stable"):
            asset = self._assets[j]
            if j == i or self._groups[j] == group or asset in taken or not np.isfinite(correlation[i, j]):
                continue
            if self._buy_blocked(j, today, state):
                continue
            return int(j)
        return None

    # -- bands -------------------------------------------------------------------------
    def effective_target(self, holdings_usd: np.ndarray, nav_usd: float) -> tuple[np.ndarray, np.ndarray]:
        """Target weights with each swap applied, and the mask of frozen originals.

        An original in a swap keeps its current weight; its substitute takes the rest of the
        original's target (never less than its own target).
        """
        target = self._target.copy()
        frozen = np.zeros(len(target), dtype=bool)
        for original, (substitute, _) in self.swaps_.items():
            i, j = self._index[original], self._index[substitute]
            held = holdings_usd[i] / nav_usd
            target[j] += max(self._target[i] - held, 0.0)
            target[i] = held
            frozen[i] = True
        return target, frozen

    def _rebalance(self, state: State, trade: np.ndarray, busy: set[str]) -> None:
        """If an asset (after today's swaps) is outside its band, trade all back to the effective target."""
        nav = state.nav_usd
        after = state.holdings_usd + trade
        target, frozen = self.effective_target(after, nav)
        lower, upper = self.bands.limits(target, tuple(self._assets))
        w = after / nav
        out = outside(w, lower, upper) & ~frozen
        if not out.any():
            return
        move = (target - w) * nav
        move[frozen] = 0.0
        trade += move

    # -- wash-sale guard and orders ----------------------------------------------------
    def _recent_loss_groups(self, state: State) -> dict[str, int]:
        """Latest loss-sale day per wash-sale group: the ledger's record and this policy's own."""
        days = dict(self.loss_days_)
        for asset, when in state.ledger.last_loss_sale.items():
            group = self.tax.wash_group(asset)
            days[group] = max(days.get(group, -10**9), _day_number(when))
        return days

    def _buy_blocked(self, i: int, today: int, state: State) -> bool:
        """True if buying asset ``i`` today would meet a loss sale of its group within the window
        (the ledger's loss sales and this policy's, today's included)."""
        group = self._groups[i]
        last = max(self._loss_group_days.get(group, -10**9), self.loss_days_.get(group, -10**9))
        return today - last <= self.tax.wash_sale_days

    def _bought_recently(self, i: int, today: int, state: State) -> bool:
        """True if any asset of asset ``i``'s group was bought within the window up to today."""
        return self._groups[i] in self._bought_groups

    def _sale_lots(self, i: int, shares: float, price: float, today: int, state: State,
                   bought: set[str] = frozenset()) -> dict[str, tuple[float, float]]:
        """``{lot_id: (shares, basis)}`` relieving up to ``shares`` of asset ``i``, highest basis
        first; only lots at no loss if its group was bought within the window (or today)."""
        no_loss = self._bought_recently(i, today, state) or self._groups[i] in bought
        lots = sorted(state.ledger.lots[i], key=lambda lot: -lot[2])
        out, left = {}, shares
        for lot_id, held, basis in (lot[:3] for lot in lots):
            if left <= 0:
                break
            if no_loss and basis > price:
                continue
            take = min(held, left)
            if self.whole_shares and take < held:
                take = float(np.floor(take))
            if take > 0:
                out[lot_id] = (take, basis)
                left -= take
        return out

    def _orders(self, today: int, state: State, trade: np.ndarray, named: dict) -> Orders | None:
        """Apply the minimum notional, whole shares and the wash-sale guard; name every lot sold."""
        prices = state.prices
        trade = np.where(np.abs(trade) < self.min_trade_usd, 0.0, trade)
        bought = {self._groups[i] for i in np.nonzero(trade > 0)[0]}
        lot_sales: dict[str, dict[str, float]] = {}
        for i in np.nonzero(trade < 0)[0]:
            asset = self._assets[i]
            if asset in named:
                lots = {lot_id: (shares, np.inf) for lot_id, shares in named[asset].items()}
            else:
                lots = self._sale_lots(i, -trade[i] / prices[i], prices[i], today, state, bought)
            shares = sum(s for s, _ in lots.values())
            if shares * prices[i] < self.min_trade_usd:
                trade[i] = 0.0
                continue
            if any(basis > prices[i] for _, basis in lots.values()):
                self.loss_days_[self._groups[i]] = today
            lot_sales[asset] = {lot_id: s for lot_id, (s, _) in lots.items()}
            trade[i] = -shares * prices[i]
        for i in np.nonzero(trade > 0)[0]:
            if self._buy_blocked(i, today, state):
                trade[i] = 0.0
        if self.whole_shares:
            self._whole_share_buys(state, trade)
        if not np.any(trade):
            return None
        return Orders(trade, lot_sales or None)

    def _whole_share_buys(self, state: State, trade: np.ndarray) -> None:
        """Round buys down to whole shares, first scaled to the cash the sales leave less
        :data:`COST_RESERVE` of the traded value (so the simulator never scales them again)."""
        buys = np.maximum(trade, 0.0)
        budget = state.cash_usd - trade[trade < 0].sum() - COST_RESERVE * np.abs(trade).sum()
        if buys.sum() > budget:
            buys *= max(budget, 0.0) / buys.sum()
        buys = np.floor(buys / state.prices) * state.prices
        buys[buys < self.min_trade_usd] = 0.0
        trade[trade > 0] = buys[trade > 0]

    # -- resume ------------------------------------------------------------------------
    def state_dict(self) -> dict:
        state = super().state_dict()
        state.update(swaps_=dict(self.swaps_), loss_days_=dict(self.loss_days_), harvests_=self.harvests_,
                     swap_backs_=self.swap_backs_)
        return state

    def load_state_dict(self, state: dict) -> None:
        state = dict(state)
        self.swaps_ = dict(state.pop("swaps_", {}))
        self.loss_days_ = dict(state.pop("loss_days_", {}))
        self.harvests_ = state.pop("harvests_", 0)
        self.swap_backs_ = state.pop("swap_backs_", 0)
        super().load_state_dict(state)
