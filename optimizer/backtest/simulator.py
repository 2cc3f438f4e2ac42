"""Step a policy through a real price history with lot, cash, cost and tax accounting.

Prices are **total-return** price indices (dates x assets), so no dividends are booked:
income is already in the price. The simulator runs at the data's frequency (daily or
monthly); on each date, in this order:

1. mark to market; idle cash earns the cash index's return (``cash_index``, e.g. the
   ``CASH`` column of :func:`optimizer.datasets.multi_asset_daily`; none: 0%); with an
   overlay (``BacktestConfig.overlay``) futures settle variation margin into cash, roll,
   options expire and swaps are marked and reset (:mod:`optimizer.backtest.derivatives`);
2. book the scheduled cash flow (``flows``: + contribution, - withdrawal);
3. on the first date of a new tax period, settle the previous period's tax from cash;
   with an overlay, check margin: below maintenance a margin call is met at once
   (``overlay.margin_call_action``: forced sale of the asset furthest above target, or
   closing the overlay pro rata first);
4. ask the policy; fill its orders at today's prices (each trade first capped at
   ``participation * ADV`` when set), sales before buys, charging
   spread, commission and impact with :func:`optimizer.backtest.costs.price_trade`
   (the same model the optimizer prices) through :func:`optimizer.backtest.fills.fill_trade`,
   the fill path every simulator shares; the net trade per asset decides (a net sell
   relieves named lots first, then FIFO/HIFO; a net buy relieves nothing); every buy
   and lot relief is logged (``BacktestResult.buys``, ``lot_reliefs``); then its futures
   and swap orders; with an overlay, margin is checked again;
5. if cash would go negative: buys are scaled down first; what is still missing is
   raised by forced sales (pro rata over what each asset can sell without a wash sale,
   gains before losses), recorded as a *forced* event (``on_shortfall="fund"``), or
   :class:`CashShortfallError` is raised (``on_shortfall="raise"``). Cash is never
   silently negative.

The account's daily bookkeeping (opening book, cash growth, tax-period dates, marking,
forced sales) is :mod:`optimizer.backtest.book`, shared with the household backtest.

Runs are deterministic. With ``checkpoint_path`` the state is pickled every
``checkpoint_every`` dates and a later call with the same path resumes from it,
producing exactly the numbers of an uninterrupted run. Checkpoints are sealed with a
version and an HMAC-SHA256 under a per-user key (:func:`checkpoint_key`) and verified
before anything is unpickled: a planted or altered file is refused, never loaded.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.backtest.book import (TAX_SCHEDULES, begin_day, book_value, cash_growth_factors, fund_shortfall,
                                     open_book, sales_avoiding_wash, tax_period_starts)
from optimizer.backtest.costs import CostModel, price_trade, trailing_volatility
from optimizer.backtest.data import align_series, check_prices
from optimizer.backtest.derivatives import OverlayConfig, OverlayDesk, OverlayMarket, OverlayRecords
from optimizer.backtest.errors import CashShortfallError, CheckpointError
from optimizer.backtest.fills import MIN_TRADE_USD, fill_trade
from optimizer.backtest.ledger import Ledger
from optimizer.backtest.result import BacktestResult
from optimizer.errors import InputError
from optimizer.model import TaxRules
from optimizer.policies.base import Orders, Policy, State, target_array

CHECKPOINT_VERSION = 4  # 3: sealed (magic, version, HMAC) before the pickle; 4: overlay and start


@dataclass(frozen=True)
class BacktestConfig:
    """Account rules of a backtest.

    Parameters
    ----------
    initial_usd:
        Starting NAV, account currency; invested at ``initial_weights`` on the first date
        without cost (the rest stays cash).
    tax:
        Capital-gains rates and holding period (:class:`optimizer.TaxRules`).
    relief:
        Lot relief for sales without named lots: ``"hifo"`` or ``"fifo"``.
    tax_schedule:
        When tax on net realized gains is paid from cash: ``"annual"`` (first date of each
        new year), ``"quarterly"``, ``"monthly"``, ``"immediate"`` (each date) or ``"never"``.
    costs:
        Trading cost model shared with the optimizer policy.
    on_shortfall:
        ``"fund"`` (scale buys, then sell pro rata) or ``"raise"``.
    fill:
        ``"none"``: a NaN price raises; ``"ffill"``: carry prices over gaps.
    participation:
        Largest policy trade per asset and date as a fraction of ``costs.adv_usd``
        (``None``: no cap). Sales that meet a margin call or a cash shortfall are forced
        and not capped.
    overlay:
        Derivatives the account may hold beside its lots (futures, total-return swaps,
        options; :class:`optimizer.backtest.derivatives.OverlayConfig`); the simulator then
        needs their pricing data (``Simulator(overlay_market=...)``).
    """

    initial_usd: float = 1_000_000.0
    tax: TaxRules = TaxRules()
    relief: str = "hifo"
    tax_schedule: str = "annual"
    costs: CostModel = field(default_factory=CostModel)
    on_shortfall: str = "fund"
    fill: str = "none"
    participation: float | None = None
    overlay: OverlayConfig | None = None

    def __post_init__(self) -> None:
        if not (np.isfinite(self.initial_usd) and self.initial_usd > 0):
            raise InputError("initial_usd", f"is {self.initial_usd!r}; it must be positive")
        if self.tax_schedule not in TAX_SCHEDULES:
            raise InputError("tax_schedule", f"is {self.tax_schedule!r}; use one of {list(TAX_SCHEDULES)}")
        if self.on_shortfall not in ("fund", "raise"):
            raise InputError("on_shortfall", f"is {self.on_shortfall!r}; use 'fund' or 'raise'")
        if self.participation is not None and not (np.isfinite(self.participation) and self.participation > 0):
            raise InputError("participation", f"is {self.participation!r}; it must be positive (or None)")


class Simulator:
    """A price history plus account rules; :meth:`run` backtests one policy on it.

    Parameters
    ----------
    prices:
        Total-return price index per asset (dates x assets), > 0, no gaps unless
        ``config.fill == "ffill"``.
    config:
        Account rules.
    cash_index:
        Total-return level of cash on the same calendar (every date present); idle cash
        earns its return. ``None``: cash earns nothing.
    flows:
        Scheduled cash flows, account currency, on dates of the calendar (+ in, - out).
    overlay_market:
        Pricing data of the overlay (:class:`optimizer.backtest.derivatives.OverlayMarket`);
        required with ``config.overlay``.
    start:
        First simulated date (default: the first date). Earlier dates are history only:
        they feed the trailing volatility and ``State.history``, and are not in the result.
    """

    def __init__(self, prices: pd.DataFrame, config: BacktestConfig = BacktestConfig(), *,
                 cash_index: pd.Series | None = None, flows: pd.Series | None = None,
                 overlay_market: OverlayMarket | None = None, start=None):
        frame = check_prices(prices, fill=config.fill)
        self.config = config
        self.calendar = frame.index
        self._dates = list(frame.index)    # Timestamps made once: indexing the calendar makes one per call
        self.assets = tuple(frame.columns)
        self.prices = frame.to_numpy()
        T = len(self.calendar)
        self.first = 0 if start is None else int(self.calendar.searchsorted(pd.Timestamp(start)))
        if start is not None and self.first >= T - 1:
            raise InputError("start", "leaves fewer than two simulated dates")
        self.cash_growth = cash_growth_factors(cash_index, self.calendar)
        self.flows = align_series(flows, self.calendar, "flows", fill_value=0.0)
        if self.flows is None:
            self.flows = np.zeros(T)
        self.volatility = trailing_volatility(self.prices, config.costs.vol_window)
        for array in (self.prices, self.volatility):      # policies get views; they must not write
            array.setflags(write=False)
        self.half_spread, self.commission, self.adv_usd = config.costs.arrays(list(self.assets))
        self.spread_scale, self.impact_scale = config.costs.stress_multipliers(self.calendar)  # ones unless stressed
        self.max_trade_usd = None if config.participation is None else config.participation * self.adv_usd
        simulated = T - self.first
        years = max((self.calendar[-1] - self.calendar[self.first]).days / 365.25, 1e-9)
        self.periods_per_year = (simulated - 1) / years if simulated > 1 else 252.0
        self.overlay: OverlayDesk | None = None
        if config.overlay is not None:
            if overlay_market is None:
                raise InputError("overlay_market", "is required when the account holds an overlay (config.overlay)")
            self.overlay = OverlayDesk(config.overlay, overlay_market, self.calendar, self.first, self.assets,
                                       self.prices)
        self.tax_period_start = tax_period_starts(self.calendar, config.tax_schedule)

    # -- pricing -------------------------------------------------------------------------
    def price(self, step: int, trade_usd: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Spread, commission, impact per asset of ``trade_usd`` filled on date ``step``."""
        return price_trade(trade_usd, self.half_spread * self.spread_scale[step], self.commission,
                           self.config.costs.impact_eta, self.volatility[step], self.adv_usd / self.impact_scale[step])

    # -- the run -------------------------------------------------------------------------
    def run(self, policy: Policy, initial_weights: pd.Series | dict | None = None, *,
            checkpoint_path: str | os.PathLike | None = None, checkpoint_every: int = 250,
            progress: bool = False) -> BacktestResult:
        """Backtest ``policy``; resume from ``checkpoint_path`` if it holds a matching checkpoint.

        ``initial_weights`` default to the policy's target.
        """
        weights = target_array(policy.target if initial_weights is None else initial_weights, self.assets,
                               "initial_weights")
        self._target = target_array(policy.target, self.assets)
        policy.start(self.assets)
        T, n = self.prices.shape
        fingerprint = self._fingerprint(policy, weights)
        path = Path(checkpoint_path) if checkpoint_path is not None else None
        if path is not None and path.exists():
            state = self._load(path, fingerprint)
            ledger, rec, start = state["ledger"], state["records"], state["next_step"]
            policy.load_state_dict(state["policy"])
        else:
            ledger = Ledger(list(self.assets), self.config.tax, self.config.relief)
            rec = _Records.empty(T, n)
            start = first = self.first
            open_book(ledger, weights, self.config.initial_usd, self.prices[first], self.calendar[first])
            if self.overlay is not None:
                self.overlay.open(ledger)
                rec.overlay = OverlayRecords.empty(T, n)

        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=T, initial=start, desc=policy.name, unit="date", leave=False)
        try:
            for k in range(start, T):
                self._step(k, policy, ledger, rec)
                if bar is not None:
                    bar.update(1)
                if path is not None and ((k + 1) % checkpoint_every == 0 or k == T - 1):
                    self._save(path, fingerprint, ledger, rec, k + 1, policy)
        finally:
            if bar is not None:
                bar.close()
        f = self.first
        if rec.overlay is not None:
            rec.overlay.margin_calls = list(ledger.overlay.margin_calls)
        return BacktestResult(
            policy=policy.name, calendar=self.calendar[f:], assets=self.assets, prices=self.prices[f:],
            target=self._target,
            cash_growth=self.cash_growth[f:], nav_usd=rec.nav[f:], cash_usd=rec.cash[f:],
            holdings_usd=rec.holdings[f:], traded_usd=rec.traded[f:], spread_usd=rec.spread[f:],
            commission_usd=rec.commission[f:], impact_usd=rec.impact[f:],
            tax_paid_usd=rec.tax[f:], flows_usd=self.flows[f:], events=rec.events[f:], forced=rec.forced[f:],
            decide_seconds=rec.decide_seconds[f:], step_seconds=rec.step_seconds[f:],
            realized_short_usd=ledger.total_short_usd, realized_long_usd=ledger.total_long_usd,
            liquidation_tax_usd=ledger.liquidation_tax_usd(self.prices[-1], self.calendar[-1]),
            periods_per_year=self.periods_per_year, final_lots=ledger.lots_frame(),
            buys=ledger.buys_frame(), lot_reliefs=ledger.reliefs_frame(), wash_sales=ledger.wash_sales_frame(),
            identical_groups=dict(self.config.tax.identical_groups),
            overlay=None if rec.overlay is None else rec.overlay.sliced(f),
        )

    def _step(self, k: int, policy: Policy, ledger: Ledger, rec: "_Records") -> None:
        started = time.perf_counter()
        date = self._dates[k]
        prices = self.prices[k]
        desk, book = self.overlay, getattr(ledger, "overlay", None)
        later = k > self.first
        flow = float(self.flows[k])
        rec.tax[k] = begin_day(ledger, cash_growth=self.cash_growth[k] if later else 1.0, flow_usd=flow,
                               settle_tax=later and bool(self.tax_period_start[k]),
                               after_growth=(lambda: desk.mark(k, book)) if later and desk is not None else None)
        view = None
        if desk is not None:
            option_value, option_delta = desk.option_marks(k, book)
            cash_low = ledger.cash_usd
            called = self._margin(k, ledger, rec)
        holdings, nav = book_value(ledger, prices)
        if desk is not None:
            nav += book.swap_value_usd() + option_value
            view = desk.view(k, book, option_value, option_delta)
            rec.overlay.exposure_open_usd[k] = holdings + view.exposure_usd
            rec.overlay.nav_open_usd[k] = nav
        if not nav > 0:
            raise CashShortfallError(date, nav, "net asset value is no longer positive (withdrawals exceed the book)")
        state = State(step=k, date=date, assets=self.assets, prices=prices, holdings_usd=holdings,
                      cash_usd=ledger.cash_usd, nav_usd=nav, flow_usd=flow, volatility=self.volatility[k],
                      history=self.prices[:k + 1], periods_per_year=self.periods_per_year, ledger=ledger,
                      next_date=self._dates[k + 1] if k + 1 < len(self._dates) else None,
                      costs=self.config.costs, max_trade_usd=self.max_trade_usd, overlay=view)
        decided = time.perf_counter()
        orders = policy.decide(date, state)
        decide_seconds = time.perf_counter() - decided
        if orders is not None:
            rec.events[k] = self._fill(k, orders, ledger, rec, scale_buys=True, capped=True)
            if orders.futures_contracts or orders.swap_notional_usd:
                if desk is None:
                    raise InputError("orders", "trade futures or swaps, but the account holds no overlay "
                                     "(BacktestConfig.overlay)")
                rec.events[k] |= desk.trade(k, book, orders.futures_contracts, orders.swap_notional_usd, view)
                rec.overlay.contracts_traded[k] = int(sum(abs(n) for n in (orders.futures_contracts or {}).values()))
        if desk is not None:
            cash_low = min(cash_low, ledger.cash_usd)
            called = self._margin(k, ledger, rec) or called   # the policy's own trades left cash short
        if ledger.cash_usd < -1e-9 * nav:
            if self.config.on_shortfall == "raise":
                raise CashShortfallError(date, ledger.cash_usd, "orders, taxes or withdrawals exceed cash")
            self._fund(k, ledger, rec)
        rec.holdings[k], rec.nav[k] = book_value(ledger, prices)
        rec.cash[k] = ledger.cash_usd
        if desk is not None:
            rec.nav[k] += book.swap_value_usd() + option_value
            self._record_overlay(k, book, rec.overlay, option_value, option_delta, cash_low, called)
        rec.decide_seconds[k] = decide_seconds
        rec.step_seconds[k] = time.perf_counter() - started - decide_seconds

    def _record_overlay(self, k: int, book, out: OverlayRecords, option_value: float, option_delta: np.ndarray,
                        cash_low: float, called: bool) -> None:
        out.exposure_usd[k] = self.overlay.book_exposure_usd(book) + option_delta
        out.gross_usd[k] = book.gross_notional_usd()
        out.swap_notional_usd[k] = sum(abs(p.notional_usd) for p in book.swaps.values())
        out.option_value_usd[k] = option_value
        out.option_delta_usd[k] = float(option_delta.sum())
        out.cash_low_usd[k] = cash_low
        out.margin_call[k] = called
        for kind, values in out.costs.items():   # the book keeps running totals
            values[k] = book.costs_usd[kind] - out.booked_usd[kind]
            out.booked_usd[kind] = book.costs_usd[kind]

    # -- margin calls --------------------------------------------------------------------
    def _margin(self, k: int, ledger: Ledger, rec: "_Records") -> bool:
        """Check the overlay's margin on date ``k``; meet a call at once (True if there was one).

        ``overlay.margin_call_action`` decides how: ``"sell_physical"`` sells the asset
        furthest above target (forced: no participation cap) until cash meets the initial
        requirement; ``"reduce_overlay"`` first sells physical up to zero cash if cash is
        negative (closing futures frees margin, not cash), then closes the overlay pro rata,
        then sells physical if that was not enough. An unmet call raises
        :class:`optimizer.overlays.accounting.MarginCallError`.
        """
        book = ledger.overlay
        if book.check_margin(self.calendar[k]) is None:
            return False
        held, physical_before = book.held_contracts(), float((ledger.shares * self.prices[k]).sum())
        if self.config.overlay.margin_call_action == "reduce_overlay":
            if ledger.cash_usd < 0:
                self._forced_sale(k, ledger, rec, floor_usd=0.0)
            self.overlay.reduce(k, book)
        if ledger.cash_usd < book.initial_requirement_usd():
            self._forced_sale(k, ledger, rec)
        book.resolve_margin_call()
        rec.overlay.call_contracts_closed[k] += held - book.held_contracts()
        rec.overlay.call_sold_usd[k] += physical_before - float((ledger.shares * self.prices[k]).sum())
        return True

    def _forced_sale(self, k: int, ledger: Ledger, rec: "_Records", floor_usd: float | None = None) -> None:
        """Sell the asset furthest above target (holdings plus futures and swaps, over holdings
        plus cash) until cash, net of the sale's costs, meets the initial requirement (or
        ``floor_usd``)."""
        book = ledger.overlay
        holdings = ledger.shares * self.prices[k]
        nav = float(holdings.sum() + ledger.cash_usd)
        i = int(np.argmax((holdings + self.overlay.book_exposure_usd(book)) / nav - self._target))
        need = (book.initial_requirement_usd() if floor_usd is None else floor_usd) - ledger.cash_usd
        one = np.zeros(len(self.assets))

        def cost(sale: float) -> float:
            one[i] = sale
            return float(sum(part.sum() for part in self.price(k, one)))

        sale = 0.0
        for _ in range(50):  # proceeds net of costs must cover the need
            if sale - cost(sale) >= need:
                break
            sale = need + cost(sale) + 1.0
        trade = np.zeros(len(self.assets))
        trade[i] = -min(sale, holdings[i])
        fill = self._execute(k, Orders(trade), ledger, scale_buys=False)
        if fill is not None:
            rec.overlay.call_cost_usd[k] += sum(float(part.sum()) for part in fill[1:])
            rec.forced[k] = True

    # -- fills ---------------------------------------------------------------------------
    def _fill(self, k: int, orders: Orders, ledger: Ledger, rec: "_Records", *, scale_buys: bool,
              capped: bool = False) -> bool:
        """Fill ``orders``' physical trades on date ``k`` and record them; True if anything traded
        (see :meth:`_execute`)."""
        fill = self._execute(k, orders, ledger, scale_buys=scale_buys, capped=capped)
        if fill is None:
            return False
        gross, spread, commission, impact = fill
        rec.traded[k] += gross
        rec.spread[k] += spread.sum()
        rec.commission[k] += commission.sum()
        rec.impact[k] += impact.sum()
        return True

    def _execute(self, k: int, orders: Orders, ledger: Ledger, *, scale_buys: bool, capped: bool = False):
        """Fill ``orders``' physical trades on date ``k``; return (gross, spread, commission,
        impact) per asset, or None if nothing traded.

        With ``capped`` each trade is first clipped to the participation cap
        (``config.participation * ADV``). The net trade per asset decides: a net sell
        relieves exactly ``-trade_usd`` dollars
        (plus at most a sub-cent sliver closing a lot), the lots named in
        ``orders.lot_sales`` first in the order given (the last one truncated), the rest by
        the ledger's method; a net buy opens one lot and relieves nothing, so a fill never
        sells and buys the same asset. Cash moves by the value of the shares actually
        relieved and bought, less costs.
        """
        trade = orders.trade_array(self.assets)
        if capped and self.max_trade_usd is not None:
            trade = np.clip(trade, -self.max_trade_usd, self.max_trade_usd)
        lot_sales = orders.lot_sales or {}
        for asset in lot_sales:
            if asset not in ledger.index:
                raise InputError("orders.lot_sales", "names an unknown asset", asset=str(asset))
        fill = fill_trade(ledger, self._dates[k], self.prices[k], trade, lot_sales,
                          lambda trade_usd: self.price(k, trade_usd), scale_buys=scale_buys)
        return None if fill is None else (fill.gross, fill.spread, fill.commission, fill.impact)

    def _fund(self, k: int, ledger: Ledger, rec: "_Records") -> None:
        """Raise missing cash by forced sales (a forced event) that create no wash sale if avoidable:
        :func:`optimizer.backtest.book.fund_shortfall` selling across assets in proportion to
        their *sellable* value (:func:`optimizer.backtest.book.sales_avoiding_wash`), lots with
        gains before loss lots, each slice at least a dollar over the dust threshold."""
        prices, date = self.prices[k], self.calendar[k]
        amounts = sales_avoiding_wash(ledger, prices, date, self.config.tax.wash_sale_days)
        fills = fund_shortfall(ledger, date, prices, lambda trade_usd: self.price(k, trade_usd), amounts,
                               linear_cost=float((self.half_spread + self.commission).max()),
                               slack_usd=MIN_TRADE_USD * len(self.assets),
                               tolerance_usd=1e-9 * max(1.0, rec.nav[k - 1] if k else 1.0))
        for fill in fills:
            if fill is not None:
                rec.traded[k] += fill.gross
                rec.spread[k] += fill.spread.sum()
                rec.commission[k] += fill.commission.sum()
                rec.impact[k] += fill.impact.sum()
        if fills:
            rec.forced[k] = True

    # -- checkpoints ---------------------------------------------------------------------
    def _fingerprint(self, policy: Policy, weights: np.ndarray) -> str:
        digest = hashlib.sha256()
        digest.update(np.ascontiguousarray(self.prices).tobytes())
        digest.update(self.calendar.asi8.tobytes())
        digest.update(self.flows.tobytes())
        digest.update(self.cash_growth.tobytes())
        digest.update(weights.tobytes())
        digest.update(repr((policy.name, type(policy).__name__, self.config, self.first)).encode())
        if self.overlay is not None:
            digest.update(self.overlay.fingerprint())
        return digest.hexdigest()

    def _save(self, path: Path, fingerprint: str, ledger: Ledger, rec: "_Records", next_step: int,
              policy: Policy) -> None:
        from optimizer.files import write_bytes

        payload = {"version": CHECKPOINT_VERSION, "fingerprint": fingerprint, "next_step": next_step,
                   "ledger": ledger, "records": rec, "policy": policy.state_dict()}
        write_bytes(path, seal_checkpoint(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)))

    @staticmethod
    def _load(path: Path, fingerprint: str) -> dict:
        with open(path, "rb") as handle:
            payload = pickle.loads(open_checkpoint(handle.read(), path))  # verified before unpickling
        if not isinstance(payload, dict) or payload.get("version") != CHECKPOINT_VERSION:
            raise CheckpointError(f"{path} is not a backtest checkpoint of version {CHECKPOINT_VERSION}")
        if payload["fingerprint"] != fingerprint:
            raise CheckpointError(f"{path} belongs to another run (prices, flows, policy or settings differ)")
        return payload


#: First bytes of a checkpoint file; the version follows as 4 big-endian bytes, then the HMAC.
CHECKPOINT_MAGIC = b"RBCKPT\n"
#: Environment variable holding the checkpoint signing key (else a per-user key file is used).
CHECKPOINT_KEY_ENV = "REBALANCE_CHECKPOINT_KEY"


def checkpoint_key() -> bytes:
    """The secret that signs checkpoints: ``$REBALANCE_CHECKPOINT_KEY``, else a per-user key file
    (``$XDG_CONFIG_HOME`` or ``~/.config``, ``rebalance-optimizer/checkpoint.key``, mode 0600,
    created with 32 random bytes on first use)."""
    secret = os.environ.get(CHECKPOINT_KEY_ENV)
    if secret:
        return secret.encode()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    file = base / "rebalance-optimizer" / "checkpoint.key"
    if not file.exists():
        file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(os.urandom(32))
    return file.read_bytes()


def seal_checkpoint(data: bytes) -> bytes:
    """``data`` (pickled state) framed as magic, version and HMAC-SHA256 under :func:`checkpoint_key`."""
    import hmac

    header = CHECKPOINT_MAGIC + CHECKPOINT_VERSION.to_bytes(4, "big")
    return header + hmac.new(checkpoint_key(), header + data, hashlib.sha256).digest() + data


def open_checkpoint(blob: bytes, path: Path | str = "checkpoint") -> bytes:
    """The pickled state inside a sealed checkpoint, **after** checking magic, version and HMAC.

    A file that was not written by this engine under this user's key (or was altered) is
    refused before anything in it is unpickled, so a planted file cannot run code.

    Raises
    ------
    CheckpointError
        Not a sealed checkpoint, another version, or a signature that does not match.
    """
    import hmac

    n = len(CHECKPOINT_MAGIC)
    if len(blob) < n + 4 + 32 or not blob.startswith(CHECKPOINT_MAGIC):
        raise CheckpointError(f"{path} is not a sealed backtest checkpoint; refused without loading it")
    version = int.from_bytes(blob[n:n + 4], "big")
    if version != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path} is a checkpoint of version {version}, not {CHECKPOINT_VERSION}")
    signature, data = blob[n + 4:n + 36], blob[n + 36:]
    expected = hmac.new(checkpoint_key(), blob[:n + 4] + data, hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise CheckpointError(f"{path} has a signature that does not match this user's checkpoint key (altered, "
                              "or written elsewhere); refused without loading it")
    return data


@dataclass
class _Records:
    """Per-date arrays filled as the run goes (pickled in checkpoints)."""

    nav: np.ndarray
    cash: np.ndarray
    holdings: np.ndarray
    traded: np.ndarray
    spread: np.ndarray
    commission: np.ndarray
    impact: np.ndarray
    tax: np.ndarray
    events: np.ndarray
    forced: np.ndarray
    decide_seconds: np.ndarray
    step_seconds: np.ndarray
    overlay: OverlayRecords | None = None

    @classmethod
    def empty(cls, T: int, n: int) -> "_Records":
        return cls(np.zeros(T), np.zeros(T), np.zeros((T, n)), np.zeros((T, n)), np.zeros(T), np.zeros(T),
                   np.zeros(T), np.zeros(T), np.zeros(T, dtype=bool), np.zeros(T, dtype=bool), np.zeros(T),
                   np.zeros(T))
