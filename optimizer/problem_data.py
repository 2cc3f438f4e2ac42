"""The validated inputs of one decision as numpy arrays, every amount a fraction of NAV.

``prepare`` is the single place where the pandas-level inputs become numbers: the
program writes them into its parameters, the reference formulation builds constants from
them, and the result prices trades with them. Lots are laid out in *slots*: asset ``i``
owns slots ``i*L .. i*L+L-1``; empty slots have zero value, so accounts with different
lot counts share one problem shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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

    def __hash__(self) -> int:
        """The fields' hash, computed once (a shape is looked up several times per solve)."""
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = hash(tuple(getattr(self, name) for name in self.__dataclass_fields__))
            object.__setattr__(self, "_hash", cached)
        return cached

    def __getstate__(self) -> dict:
        """Pickled without the kept hash (string hashes differ between processes)."""
        state = dict(self.__dict__)
        state.pop("_hash", None)
        return state

    @property
    def n_assets(self) -> int:
        return len(self.assets)

    @property
    def n_lots(self) -> int:
        return len(self.assets) * self.lot_slots

    @cached_property
    def asset_key_position(self) -> np.ndarray:
        """Per asset, the position of its exposure key in ``keys``."""
        index = {k: i for i, k in enumerate(self.keys)}
        return np.array([index[key] for key in self.asset_keys], dtype=int)

    @cached_property
    def exposure_matrix(self) -> sp.csr_matrix:
        """``B`` (keys x assets, sparse): 1 where an asset belongs to a key."""
        return sp.csr_matrix((np.ones(self.n_assets), (self.asset_key_position, np.arange(self.n_assets))),
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


#: Shapes seen lately, each kept once (see :func:`known_shape`).
_SHAPES: dict[ProblemShape, ProblemShape] = {}
_MAX_SHAPES = 64


def known_shape(shape: ProblemShape) -> ProblemShape:
    """The one kept instance equal to ``shape`` (``shape`` itself if new): repeated decisions
    then share one shape object, so comparing it with a rebalancer's key is an identity check
    (a full comparison walks every asset name) and its cached matrices are built once."""
    found = _SHAPES.get(shape)
    if found is not None:
        return found
    if len(_SHAPES) >= _MAX_SHAPES:
        _SHAPES.clear()
    _SHAPES[shape] = shape
    return shape


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

    @cached_property
    def exposure0(self) -> np.ndarray:
        """Current exposures per key (holdings plus overlay), NAV fraction."""
        held = np.bincount(self.shape.asset_key_position, weights=self.weight0, minlength=len(self.shape.keys))
        return held + self.overlay_exposure @ self.overlay0  # = B @ weight0 + A @ overlay0

    def with_bounds(self, *, buy_max: np.ndarray | None = None, lot_sell_max: np.ndarray | None = None) -> "ProblemData":
        """A copy with tightened trade bounds (used by the wash-sale second pass)."""
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

    The work is done by named steps, each a function that can be called and tested alone:
    :func:`check_types` (validate), :func:`align` (asset order and cross-checks),
    :func:`lots_to_slots`, :func:`lot_taxes`, :func:`trade_bounds`, :func:`trade_costs`,
    :func:`risk_arrays` and :func:`overlay_arrays`.
    """
    overlays = check_types(portfolio, targets, market, settings, tax, overlays, restrictions)
    layout = align(portfolio, targets, market, overlays, universe)
    lots = lots_to_slots(portfolio, layout, lot_slots)
    nav = float(lots.holding_usd.sum() + portfolio.cash_usd + settings.cash_flow_usd)
    if not nav > 0:
        raise InputError("cash_flow_usd", f"leaves a net asset value of {nav:,.2f}; it must stay positive")
    taxes = lot_taxes(lots, layout.price, market.date, tax)
    bounds = trade_bounds(portfolio, layout, lots, taxes, market.date, settings, tax,
                          restrictions or Restrictions(), nav)
    factor_root, specific_sd = risk_arrays(market.risk, layout.keys)
    tax_offset, carry_value = year_to_date(portfolio.realized_gain_usd, tax, nav)
    shape = known_shape(ProblemShape(
        assets=layout.assets,
        asset_keys=layout.asset_keys,
        keys=layout.keys,
        n_factors=market.risk.loadings.shape[1],
        lot_slots=lots.slots,
        overlays=tuple(o.name for o in overlays),
        soft_bands=settings.bands == "soft",
        shorts=bool(np.any(bounds["short_max"] > 0)),
        trade_caps=bool(np.any(bounds["trade_max"] < UNLIMITED)),
        tax_netting=portfolio.realized_gain_usd is not None,
    ))
    return ProblemData(
        shape=shape,
        date=market.date,
        nav_usd=nav,
        price=layout.price,
        weight0=lots.holding_usd / nav,
        cash0=(portfolio.cash_usd + settings.cash_flow_usd) / nav,
        cash_min=max(settings.min_cash_usd / nav, settings.min_cash_weight),
        target=targets.weight.to_numpy(dtype=float),          # keys are the targets' own order
        band_lower=targets.band_lower.to_numpy(dtype=float),
        band_upper=targets.band_upper.to_numpy(dtype=float),
        factor_root=factor_root,
        specific_sd=specific_sd,
        **trade_costs(market, layout, settings, nav),
        lot_ids=lots.lot_ids,
        lot_value=lots.quantity * np.repeat(layout.price, lots.slots) / nav,
        lot_quantity=lots.quantity,
        lot_basis=lots.basis,
        **taxes.arrays(),
        tax_offset=tax_offset,
        carry_value=carry_value,
        **bounds,
        **overlay_arrays(portfolio, layout.keys, overlays, nav, settings),
        settings=settings,
        tax=tax,
    )


def check_types(portfolio: Portfolio, targets: Targets, market: Market, settings: Settings, tax: TaxRules,
                overlays: Sequence[OverlayInstrument], restrictions: Restrictions | None) -> list[OverlayInstrument]:
    """Step 1, validate: every input has its model type (else ``InputError`` naming the
    field); returns ``overlays`` as a list."""
    for name, value, kind in (("portfolio", portfolio, Portfolio), ("targets", targets, Targets),
                              ("market", market, Market), ("settings", settings, Settings), ("tax", tax, TaxRules)):
        if not isinstance(value, kind):
            raise InputError(name, f"expected {kind.__name__}, got {type(value).__name__}")
    if restrictions is not None and not isinstance(restrictions, Restrictions):
        raise InputError("restrictions", f"expected Restrictions, got {type(restrictions).__name__}")
    try:
        listed = None if isinstance(overlays, (str, bytes)) else list(overlays)
    except TypeError:
        listed = None
    if listed is None or not all(isinstance(o, OverlayInstrument) for o in listed):
        raise InputError("overlays", "expected a sequence of OverlayInstrument")
    return listed


@dataclass(frozen=True)
class Layout:
    """Step 2's answer: the asset order, each asset's exposure key, the keys, and where each
    asset and lot sits (integer positions, so later steps never look names up again)."""

    assets: tuple[str, ...]
    asset_keys: tuple[str, ...]     # assets: exposure key
    keys: tuple[str, ...]           # the targets' keys, in the targets' order
    at_market: np.ndarray           # assets: row in ``market.prices``, -1 if unpriced
    tradeable: np.ndarray           # assets: priced and not held as untradeable
    untradeable_at: np.ndarray      # position of each ``portfolio.untradeable_usd`` entry
    lot_asset: np.ndarray           # lots (portfolio order): position of the lot's asset
    price: np.ndarray               # assets: price per share (1.0 where unpriced: value-quoted)

    def market_values(self, series: pd.Series, missing: float) -> np.ndarray:
        """``series`` (aligned with ``market.prices``) in asset order, ``missing`` where unpriced."""
        return _in_asset_order(series, self.at_market, missing)


class _Labels:
    """Every label :func:`align` reads, for recognising a decision labelled like the last one
    (e.g. the next date of one account): equal labels give the same layout but its prices."""

    def __init__(self, portfolio: Portfolio, targets: Targets, market: Market,
                 overlays: Sequence[OverlayInstrument], universe: Sequence[str] | None):
        self.indexes = (portfolio.untradeable_usd.index, market.prices.index, market.asset_class.index,
                        targets.weight.index, market.risk.loadings.index, portfolio.overlay_contracts.index)
        # copies: a caller may change a frame in place between decisions (indexes cannot change)
        self.series = (portfolio.lots["asset"].copy(), market.asset_class.copy())
        self.small = (None if universe is None else tuple(universe),
                      tuple((o.name, tuple(o.exposure)) for o in overlays))

    def __eq__(self, other) -> bool:
        return (isinstance(other, _Labels) and self.small == other.small
                and all(a is b or a.equals(b) for a, b in zip(self.indexes, other.indexes))
                and all(a is b or (a.index.equals(b.index) and a.equals(b)) for a, b in zip(self.series, other.series)))


#: The last decision's labels and layout (:func:`align` reuses the layout for equal labels).
_last_layout: tuple[_Labels, "Layout"] | None = None


def align(portfolio: Portfolio, targets: Targets, market: Market, overlays: Sequence[OverlayInstrument],
          universe: Sequence[str] | None) -> Layout:
    """Step 2, align: fix the asset order (``universe``, default the market's assets then
    untradeable holdings) and check that whatever is held, priced, classified, targeted and
    risk-modelled is known to the rest (``InputError`` naming the field and the asset).

    A decision labelled exactly like the previous one (the same assets, classes, keys, lots'
    assets in the same order, overlays and universe) reuses its layout, checks included, and
    reads only the prices and the lots' dates afresh."""
    global _last_layout
    labels = _Labels(portfolio, targets, market, overlays, universe)
    last = _last_layout
    if last is not None and last[0] == labels:
        layout = last[1]
        _check_lot_dates(portfolio, market)
        return replace(layout, price=_prices(market, layout.at_market))
    layout = _align(portfolio, targets, market, overlays, universe)
    _last_layout = (labels, layout)
    return layout


def _check_lot_dates(portfolio: Portfolio, market: Market) -> None:
    if len(portfolio.lots) and (portfolio.lots["acquired"].to_numpy(dtype="datetime64[ns]")
                                > np.datetime64(market.date, "ns")).any():
        check_lots_dated_by(portfolio.lots, market.date)  # raises, naming the first late lot


def _in_asset_order(series: pd.Series, at_market: np.ndarray, missing: float) -> np.ndarray:
    """``series`` (aligned with ``market.prices``) at the rows ``at_market``, ``missing`` where -1."""
    priced = at_market >= 0
    values = np.full(len(at_market), missing)
    values[priced] = series.to_numpy(dtype=float)[at_market[priced]]
    return values


def _prices(market: Market, at_market: np.ndarray) -> np.ndarray:
    """Price per share in asset order (1.0 where unpriced: value-quoted)."""
    return _in_asset_order(market.prices, at_market, 1.0)


def _align(portfolio: Portfolio, targets: Targets, market: Market, overlays: Sequence[OverlayInstrument],
           universe: Sequence[str] | None) -> Layout:
    # plain dicts, not pandas indexes: a decision builds them once and they cost microseconds
    untradeable = _names(portfolio.untradeable_usd.index)
    market_row = {a: i for i, a in enumerate(_names(market.prices.index))}
    if universe is None:
        assets = list(market_row) + [a for a in untradeable if a not in market_row]
    else:
        assets = [str(a) for a in universe]
    position = {a: i for i, a in enumerate(assets)}
    if len(position) != len(assets):
        raise InputError("universe", "lists an asset twice")
    lot_codes, held = pd.factorize(portfolio.lots["asset"])  # each held asset once
    held = _names(held)
    unpriced = [a for a in held if a not in market_row]
    if unpriced:
        raise InputError("lots.asset", "has no price in the market snapshot", asset=min(unpriced))
    held_at = np.array([position.get(a, -1) for a in held], dtype=int)
    lot_asset = held_at[lot_codes] if len(lot_codes) else np.zeros(0, dtype=int)
    untradeable_at = np.array([position.get(a, -1) for a in untradeable], dtype=int)
    outside = sorted({a for a, at in zip(held, held_at) if at < 0} |
                     {a for a, at in zip(untradeable, untradeable_at) if at < 0})
    if outside:
        field = "lots.asset" if outside[0] in set(held) else "untradeable_usd"
        raise InputError(field, "is not in the universe", asset=outside[0])
    _check_lot_dates(portfolio, market)

    class_of = dict(zip(_names(market.asset_class.index), _names(market.asset_class)))
    unclassified = [a for a in assets if not isinstance(class_of.get(a), str)]
    if unclassified:
        raise InputError("asset_class", "has no exposure key for this asset", asset=unclassified[0])
    asset_keys = tuple(class_of[a] for a in assets)
    keys = tuple(_names(targets.weight.index))
    known = set(keys)
    for asset, key in zip(assets, asset_keys):
        if key not in known:
            raise InputError("targets.weight", f"has no target for exposure key {key!r}", asset=asset)
    risk_keys = set(_names(market.risk.loadings.index))
    missing_risk = [k for k in keys if k not in risk_keys]
    if missing_risk:
        raise InputError("risk.loadings", "has no row for this exposure key", asset=missing_risk[0])
    names = [o.name for o in overlays]
    if len(set(names)) != len(names):
        raise InputError("overlays", "lists an instrument twice")
    for name in portfolio.overlay_contracts.index:
        if name not in names:
            raise InputError("overlay_contracts", "is held but not described in overlays", asset=name)
    for inst in overlays:
        for key in inst.exposure:
            if key not in known:
                raise InputError(f"overlays[{inst.name}].exposure", "maps to an unknown exposure key", asset=key)

    at_market = np.fromiter((market_row.get(a, -1) for a in assets), dtype=int, count=len(assets))
    tradeable = at_market >= 0
    tradeable[untradeable_at] = False
    price = _prices(market, at_market)
    return Layout(assets=tuple(assets), asset_keys=asset_keys, keys=keys, at_market=at_market,
                  tradeable=tradeable, untradeable_at=untradeable_at, lot_asset=lot_asset, price=price)


@dataclass(frozen=True)
class LotSlots:
    """Step 3's answer: lots laid out in slots (asset ``i`` owns ``i*slots .. i*slots+slots-1``)."""

    slots: int
    lot_ids: np.ndarray       # slots: lot id or "" (object)
    quantity: np.ndarray      # slots: shares
    basis: np.ndarray         # slots: cost basis per share
    acquired: np.ndarray      # slots: datetime64[ns], NaT where empty
    holding_usd: np.ndarray   # assets: value held (lots at ``Layout.price`` plus untradeable holdings)

    @property
    def occupied(self) -> np.ndarray:
        return self.lot_ids != ""


def lots_to_slots(portfolio: Portfolio, layout: Layout, lot_slots: int | None = None) -> LotSlots:
    """Step 3, lots to slots: an asset's k-th lot (in the portfolio's order) fills its k-th
    slot; ``lot_slots`` is the slots per asset (default: the most lots any asset holds)."""
    lots = portfolio.lots
    n = len(layout.assets)
    per_asset = np.bincount(layout.lot_asset, minlength=n)
    most = int(per_asset.max(initial=0))
    if lot_slots is not None and (isinstance(lot_slots, bool) or not isinstance(lot_slots, (int, np.integer))
                                  or lot_slots < 1):
        raise InputError("lot_slots", f"is {lot_slots!r}; expected a whole number of slots per asset, at least 1")
    slots = max(1, most) if lot_slots is None else int(lot_slots)
    if slots < most:
        raise InputError("lot_slots", f"is {slots} but asset holds {most} lots",
                         asset=layout.assets[int(per_asset.argmax())])
    filled = fill_slots(layout.lot_asset, slots, layout.price, lots["lot_id"].to_numpy(dtype=object),
                        lots["quantity"].to_numpy(dtype=float), lots["cost_basis"].to_numpy(dtype=float),
                        lots["acquired"].to_numpy(dtype="datetime64[ns]"))
    np.add.at(filled.holding_usd, layout.untradeable_at, portfolio.untradeable_usd.to_numpy(dtype=float))
    return filled


def fill_slots(lot_asset: np.ndarray, slots: int, price: np.ndarray, lot_ids: np.ndarray, quantity: np.ndarray,
               basis: np.ndarray, acquired: np.ndarray) -> LotSlots:
    """Lots (each with its asset's position ``lot_asset``) in slots: an asset's k-th lot, in the
    given order, fills its k-th slot; ``holding_usd`` is the lots' value at ``price`` (per asset).
    Every asset must hold at most ``slots`` lots."""
    n = len(price)
    per_asset = np.bincount(lot_asset, minlength=n)
    order = np.argsort(lot_asset, kind="stable")
    first_of_asset = np.cumsum(per_asset) - per_asset
    rank = np.empty(len(order), dtype=int)
    rank[order] = np.arange(len(order)) - first_of_asset[lot_asset[order]]
    slot = lot_asset * slots + rank
    slot_ids = np.full(n * slots, "", dtype=object)
    slot_quantity = np.zeros(n * slots)
    slot_basis = np.zeros(n * slots)
    slot_acquired = np.full(n * slots, np.datetime64("NaT"), dtype="datetime64[ns]")
    slot_ids[slot] = lot_ids
    slot_quantity[slot] = quantity
    slot_basis[slot] = basis
    slot_acquired[slot] = acquired
    holding_usd = slot_quantity.reshape(n, slots).sum(axis=1) * price
    return LotSlots(slots=slots, lot_ids=slot_ids, quantity=slot_quantity, basis=slot_basis, acquired=slot_acquired,
                    holding_usd=holding_usd)


@dataclass(frozen=True)
class LotTaxes:
    """Step 4's answer, per lot slot: the gain and what selling it today costs in tax."""

    gain: np.ndarray        # per dollar sold, ``1 - basis / price`` (negative at a loss; 0 if empty)
    held_days: np.ndarray   # days held (inf where empty)
    long_term: np.ndarray   # bool
    tax: np.ndarray         # tax due now per dollar sold, rate * gain
    tax_cost: np.ndarray    # valued cost per dollar sold (TaxRules.realization_cost * gain)
    wait_cost: np.ndarray   # least charge per dollar sold now of a lot soon long-term (TaxRules.wait_cost)

    def arrays(self) -> dict[str, np.ndarray]:
        """The :class:`ProblemData` fields of this step."""
        return dict(lot_long_term=self.long_term, lot_tax=self.tax, lot_tax_cost=self.tax_cost,
                    lot_wait_cost=self.wait_cost)


def lot_taxes(lots: LotSlots, price: np.ndarray, date: pd.Timestamp, tax: TaxRules) -> LotTaxes:
    """Step 4, taxes: per slot, the gain, the holding period's term and the tax of a sale on ``date``."""
    occupied = lots.occupied
    slot_price = np.repeat(price, lots.slots)
    held_days = (np.datetime64(date, "ns") - lots.acquired).astype("timedelta64[D]").astype(float)
    held_days[~occupied] = np.inf
    long_term = occupied & (held_days > tax.long_term_days)
    gain = np.where(occupied, 1.0 - lots.basis / slot_price, 0.0)
    rate = np.where(long_term, tax.long_term_rate, tax.short_term_rate)
    return LotTaxes(gain=gain, held_days=held_days, long_term=long_term, tax=rate * gain,
                    tax_cost=tax.realization_cost(long_term) * gain,
                    wait_cost=np.where(occupied, tax.wait_cost(gain, held_days), 0.0))


def trade_bounds(portfolio: Portfolio, layout: Layout, lots: LotSlots, taxes: LotTaxes, date: pd.Timestamp,
                 settings: Settings, tax: TaxRules, restrictions: Restrictions, nav: float) -> dict[str, np.ndarray]:
    """Step 5, bounds (NAV fractions): the largest sale per slot, buy, short and gross trade
    per asset, from the restrictions, tradeability and, with ``settings.wash_sale``, the
    wash-sale window; plus each asset's wash-sale group code."""
    assets = list(layout.assets)
    no_trade = restrictions.flag("no_trade", assets) | ~layout.tradeable
    no_buy = no_trade | restrictions.flag("no_buy", assets)
    no_sell = no_trade | restrictions.flag("no_sell", assets)
    wash_group, group_codes = _wash_groups(assets, tax)
    sell_ok = np.repeat(~no_sell, lots.slots) & lots.occupied
    if settings.wash_sale:
        no_buy |= _recent_loss_sale(portfolio, wash_group, group_codes, date, tax)
        bought = _bought_in_window(portfolio, wash_group, group_codes, lots.lot_ids, lots.acquired, date, tax)
        sell_ok &= ~bought | (taxes.gain >= 0)
    value = lots.quantity * np.repeat(layout.price, lots.slots) / nav
    trade_max = np.minimum(restrictions.size("max_trade_usd", assets) / nav, UNLIMITED)
    allow_short = restrictions.flag("allow_short", assets) & ~no_sell
    return dict(
        lot_sell_max=np.where(sell_ok, value, 0.0),
        wash_group=wash_group,
        buy_max=np.where(no_buy, 0.0, trade_max),
        trade_max=trade_max,
        short_max=np.where(allow_short, np.minimum(restrictions.size("max_short_usd", assets) / nav, UNLIMITED), 0.0),
    )


def trade_costs(market: Market, layout: Layout, settings: Settings, nav: float) -> dict[str, np.ndarray]:
    """Step 6, costs per asset: impact per NAV fraction squared (``impact_eta * vol / ADV *
    NAV``), half-spread and commission per NAV fraction traded; 0 where untradeable."""
    tradeable = layout.tradeable
    vol = layout.market_values(market.volatility, 0.0)
    adv = layout.market_values(market.adv_usd, np.inf)
    return dict(
        impact=np.where(tradeable, settings.impact_eta * vol / adv * nav, 0.0),
        half_spread=np.where(tradeable, layout.market_values(market.half_spread, 0.0), 0.0),
        commission=np.where(tradeable, layout.market_values(market.commission, 0.0), 0.0),
    )


def risk_arrays(risk, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Step 7, risk: ``factor_root`` (factors x keys, ``R @ F.T`` so factor risk is
    ``||factor_root @ d||^2``) and the specific volatility per key."""
    loadings, specific_var = risk.loadings, risk.specific_var
    if _names(loadings.index) != list(keys):
        loadings, specific_var = loadings.reindex(list(keys)), specific_var.reindex(list(keys))
    return risk.factor_root() @ loadings.to_numpy(dtype=float).T, np.sqrt(specific_var.to_numpy(dtype=float))


def overlay_arrays(portfolio: Portfolio, keys: Sequence[str], overlays: Sequence[OverlayInstrument], nav: float,
                   settings: Settings) -> dict[str, np.ndarray | float]:
    """Step 8, overlays: exposure per unit notional (keys x overlays), the current notional,
    margin, costs and limits (NAV fractions)."""
    key_index = {k: i for i, k in enumerate(keys)}
    q = len(overlays)
    if not q:
        empty = np.zeros(0)
        return dict(overlay_exposure=np.zeros((len(keys), 0)), overlay0=empty, overlay_margin=empty,
                    overlay_cost=empty, overlay_notional_usd=empty, overlay_max=empty, overlay_holding_cost=empty,
                    overlay_gross_limit=max(settings.overlay_gross_limit, 0.0))
    exposure = np.zeros((len(keys), q))
    for j, inst in enumerate(overlays):
        for key, beta in inst.exposure.items():
            exposure[key_index[key], j] = beta
    notional = np.array([o.notional_per_contract_usd for o in overlays], dtype=float)
    contracts = portfolio.overlay_contracts.reindex([o.name for o in overlays]).fillna(0.0).to_numpy(dtype=float)
    overlay0 = contracts * notional / nav
    max_notional = np.array([o.max_notional_usd for o in overlays], dtype=float) / nav
    return dict(
        overlay_exposure=exposure,
        overlay0=overlay0,
        overlay_margin=np.array([o.initial_margin for o in overlays], dtype=float),
        overlay_cost=np.array([o.cost_per_contract_usd for o in overlays], dtype=float) / notional if q else np.zeros(0),
        overlay_notional_usd=notional,
        overlay_max=np.maximum(np.minimum(max_notional, UNLIMITED), np.abs(overlay0)),
        overlay_holding_cost=np.array([o.holding_cost for o in overlays], dtype=float),
        overlay_gross_limit=max(settings.overlay_gross_limit, float(np.abs(overlay0).sum())),
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


def _names(labels) -> list[str]:
    """Labels (an Index or Series of strings) as a list of Python strings, converted in C."""
    return [str(a) for a in labels.to_numpy(dtype=object).tolist()]


def _wash_groups(assets: list[str], tax: TaxRules) -> tuple[np.ndarray, dict[str, int]]:
    """Per asset, an integer code of its wash-sale group (:meth:`TaxRules.wash_group`), and
    the codes by group name."""
    if not tax.identical_groups:  # every asset its own group
        return np.arange(len(assets)), {a: i for i, a in enumerate(assets)}
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
    """:func:`blocked_by_window_buys` with the portfolio's ``recent_buys``."""
    slot_group = np.repeat(wash_group, len(lot_ids) // max(len(wash_group), 1))
    recent = portfolio.recent_buys
    if not len(recent):
        none = np.zeros(0, dtype=object)
        return blocked_by_window_buys(slot_group, codes, lot_ids, lot_acquired, none, none,
                                      np.zeros(0, dtype="datetime64[ns]"), date, tax)
    return blocked_by_window_buys(slot_group, codes, lot_ids, lot_acquired, recent["asset"].to_numpy(dtype=object),
                                  recent["lot_id"].to_numpy(dtype=object),
                                  recent["acquired"].to_numpy(dtype="datetime64[ns]"), date, tax)


def blocked_by_window_buys(slot_group: np.ndarray, codes: dict[str, int], lot_ids: np.ndarray,
                           lot_acquired: np.ndarray, recent_asset: np.ndarray, recent_lot_id: np.ndarray,
                           recent_acquired: np.ndarray, date: pd.Timestamp, tax: TaxRules) -> np.ndarray:
    """Per lot slot (its wash-sale group ``slot_group``, ``codes`` numbering the groups): its group
    bought something other than this lot within the window before ``date`` (a lot still held,
    or a recent buy: ``recent_*``, one entry per buy), so a loss sale of the slot would be a
    wash sale. With two or more buys in the group always, with one buy unless that buy is the
    slot's own lot. Empty slots are never blocked."""
    window = np.timedelta64(tax.wash_sale_days, "D")
    today = np.datetime64(date, "ns")
    occupied = lot_ids != ""
    age = today - lot_acquired
    held_recent = occupied & (age >= np.timedelta64(0)) & (age <= window)
    bought: set[tuple[int, object]] = {(int(g), str(i)) for g, i in zip(slot_group[held_recent], lot_ids[held_recent])}
    if len(recent_acquired):
        age = today - recent_acquired
        inside = (age >= np.timedelta64(0)) & (age <= window)   # numpy, not a filtered frame: 1 ms less per decision
        for asset, lot_id in zip(recent_asset[inside].tolist(), recent_lot_id[inside].tolist()):
            group = codes.get(tax.wash_group(asset))
            if group is not None:
                bought.add((group, lot_id or ("unnamed buy", asset)))  # never equal to a held lot's id
    if not bought:
        return np.zeros(len(lot_ids), dtype=bool)
    buys_in_group = np.bincount([g for g, _ in bought], minlength=len(codes))[slot_group]
    blocked = occupied & (buys_in_group >= 1)
    for k in np.nonzero(blocked & (buys_in_group == 1))[0]:
        blocked[k] = (int(slot_group[k]), str(lot_ids[k])) not in bought
    return blocked
