"""The validated inputs of one decision as numpy arrays, every amount a fraction of NAV.

``prepare`` is the single place where the pandas-level inputs become numbers: the
program writes them into its parameters, the reference formulation builds constants from
them, and the result prices trades with them. Lots are laid out in *slots*: asset ``i``
owns slots ``i*L .. i*L+L-1``; empty slots have zero value, so accounts with different
lot counts share one problem shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from optimizer.errors import InputError
from optimizer.model import Market, OverlayInstrument, Portfolio, Restrictions, Settings, Targets, TaxRules
from optimizer.model.portfolio import check_lots_dated_by

#: Upper bound used where an amount is unlimited (NAV fractions); finite so solvers stay well scaled.
UNLIMITED = 10.0


@dataclass(frozen=True)
class ProblemShape:
    """What fixes the structure of the cvxpy problem; equal shapes share one built problem."""

    assets: tuple[str, ...]
    asset_keys: tuple[str, ...]
    keys: tuple[str, ...]
    n_factors: int
    lot_slots: int
    overlays: tuple[str, ...]
    soft_bands: bool
    shorts: bool = False        # some asset may be sold short (else no short variables)
    trade_caps: bool = False    # some asset has a finite gross trade cap (else no cap rows)
    tax_netting: bool = False   # the year's realized gain is known: the tax term nets (else linear)
    accounts: tuple[str, ...] = ()      # a household: its accounts, each with its own cash (else one account)
    asset_account: tuple[int, ...] = () # a household: the account of each asset position
    holding_costs: bool = False  # some position costs something per year held (e.g. tax drag on income)
    account_band_rows: tuple[tuple[int, int], ...] = ()  # a household: (account, key) pairs with their own band

    @property
    def n_assets(self) -> int:
        return len(self.assets)

    @property
    def n_lots(self) -> int:
        return len(self.assets) * self.lot_slots

    @cached_property
    def exposure_matrix(self) -> sp.csr_matrix:
        """``B`` (keys x assets, sparse): 1 where an asset belongs to a key."""
        index = {k: i for i, k in enumerate(self.keys)}
        rows = [index[key] for key in self.asset_keys]
        return sp.csr_matrix((np.ones(self.n_assets), (rows, np.arange(self.n_assets))),
                             shape=(len(self.keys), self.n_assets))

    @cached_property
    def account_matrix(self) -> sp.csr_matrix:
        """``A`` (accounts x assets, sparse): 1 where a position belongs to an account (households)."""
        return sp.csr_matrix((np.ones(self.n_assets), (list(self.asset_account), np.arange(self.n_assets))),
                             shape=(len(self.accounts), self.n_assets))

    @cached_property
    def lot_matrix(self) -> sp.csr_matrix:
        """``S`` (assets x lot slots, sparse): 1 where a slot belongs to an asset."""
        return sp.csr_matrix(sp.kron(sp.eye(self.n_assets), np.ones((1, self.lot_slots))))


@dataclass(frozen=True)
class ProblemData:
    """One decision in numbers. Weights and trades are NAV fractions; ``nav_usd`` converts back."""

    shape: ProblemShape
    date: pd.Timestamp
    nav_usd: float
    price: np.ndarray              # per share, assets (untradeable: 1.0, value-quoted)
    weight0: np.ndarray            # current asset weights
    cash0: float                   # cash after the flow, NAV fraction
    cash_min: float                # buffer to keep, NAV fraction
    target: np.ndarray             # keys
    band_lower: np.ndarray
    band_upper: np.ndarray
    factor_root: np.ndarray        # (factors x keys): R @ F.T, so factor risk = ||factor_root @ d||^2
    specific_sd: np.ndarray        # keys: sqrt of specific variance
    impact: np.ndarray             # assets: cost per NAV fraction^2 (impact_eta * vol / ADV * NAV)
    half_spread: np.ndarray        # assets: cost per NAV fraction traded
    commission: np.ndarray         # assets: cost per NAV fraction traded
    lot_ids: np.ndarray            # slots: lot id or "" (object)
    lot_value: np.ndarray          # slots: market value, NAV fraction
    lot_quantity: np.ndarray       # slots: shares
    lot_basis: np.ndarray          # slots: cost basis per share
    lot_long_term: np.ndarray      # slots: bool
    lot_tax: np.ndarray            # slots: tax due now per unit sold, rate * gain (negative for losses)
    lot_tax_cost: np.ndarray       # slots: what that sale costs, valued (TaxRules.realization_cost * gain)
    lot_wait_cost: np.ndarray      # slots: least charge per dollar sold now of a lot soon long-term (TaxRules.wait_cost)
    tax_offset: float              # valued tax of the year's gains before this trade, NAV fraction (0: unknown)
    carry_value: float             # share of a loss's value kept beyond the gains it offsets (1: no netting)
    lot_sell_max: np.ndarray       # slots: largest sale allowed (0 where blocked)
    wash_group: np.ndarray         # assets: integer code of the wash-sale group (TaxRules.identical_groups)
    buy_max: np.ndarray            # assets
    trade_max: np.ndarray          # assets: gross trade cap
    short_max: np.ndarray          # assets
    overlay_exposure: np.ndarray   # keys x overlays: beta per unit notional
    overlay0: np.ndarray           # overlays: current notional, NAV fraction (signed)
    overlay_margin: np.ndarray     # overlays: initial margin per unit notional
    overlay_cost: np.ndarray       # overlays: cost per unit notional traded
    overlay_notional_usd: np.ndarray  # overlays: notional of one contract
    overlay_max: np.ndarray        # overlays: largest absolute notional, NAV fraction (at least the current one)
    overlay_holding_cost: np.ndarray  # overlays: carry cost per unit of absolute notional held
    overlay_gross_limit: float     # cap on sum of |notional|, NAV fraction (at least the current gross)
    settings: Settings
    tax: TaxRules
    account_cash_free: np.ndarray = field(default_factory=lambda: np.zeros(0))  # accounts: cash0 - cash_min
    holding_cost: np.ndarray = field(default_factory=lambda: np.zeros(0))      # assets: cost per NAV fraction held a year
    account_band_lower: np.ndarray = field(default_factory=lambda: np.zeros(0))  # account_band_rows, NAV fraction
    account_band_upper: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def linear_cost(self) -> np.ndarray:
        """Half-spread plus commission per NAV fraction traded, per asset."""
        return self.half_spread + self.commission

    @property
    def lot_gain(self) -> np.ndarray:
        """Gain per dollar sold per lot slot, ``1 - basis / price`` (negative at a loss; 0 if empty)."""
        slot_price = np.repeat(self.price, self.shape.lot_slots)
        return np.where(self.lot_ids != "", 1.0 - self.lot_basis / slot_price, 0.0)

    @property
    def exposure_matrix(self) -> sp.csr_matrix:
        return self.shape.exposure_matrix

    @property
    def lot_matrix(self) -> sp.csr_matrix:
        return self.shape.lot_matrix

    @property
    def exposure0(self) -> np.ndarray:
        """Current exposures per key (holdings plus overlay), NAV fraction."""
        return self.exposure_matrix @ self.weight0 + self.overlay_exposure @ self.overlay0

    def with_bounds(self, *, buy_max: np.ndarray | None = None, lot_sell_max: np.ndarray | None = None) -> "ProblemData":
        """A copy with tightened trade bounds (used by the wash-sale second pass)."""
        from dataclasses import replace

        return replace(self,
                       buy_max=self.buy_max if buy_max is None else buy_max,
                       lot_sell_max=self.lot_sell_max if lot_sell_max is None else lot_sell_max)


def prepare(
    portfolio: Portfolio,
    targets: Targets,
    market: Market,
    settings: Settings,
    *,
    tax: TaxRules = TaxRules(),
    overlays: Sequence[OverlayInstrument] = (),
    restrictions: Restrictions | None = None,
    universe: Sequence[str] | None = None,
    lot_slots: int | None = None,
) -> ProblemData:
    """Check that the inputs fit together and turn them into :class:`ProblemData`.

    ``universe`` fixes the asset order (default: the market's assets, then untradeable
    holdings); ``lot_slots`` the lots per asset (default: the most any asset holds).
    """
    for name, value, kind in (("portfolio", portfolio, Portfolio), ("targets", targets, Targets),
                              ("market", market, Market), ("settings", settings, Settings), ("tax", tax, TaxRules)):
        if not isinstance(value, kind):
            raise InputError(name, f"expected {kind.__name__}, got {type(value).__name__}")
    if restrictions is not None and not isinstance(restrictions, Restrictions):
        raise InputError("restrictions", f"expected Restrictions, got {type(restrictions).__name__}")
    try:
        overlays = [] if isinstance(overlays, (str, bytes)) else list(overlays)
    except TypeError:
        overlays = None
    if overlays is None or not all(isinstance(o, OverlayInstrument) for o in overlays):
        raise InputError("overlays", "expected a sequence of OverlayInstrument")
    restrictions = restrictions or Restrictions()
    untradeable = list(portfolio.untradeable_usd.index)
    if universe is None:
        universe = list(market.assets) + [a for a in untradeable if a not in market.prices.index]
    assets = [str(a) for a in universe]
    if len(set(assets)) != len(assets):
        raise InputError("universe", "lists an asset twice")
    _check_known(portfolio, assets, market, untradeable)
    check_lots_dated_by(portfolio.lots, market.date)
    classes = market.asset_class.reindex(assets)
    if classes.isna().any():
        raise InputError("asset_class", "has no exposure key for this asset", asset=str(classes.index[classes.isna()][0]))
    untargeted = ~classes.isin(targets.weight.index)
    if untargeted.any():
        asset = str(classes.index[untargeted][0])
        raise InputError("targets.weight", f"has no target for exposure key {classes[asset]!r}", asset=asset)
    keys = list(targets.keys)
    missing_risk = [k for k in keys if k not in market.risk.loadings.index]
    if missing_risk:
        raise InputError("risk.loadings", "has no row for this exposure key", asset=missing_risk[0])

    overlays = list(overlays)
    names = [o.name for o in overlays]
    if len(set(names)) != len(names):
        raise InputError("overlays", "lists an instrument twice")
    for name in portfolio.overlay_contracts.index:
        if name not in names:
            raise InputError("overlay_contracts", "is held but not described in overlays", asset=name)
    for inst in overlays:
        for key in inst.exposure:
            if key not in keys:
                raise InputError(f"overlays[{inst.name}].exposure", "maps to an unknown exposure key", asset=key)

    lots = portfolio.lots
    per_asset = lots.groupby("asset").size()
    most = int(per_asset.max()) if len(per_asset) else 0
    slots = max(1, most) if lot_slots is None else int(lot_slots)
    if slots < most:
        raise InputError("lot_slots", f"is {slots} but asset holds {most} lots", asset=str(per_asset.idxmax()))

    n, q = len(assets), len(overlays)
    tradeable = pd.Index(assets).isin(market.prices.index) & ~pd.Index(assets).isin(portfolio.untradeable_usd.index)
    at_market = market.prices.index.get_indexer(assets)  # market position per asset, -1 if unpriced

    def market_values(series: pd.Series, missing: float) -> np.ndarray:
        """``series`` (aligned with ``market.prices``) in universe order, ``missing`` where unpriced."""
        values = np.full(n, missing)
        values[at_market >= 0] = series.to_numpy(dtype=float)[at_market[at_market >= 0]]
        return values

    price = market_values(market.prices, 1.0)

    position = pd.Index(assets)
    asset_of_lot = position.get_indexer(lots["asset"])
    slot = asset_of_lot * slots + lots.groupby("asset", sort=False).cumcount().to_numpy()
    lot_ids = np.full(n * slots, "", dtype=object)
    lot_quantity = np.zeros(n * slots)
    lot_basis = np.zeros(n * slots)
    lot_acquired = np.full(n * slots, np.datetime64("NaT"), dtype="datetime64[ns]")
    lot_ids[slot] = lots["lot_id"].to_numpy(dtype=object)
    lot_quantity[slot] = lots["quantity"].to_numpy(dtype=float)
    lot_basis[slot] = lots["cost_basis"].to_numpy(dtype=float)
    lot_acquired[slot] = lots["acquired"].to_numpy(dtype="datetime64[ns]")
    holding_usd = lot_quantity.reshape(n, slots).sum(axis=1) * price
    untradeable_at = position.get_indexer(portfolio.untradeable_usd.index)
    np.add.at(holding_usd, untradeable_at, portfolio.untradeable_usd.to_numpy(dtype=float))

    nav = float(holding_usd.sum() + portfolio.cash_usd + settings.cash_flow_usd)
    if not nav > 0:
        raise InputError("cash_flow_usd", f"leaves a net asset value of {nav:,.2f}; it must stay positive")
    date = market.date
    slot_price = np.repeat(price, slots)
    lot_value = lot_quantity * slot_price / nav
    occupied = lot_ids != ""
    held_days = (np.datetime64(date, "ns") - lot_acquired).astype("timedelta64[D]").astype(float)
    held_days[~occupied] = np.inf
    long_term = occupied & (held_days > tax.long_term_days)
    rate = np.where(long_term, tax.long_term_rate, tax.short_term_rate)
    gain = np.where(occupied, 1.0 - lot_basis / slot_price, 0.0)
    lot_tax = rate * gain
    lot_tax_cost = tax.realization_cost(long_term) * gain
    lot_wait_cost = np.where(occupied, tax.wait_cost(gain, held_days), 0.0)
    tax_offset, carry_value = year_to_date(portfolio.realized_gain_usd, tax, nav)

    no_trade = restrictions.flag("no_trade", assets) | ~tradeable
    no_buy = no_trade | restrictions.flag("no_buy", assets)
    no_sell = no_trade | restrictions.flag("no_sell", assets)
    wash_group, group_codes = _wash_groups(assets, tax)
    sell_ok = np.repeat(~no_sell, slots) & occupied
    if settings.wash_sale:
        no_buy |= _recent_loss_sale(portfolio, wash_group, group_codes, date, tax)
        sell_ok &= ~_bought_in_window(portfolio, wash_group, group_codes, lot_ids, lot_acquired, date, tax) | (gain >= 0)
    lot_sell_max = np.where(sell_ok, lot_value, 0.0)

    def cap(values_usd: np.ndarray) -> np.ndarray:
        return np.minimum(values_usd / nav, UNLIMITED)

    trade_max = cap(restrictions.size("max_trade_usd", assets))
    buy_max = np.where(no_buy, 0.0, trade_max)
    allow_short = restrictions.flag("allow_short", assets) & ~no_sell
    short_max = np.where(allow_short, cap(restrictions.size("max_short_usd", assets)), 0.0)

    vol = market_values(market.volatility, 0.0)
    adv = market_values(market.adv_usd, np.inf)
    impact = np.where(tradeable, settings.impact_eta * vol / adv * nav, 0.0)
    half_spread = np.where(tradeable, market_values(market.half_spread, 0.0), 0.0)
    commission = np.where(tradeable, market_values(market.commission, 0.0), 0.0)

    risk = market.risk
    loadings = risk.loadings.reindex(keys).to_numpy(dtype=float)
    factor_root = risk.factor_root() @ loadings.T
    specific_sd = np.sqrt(risk.specific_var.reindex(keys).to_numpy(dtype=float))

    key_index = {k: i for i, k in enumerate(keys)}
    overlay_exposure = np.zeros((len(keys), q))
    for j, inst in enumerate(overlays):
        for key, beta in inst.exposure.items():
            overlay_exposure[key_index[key], j] = beta
    notional = np.array([o.notional_per_contract_usd for o in overlays], dtype=float)
    contracts = portfolio.overlay_contracts.reindex(names).fillna(0.0).to_numpy(dtype=float)
    overlay0 = contracts * notional / nav

    shape = ProblemShape(
        assets=tuple(assets),
        asset_keys=tuple(classes.astype(str)),
        keys=tuple(keys),
        n_factors=market.risk.loadings.shape[1],
        lot_slots=slots,
        overlays=tuple(names),
        soft_bands=settings.bands == "soft",
        shorts=bool(np.any(short_max > 0)),
        trade_caps=bool(np.any(trade_max < UNLIMITED)),
        tax_netting=portfolio.realized_gain_usd is not None,
    )
    return ProblemData(
        shape=shape,
        date=date,
        nav_usd=nav,
        price=price,
        weight0=holding_usd / nav,
        cash0=(portfolio.cash_usd + settings.cash_flow_usd) / nav,
        cash_min=max(settings.min_cash_usd / nav, settings.min_cash_weight),
        target=targets.weight.to_numpy(dtype=float),          # keys are the targets' own order
        band_lower=targets.band_lower.to_numpy(dtype=float),
        band_upper=targets.band_upper.to_numpy(dtype=float),
        factor_root=factor_root,
        specific_sd=specific_sd,
        impact=impact,
        half_spread=half_spread,
        commission=commission,
        lot_ids=lot_ids,
        wash_group=wash_group,
        lot_value=lot_value,
        lot_quantity=lot_quantity,
        lot_basis=lot_basis,
        lot_long_term=long_term,
        lot_tax=lot_tax,
        lot_tax_cost=lot_tax_cost,
        lot_wait_cost=lot_wait_cost,
        tax_offset=tax_offset,
        carry_value=carry_value,
        lot_sell_max=lot_sell_max,
        buy_max=buy_max,
        trade_max=trade_max,
        short_max=short_max,
        overlay_exposure=overlay_exposure,
        overlay0=overlay0,
        overlay_margin=np.array([o.initial_margin for o in overlays], dtype=float),
        overlay_cost=np.array([o.cost_per_contract_usd for o in overlays], dtype=float) / notional if q else np.zeros(0),
        overlay_notional_usd=notional,
        overlay_max=np.maximum(np.minimum(np.array([o.max_notional_usd for o in overlays], dtype=float) / nav,
                                          UNLIMITED), np.abs(overlay0)),
        overlay_holding_cost=np.array([o.holding_cost for o in overlays], dtype=float),
        overlay_gross_limit=max(settings.overlay_gross_limit, float(np.abs(overlay0).sum())),
        settings=settings,
        tax=tax,
    )


def year_to_date(realized_gain_usd: float | None, tax: TaxRules, nav: float) -> tuple[float, float]:
    """``(tax_offset, carry_value)`` of the tax term's netting (see :mod:`optimizer.terms.tax`).

    The year's gains so far plus the ordinary-income offset still available are what a
    loss sold now can absorb; they are valued at the mean of the short- and long-term
    realization costs (the kink of a convex approximation, not an exact netting).
    """
    if realized_gain_usd is None:
        return 0.0, 1.0
    rate = float(tax.realization_cost(np.array([False, True])).mean())
    room_usd = realized_gain_usd + tax.ordinary_offset_usd
    return rate * room_usd / nav, tax.carry_value


def _check_known(portfolio: Portfolio, assets: list[str], market: Market, untradeable: list[str]) -> None:
    held = set(portfolio.lots["asset"])
    unpriced = sorted(held - set(market.prices.index))
    if unpriced:
        raise InputError("lots.asset", "has no price in the market snapshot", asset=unpriced[0])
    outside = sorted((held | set(untradeable)) - set(assets))
    if outside:
        field = "lots.asset" if outside[0] in held else "untradeable_usd"
        raise InputError(field, "is not in the universe", asset=outside[0])


def _wash_groups(assets: list[str], tax: TaxRules) -> tuple[np.ndarray, dict[str, int]]:
    """Per asset, an integer code of its wash-sale group (:meth:`TaxRules.wash_group`), and
    the codes by group name."""
    codes: dict[str, int] = {}
    return np.array([codes.setdefault(tax.wash_group(a), len(codes)) for a in assets], dtype=int), codes


def _recent_loss_sale(portfolio: Portfolio, wash_group: np.ndarray, codes: dict[str, int], date: pd.Timestamp,
                      tax: TaxRules) -> np.ndarray:
    """Assets that may not buy: a member of their wash-sale group sold at a loss within the window."""
    blocked_groups = [codes[tax.wash_group(str(asset))] for asset, when in portfolio.recent_loss_sales.items()
                      if pd.notna(when) and 0 <= (date - pd.Timestamp(when)).days <= tax.wash_sale_days
                      and tax.wash_group(str(asset)) in codes]
    return np.isin(wash_group, blocked_groups)


def _bought_in_window(portfolio: Portfolio, wash_group: np.ndarray, codes: dict[str, int], lot_ids: np.ndarray,
                      lot_acquired: np.ndarray, date: pd.Timestamp, tax: TaxRules) -> np.ndarray:
    """Per lot slot: its wash-sale group bought something other than this lot within the window
    before ``date`` (a lot still held, or a buy in ``Portfolio.recent_buys``), so a loss sale
    of the slot would be a wash sale."""
    slot_group = np.repeat(wash_group, len(lot_ids) // max(len(wash_group), 1))
    window = np.timedelta64(tax.wash_sale_days, "D")
    today = np.datetime64(date, "ns")
    age = today - lot_acquired
    bought = {(int(slot_group[k]), str(lot_ids[k]))
              for k in np.nonzero((lot_ids != "") & (age >= np.timedelta64(0)) & (age <= window))[0]}
    recent = portfolio.recent_buys
    if len(recent):
        age = today - recent["acquired"].to_numpy(dtype="datetime64[ns]")
        inside = recent[(age >= np.timedelta64(0)) & (age <= window)]
        for asset, lot_id in inside[["asset", "lot_id"]].itertuples(index=False):
            group = codes.get(tax.wash_group(asset))
            if group is not None:
                bought.add((group, lot_id or f"sold {asset} lot"))
    blocked = np.zeros(len(lot_ids), dtype=bool)
    if not bought:
        return blocked
    by_group: dict[int, set[str]] = {}
    for group, lot_id in bought:
        by_group.setdefault(group, set()).add(lot_id)
    for k in np.nonzero(lot_ids != "")[0]:
        blocked[k] = bool(by_group.get(int(slot_group[k]), set()) - {str(lot_ids[k])})
    return blocked
