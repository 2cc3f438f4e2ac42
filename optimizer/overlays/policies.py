"""Rebalancing policies for a physical book with a futures / swap overlay.

They are :class:`optimizer.policies.base.Policy` subclasses like every other policy: the
simulator (:class:`optimizer.backtest.Simulator` with ``BacktestConfig.overlay``) calls
``decide(date, state)``; ``state.overlay`` carries the derivative positions and prices,
``state.costs`` and ``state.max_trade_usd`` the trading conditions. Each policy reads them
through :class:`DayView` (one asset per exposure key, the overlay's view flattened) and
returns :class:`~optimizer.policies.base.Orders` with physical trades in dollars per
asset, whole futures contracts and swap notional changes. The simulator caps physical
trades at its participation limit and charges costs; policies only decide. Targets are
per asset; ``band`` is the absolute half-width around each.

* :class:`PhysicalOnly`: when an exposure leaves its band, trade the physical sleeves back
  to target (over several days if the participation cap binds).
* :class:`OverlayFirst`: on a trigger, restore exposures with futures (or a total-return
  swap first, up to its counterparty limit, with ``use_swaps``) the same day, then
  migrate the overlay into the physical book in equal daily steps (``migration_days``),
  each also capped so its impact stays below ``max_impact`` per dollar traded.
* :class:`JointOptimization`: the core program (:class:`optimizer.Rebalancer`) decides
  physical trades and overlay contracts together on trigger days and every
  ``decide_every`` days, with the sleeves' impact, the futures' margin and gross limit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from optimizer.errors import InfeasibleError, InputError, SolverError
from optimizer.model import Market, Portfolio, Restrictions, RiskModel, Settings, Targets
from optimizer.overlays.instruments import Future, TotalReturnSwap, whole_contracts
from optimizer.policies.base import Orders, Policy, State
from optimizer.rebalancer import Rebalancer
from optimizer.terms import impact


@dataclass(frozen=True)
class DayView:
    """What an overlay policy knows at the close of one day, after marks and before trading.

    Arrays are per asset (exposure key) in the order of ``classes``; money in account
    currency. Built from the simulator's :class:`~optimizer.policies.base.State` by
    :meth:`from_state`.
    """

    date: pd.Timestamp
    classes: tuple[str, ...]
    nav_usd: float
    physical_usd: np.ndarray
    cash_usd: float
    overlay_usd: np.ndarray          # beta-weighted futures exposure per class
    contracts: dict[str, int]        # held contracts per future
    futures: dict[str, Future]       # one future per class it covers (by future name)
    futures_price: dict[str, float]  # price of the contract one would trade today
    target: np.ndarray               # target weights (NAV fractions)
    band_lower: np.ndarray
    band_upper: np.ndarray
    daily_vol: np.ndarray            # trailing daily volatility of each sleeve
    adv_usd: np.ndarray
    half_spread: np.ndarray
    impact_eta: float
    max_trade_usd: np.ndarray        # participation cap per sleeve today
    gross_limit: float               # overlay gross notional cap, NAV fraction
    initial_margin_usd: float        # initial requirement of the overlay held
    history: pd.DataFrame | None     # trailing daily returns per class (for risk models), if asked for
    swaps: dict[str, TotalReturnSwap] = field(default_factory=dict)
    swap_notional: dict[str, float] = field(default_factory=dict)  # notional held (signed)
    option_delta_usd: np.ndarray | None = None  # delta exposure of options held, per class (in overlay_usd)
    commission: np.ndarray | None = None  # per class, fraction of traded value

    @classmethod
    def from_state(cls, state: State, target: np.ndarray, band: float, history_days: int | None = None,
                   cost_arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> "DayView":
        """The view of ``state`` for a policy with per-asset ``target`` and absolute ``band``.

        ``history`` holds the ``history_days`` daily returns *before* today's (empty when
        ``history_days`` is None); costs come from ``state.costs``; without a
        participation cap ``max_trade_usd`` is infinite; without an overlay the overlay
        fields are empty. ``cost_arrays`` is ``state.costs.arrays(assets)`` when the caller
        already has it.
        """
        if state.costs is None:
            raise InputError("state.costs", "overlay policies need the simulator's cost model")
        n = len(state.assets)
        half_spread, commission, adv = cost_arrays or state.costs.arrays(list(state.assets))
        history = None
        if history_days is not None:
            levels = np.asarray(state.history, dtype=float)
            returns = levels[1:] / levels[:-1] - 1.0          # row j: the return into date j + 1
            k = len(levels) - 1
            history = pd.DataFrame(returns[max(0, k - 1 - history_days):max(k - 1, 0)], columns=list(state.assets))
        ov = state.overlay
        return cls(
            date=state.date, classes=tuple(state.assets), nav_usd=state.nav_usd,
            physical_usd=np.array(state.holdings_usd, dtype=float), cash_usd=state.cash_usd,
            overlay_usd=np.zeros(n) if ov is None else ov.exposure_usd,
            contracts={} if ov is None else dict(ov.contracts), futures={} if ov is None else dict(ov.futures),
            futures_price={} if ov is None else dict(ov.futures_price), target=target,
            band_lower=target - band, band_upper=target + band, daily_vol=np.asarray(state.volatility, dtype=float),
            adv_usd=adv, half_spread=half_spread, impact_eta=state.costs.impact_eta,
            max_trade_usd=np.full(n, np.inf) if state.max_trade_usd is None else np.asarray(state.max_trade_usd),
            gross_limit=0.0 if ov is None else ov.gross_limit,
            initial_margin_usd=0.0 if ov is None else ov.initial_margin_usd, history=history,
            swaps={} if ov is None else dict(ov.swaps), swap_notional={} if ov is None else dict(ov.swap_notional),
            option_delta_usd=np.zeros(n) if ov is None else ov.option_delta_usd, commission=commission)

    @property
    def exposure(self) -> np.ndarray:
        """Exposure per class, NAV fraction (physical + overlay)."""
        return (self.physical_usd + self.overlay_usd) / self.nav_usd

    @property
    def out_of_band(self) -> bool:
        e = self.exposure
        return bool(np.any(e < self.band_lower - 1e-12) or np.any(e > self.band_upper + 1e-12))

    def swap_for(self, k: int) -> str | None:
        """Name of the swap on class ``k`` (None if none)."""
        for name, swap in self.swaps.items():
            if swap.asset_class == self.classes[k]:
                return name
        return None

    def future_for(self, k: int) -> str | None:
        """Name of the future mapping into class ``k`` (None if none does)."""
        for name, fut in self.futures.items():
            if fut.asset_class == self.classes[k]:
                return name
        return None


def _orders(physical_usd: np.ndarray, futures: dict[str, int] | None = None,
            swaps: dict[str, float] | None = None) -> Orders:
    return Orders(np.asarray(physical_usd, dtype=float), futures_contracts=futures or None,
                  swap_notional_usd=swaps or None)


class OverlayPolicy(Policy):
    """Base of the overlay policies: per-asset ``target``, absolute ``band``; subclasses decide
    on the :class:`DayView` (:meth:`decide_view`) and list their memory in ``_memory``."""

    _memory: tuple[str, ...] = ()
    history_days: int | None = None

    def __init__(self, target: pd.Series | dict, band: float = 0.03):
        super().__init__(target)
        if not (np.isfinite(band) and band >= 0):
            raise InputError("band", f"is {band!r}; it must be >= 0")
        self.band = float(band)
        self._costs: tuple | None = None   # (cost model, assets, its arrays): priced once per run

    def decide(self, date: pd.Timestamp, state: State) -> Orders | None:
        if state.costs is not None and (self._costs is None or self._costs[0] is not state.costs
                                        or self._costs[1] != state.assets):
            self._costs = (state.costs, state.assets, state.costs.arrays(list(state.assets)))
        arrays = None if state.costs is None else self._costs[2]
        return self.decide_view(DayView.from_state(state, self._target, self.band, self.history_days, arrays))

    def decide_view(self, view: DayView) -> Orders | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {**super().state_dict(), **{k: getattr(self, k) for k in self._memory}}

    def load_state_dict(self, state: dict) -> None:
        for k in self._memory:
            setattr(self, k, state[k])
        super().load_state_dict({k: v for k, v in state.items() if k not in self._memory})


class PhysicalOnly(OverlayPolicy):
    """Trade the physical sleeves to target whenever an exposure leaves its band (closing any
    futures held), over several days when the participation cap binds."""

    name = "physical-only"
    _memory = ("active",)

    def __init__(self, target: pd.Series | dict, band: float = 0.03, tolerance: float = 1e-3):
        super().__init__(target, band)
        self.tolerance = tolerance
        self.active = False

    def decide_view(self, view: DayView) -> Orders | None:
        if view.out_of_band:
            self.active = True
        if not self.active:
            return None
        gap = view.target * view.nav_usd - view.physical_usd - view.overlay_usd
        if np.all(np.abs(gap) <= view.max_trade_usd):
            self.active = False  # the capped trade reaches target today
        trade = np.clip(gap, -view.max_trade_usd, view.max_trade_usd)
        cash_target = (1.0 - float(view.target.sum())) * view.nav_usd
        trade = _funded(trade, view.cash_usd - min(cash_target, view.cash_usd))
        close = {name: -n for name, n in view.contracts.items() if n}
        return _orders(trade, close)


def _funded(trade: np.ndarray, spare_cash_usd: float) -> np.ndarray:
    """Scale buys down so they are paid by today's sales plus spare cash (sales are capped too,
    so a capped sell leg must not leave the buy leg to overdraw cash)."""
    buys = float(trade[trade > 0].sum())
    funds = float(-trade[trade < 0].sum()) + max(spare_cash_usd, 0.0)
    if buys <= funds or buys == 0:
        return trade
    out = trade.copy()
    out[out > 0] *= funds / buys
    return out


def _fit_overlay(view: DayView, wanted: dict[str, float], cash_after_usd: float,
                 wanted_swaps: dict[str, float] | None = None) -> tuple[dict[str, int], dict[str, float]]:
    """Scale contract and swap-notional targets towards zero (whole contracts, swaps within
    their counterparty limits) until the gross limit and the initial margin and collateral
    out of cash both hold. Returns (contracts, swap notionals) after trading."""
    wanted_swaps = {k: view.swaps[k].clip_notional(v) for k, v in (wanted_swaps or {}).items()}
    scale = 1.0
    for _ in range(80):
        target = {k: whole_contracts(v * scale) for k, v in wanted.items()}
        swaps = {k: v * scale for k, v in wanted_swaps.items()}
        notional = {k: abs(n) * view.futures[k].multiplier * view.futures_price[k] for k, n in target.items()}
        gross = sum(notional.values()) + sum(abs(v) for v in swaps.values())
        margin = (sum(notional[k] * view.futures[k].initial_margin for k in target)
                  + sum(abs(v) * view.swaps[k].collateral for k, v in swaps.items()))
        if gross <= view.gross_limit * view.nav_usd + 1e-6 and margin <= cash_after_usd:
            return target, swaps
        scale *= 0.9
    return {k: 0 for k in wanted}, {k: 0.0 for k in wanted_swaps}


class OverlayFirst(OverlayPolicy):
    """Restore exposure with the overlay on the trigger day, then migrate into the physical book.

    Parameters
    ----------
    target, band:
        Per-asset targets and the absolute band that triggers a restore.
    migration_days:
        The overlay held at the trigger is moved to physical in this many equal daily steps.
    max_impact:
        Cap on the impact per dollar of one day's migration trade (``eta * vol * u / ADV``);
        0.0005 = 5 bps. Steps are smaller on volatile days, so migration stretches out.
    use_swaps:
        Use a class's total-return swap first (up to its counterparty limit) and futures for
        the rest; otherwise futures only.
    """

    _memory = ("step_usd",)

    def __init__(self, target: pd.Series | dict, band: float = 0.03, migration_days: int = 10,
                 max_impact: float = 5e-4, use_swaps: bool = False):
        super().__init__(target, band)
        self.migration_days = migration_days
        self.max_impact = max_impact
        self.use_swaps = use_swaps
        self.name = "overlay-first-trs" if use_swaps else "overlay-first"
        self.step_usd: np.ndarray | None = None

    def decide_view(self, view: DayView) -> Orders | None:
        if view.out_of_band:
            return self._restore(view)
        held_swaps = {k: v for k, v in view.swap_notional.items() if abs(v) > 1.0}
        if self.step_usd is None or not (any(view.contracts.values()) or held_swaps):
            self.step_usd = None
            return None
        return self._migrate(view, held_swaps)

    def _restore(self, view: DayView) -> Orders:
        n_classes = len(view.classes)
        gap = view.target * view.nav_usd - view.physical_usd - view.overlay_usd
        wanted: dict[str, float] = dict(view.contracts)
        wanted_swaps: dict[str, float] = dict(view.swap_notional)
        for k in range(n_classes):
            rest = gap[k]
            swap = view.swap_for(k) if self.use_swaps else None
            if swap is not None:
                held = view.swap_notional.get(swap, 0.0)
                new = view.swaps[swap].clip_notional(held + rest)
                wanted_swaps[swap] = new
                rest -= new - held
            name = view.future_for(k)
            if name is not None and rest:
                wanted[name] = view.contracts.get(name, 0) + view.futures[name].contracts_for(rest, view.futures_price[name])
        fitted, swaps = _fit_overlay(view, wanted, view.cash_usd, wanted_swaps)
        after = np.zeros(n_classes)
        for name, n in fitted.items():
            after[view.classes.index(view.futures[name].asset_class)] += view.futures[name].exposure_usd(
                view.futures_price[name], n)
        for name, notional in swaps.items():
            after[view.classes.index(view.swaps[name].asset_class)] += notional
        self.step_usd = np.abs(after) / max(1, self.migration_days)
        return _orders(np.zeros(n_classes), {k: n - view.contracts.get(k, 0) for k, n in fitted.items()},
                       {k: v - view.swap_notional.get(k, 0.0) for k, v in swaps.items()})

    def _migrate(self, view: DayView, held_swaps: dict[str, float]) -> Orders:
        n_classes = len(view.classes)
        per_usd = impact.coefficient_per_usd(view.impact_eta, view.daily_vol, view.adv_usd)  # impact per $ of a $ trade
        impact_cap = self.max_impact / np.maximum(per_usd, 1e-12 / view.adv_usd)
        budget = np.minimum(np.minimum(self.step_usd, impact_cap), view.max_trade_usd)
        physical = np.zeros(n_classes)
        swap_trades: dict[str, float] = {}
        for name, held in held_swaps.items():  # swaps first: they cost financing spread every day
            k = view.classes.index(view.swaps[name].asset_class)
            move = min(abs(held), budget[k])
            swap_trades[name] = -np.sign(held) * move
            physical[k] += np.sign(held) * move
            budget[k] -= move
        trades: dict[str, int] = {}
        for name, held in view.contracts.items():
            if not held:
                continue
            fut = view.futures[name]
            k = view.classes.index(fut.asset_class)
            per_contract = abs(fut.exposure_usd(view.futures_price[name], 1))
            if budget[k] <= 0 and swap_trades:
                continue
            move = min(abs(held), max(int(budget[k] // per_contract), 1))  # at least one: always progress
            sign = 1 if held > 0 else -1
            trades[name] = -sign * move
            physical[k] += sign * move * per_contract
        return _orders(physical, trades, swap_trades)


class JointOptimization(OverlayPolicy):
    """The core program decides physical trades and overlay contracts together.

    Decides on trigger days and every ``decide_every`` trading days; the program sees the
    sleeves' impact (``impact_eta * vol / ADV``), the participation cap (as
    ``max_trade_usd``), spreads, the futures' margin, per-contract cost and gross limit.

    The core program has no holding cost for an overlay (rolls are not in its objective),
    so it keeps futures as long as trading physical is dearer; rolls are charged by the
    simulator. Each sleeve is one tax lot with basis = price (no tax), price 1 per dollar;
    the risk model is a 2-factor PCA of the trailing daily returns. Long option deltas
    enter as untradeable holdings (short deltas are dropped: the core has no negative
    untradeable holding); total-return swaps are not offered to the program (the core has
    no per-instrument counterparty limit). The risk model is fitted to the
    ``history_days`` daily returns before today's.
    """

    name = "joint-optimization"
    _memory = ("days",)

    def __init__(self, target: pd.Series | dict, band: float = 0.03, decide_every: int = 5,
                 risk_aversion: float = 10.0, min_cash_weight: float = 0.005, history_days: int = 260):
        super().__init__(target, band)
        self.history_days = history_days
        self.decide_every = decide_every
        self.risk_aversion = risk_aversion
        self.min_cash_weight = min_cash_weight
        self.rebalancer = Rebalancer()
        self.days = 0
        self.solves = 0
        self.solve_seconds = 0.0
        self.failures: list[tuple[pd.Timestamp, str]] = []  # decisions that ended as "no trade"

    def decide_view(self, view: DayView) -> Orders | None:
        self.days += 1
        if not view.out_of_band and self.days % self.decide_every:
            return None
        started = time.perf_counter()
        assets = [f"{c}_PHYS" for c in view.classes]
        lots = pd.DataFrame({"lot_id": [f"lot_{a}" for a in assets], "asset": assets,
                             "quantity": np.maximum(view.physical_usd, 1.0), "cost_basis": 1.0,
                             "acquired": view.date - pd.Timedelta(days=400)})
        names = [n for n in view.futures]
        untradeable = pd.Series(dtype=float)
        classes = pd.Series(list(view.classes), index=assets)
        if view.option_delta_usd is not None and np.any(view.option_delta_usd):
            # options enter as fixed holdings worth their delta exposure (NAV then counts delta, not value)
            keys = [f"{c}_OPTIONS" for c in view.classes]
            untradeable = pd.Series(np.maximum(view.option_delta_usd, 0.0), index=keys)
            classes = pd.concat([classes, pd.Series(list(view.classes), index=keys)])
        portfolio = Portfolio(lots=lots, cash_usd=view.cash_usd, untradeable_usd=untradeable,
                              overlay_contracts=pd.Series({n: float(view.contracts.get(n, 0)) for n in names}))
        targets = Targets(pd.Series(view.target, index=view.classes), pd.Series(view.band_lower, index=view.classes),
                          pd.Series(view.band_upper, index=view.classes), cash_weight=1.0 - float(view.target.sum()))
        risk = RiskModel.from_returns(view.history, n_factors=len(view.classes), periods_per_year=252)
        market = Market(date=view.date, prices=pd.Series(1.0, index=assets), asset_class=classes, risk=risk,
                        volatility=pd.Series(view.daily_vol, index=assets), adv_usd=pd.Series(view.adv_usd, index=assets),
                        half_spread=pd.Series(view.half_spread, index=assets),
                        commission=pd.Series(0.0 if view.commission is None else view.commission, index=assets))
        settings = Settings(risk_aversion=self.risk_aversion, impact_eta=view.impact_eta, bands="soft",
                            overlay_gross_limit=view.gross_limit, wash_sale=False,
                            min_cash_weight=self.min_cash_weight)
        overlays = [view.futures[n].to_overlay_instrument(view.futures_price[n]) for n in names]
        restrictions = Restrictions(pd.DataFrame({"max_trade_usd": view.max_trade_usd}, index=assets))
        try:
            result = self.rebalancer.rebalance(portfolio, targets, market, settings, overlays=overlays,
                                               restrictions=restrictions)
        except (SolverError, InfeasibleError) as error:  # marked "no trade, here is why", not a crash
            self.failures.append((view.date, str(error)))
            return None
        finally:
            self.solves += 1
            self.solve_seconds += time.perf_counter() - started
        physical = result.trades["trade_usd"].reindex(assets).to_numpy(dtype=float)
        after = result.overlay["contracts_after"]
        wanted = {n: float(after[n]) for n in names}
        cash_after = view.cash_usd - float(physical.sum())
        fitted, _ = _fit_overlay(view, wanted, cash_after)
        trades = {n: fitted[n] - view.contracts.get(n, 0) for n in names}
        return _orders(physical, trades)


class VolatilityTarget(OverlayPolicy):
    """Scale the book's exposure toward a volatility target, with index futures or physical trades.

    Each date the ex-ante volatility of the *strategic* book (``target`` weights) is
    estimated from the ``lookback`` daily returns before today's (sample covariance, x 252):
    ``vol = sqrt(252 * w' S w)``. The wanted exposure of each ``scaled`` asset is
    ``scale * target * NAV`` with ``scale = clip(vol_target / vol, min_scale, max_scale)``
    (Moreira and Muir 2017, "Volatility-Managed Portfolios"); the other assets are left
    alone. When an exposure is more than ``tolerance`` (NAV fraction) away from it:

    * ``instrument="futures"``: the asset's future takes the whole gap (whole contracts,
      within the overlay's gross limit and with initial margin paid from cash; see
      :func:`_fit_overlay`); the physical book is not traded, so the simulator charges only
      commissions, rolls and margin calls. With ``future`` (a future's name) that one
      contract takes the summed gap of all scaled assets (a proxy hedge, e.g. an S&P
      future for a sleeve of equity funds; it acts when the sum is beyond ``tolerance``);
    * ``instrument="physical"``: the asset itself is traded (capped at the participation
      limit, buys paid by sales and spare cash: no leverage, so ``scale`` above 1 can only
      use the cash the book holds), at the simulator's spread and impact.

    ``scales`` records ``(date, scale)`` of every decision.
    """

    def __init__(self, target: pd.Series | dict, vol_target: float, *, scaled: tuple[str, ...] | None = None,
                 lookback: int = 60, min_scale: float = 0.0, max_scale: float = 1.5, tolerance: float = 0.02,
                 instrument: str = "futures", future: str | None = None):
        super().__init__(target, band=0.0)
        self.future = future
        if not (np.isfinite(vol_target) and vol_target > 0):
            raise InputError("vol_target", f"is {vol_target!r}; it must be positive (annualised)")
        if instrument not in ("futures", "physical"):
            raise InputError("instrument", f"is {instrument!r}; use 'futures' or 'physical'")
        if not 0 <= min_scale <= max_scale:
            raise InputError("min_scale", "must satisfy 0 <= min_scale <= max_scale")
        if lookback < 2:
            raise InputError("lookback", "must be >= 2")
        self.vol_target, self.scaled, self.instrument = float(vol_target), scaled, instrument
        self.history_days, self.min_scale, self.max_scale, self.tolerance = lookback, min_scale, max_scale, tolerance
        self.name = f"vol-target-{instrument}"
        self.scales: list[tuple[pd.Timestamp, float]] = []

    def scale(self, history: pd.DataFrame, weights: np.ndarray) -> float:
        """``clip(vol_target / vol, min_scale, max_scale)`` for the strategic ``weights``."""
        if history is None or len(history) < 2:
            return 1.0
        covariance = np.cov(history.to_numpy(dtype=float), rowvar=False, ddof=1).reshape(len(weights), len(weights))
        vol = float(np.sqrt(max(252.0 * weights @ covariance @ weights, 0.0)))
        return self.max_scale if vol <= 1e-12 else float(np.clip(self.vol_target / vol, self.min_scale, self.max_scale))

    def decide_view(self, view: DayView) -> Orders | None:
        if view.history is None or len(view.history) < self.history_days:
            return None                      # not enough returns for an estimate yet
        scale = self.scale(view.history, view.target)
        self.scales.append((view.date, scale))
        scaled = [view.classes.index(a) for a in (self.scaled or view.classes)]
        gap = np.zeros(len(view.classes))
        for k in scaled:
            gap[k] = scale * view.target[k] * view.nav_usd - view.physical_usd[k] - view.overlay_usd[k]
        act = np.abs(gap) > self.tolerance * view.nav_usd
        if self.future is not None and self.instrument == "futures":
            total = float(gap.sum())
            if abs(total) <= self.tolerance * view.nav_usd:
                return None
            if self.future not in view.futures:
                raise InputError("future", "is not a future of the overlay", asset=self.future)
            held = view.contracts.get(self.future, 0)
            wanted = {self.future: held + view.futures[self.future].contracts_for(total, view.futures_price[self.future])}
            fitted, _ = _fit_overlay(view, {**view.contracts, **wanted}, view.cash_usd)
            return _orders(np.zeros(len(view.classes)), {n: c - view.contracts.get(n, 0) for n, c in fitted.items()})
        if not act.any():
            return None
        if self.instrument == "physical":
            trade = np.where(act, np.clip(gap, -view.max_trade_usd, view.max_trade_usd), 0.0)
            return _orders(_funded(trade, view.cash_usd))
        wanted: dict[str, float] = {}
        for k in np.nonzero(act)[0]:
            name = view.future_for(int(k))
            if name is None:
                raise InputError("overlay.futures", "has no future on a scaled asset", asset=view.classes[k])
            held = view.contracts.get(name, 0)
            wanted[name] = held + view.futures[name].contracts_for(gap[k], view.futures_price[name])
        fitted, _ = _fit_overlay(view, {**view.contracts, **wanted}, view.cash_usd)
        return _orders(np.zeros(len(view.classes)), {n: c - view.contracts.get(n, 0) for n, c in fitted.items()})
