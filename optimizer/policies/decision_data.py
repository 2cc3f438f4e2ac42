"""A backtest decision's :class:`ProblemData` straight from the simulator's arrays and the ledger.

:func:`optimizer.problem_data.prepare` turns a :class:`Market` and a :class:`Portfolio` (pandas
objects) into numbers; for a small book that pandas work costs several times the solve. The
optimizer policy's decisions all have one form: every asset priced, tradeable and its own
exposure key, no overlays, no untradeable holdings, lots already grouped into at most
``lot_slots`` per asset (:mod:`optimizer.policies.lot_groups`), the wash-sale look-back read
off the ledger. :class:`DecisionArrays` computes, for that form, the same arrays ``prepare``
does, with the same numpy expressions (its named steps :func:`lot_taxes`,
:func:`risk_arrays`, :func:`year_to_date`, :func:`overlay_arrays` are called as they are),
so the data is equal bit for bit (``tests/policies/test_decision_data.py`` compares every
field on every decision of backtests that harvest, meet the wash-sale window, carry a
stressed cost model and restrict buys).

Amounts are NAV fractions as in ``prepare``; prices per share; dates ``pd.Timestamp``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.model import Restrictions, RiskModel, Settings, Targets, TaxRules
from optimizer.policies.lot_groups import LotGroups
from optimizer.problem_data import (UNLIMITED, LotSlots, ProblemData, ProblemShape, blocked_by_window_buys, fill_slots,
                                    known_shape, lot_taxes, overlay_arrays, risk_arrays, year_to_date)


@dataclass(frozen=True)
class BookView:
    """What one decision reads off the ledger, as plain values.

    ``cash_usd`` (dollars, >= 0), ``loss_sales`` (``{asset: date of its last loss sale}``),
    ``recent_asset``/``recent_lot_id``/``recent_acquired`` (the buys within the wash-sale
    window: asset name, lot id or ``""``, datetime64[ns] purchase date) and
    ``realized_gain_usd`` (the tax year's net realized gain, dollars).
    """

    cash_usd: float
    loss_sales: dict
    recent_asset: np.ndarray
    recent_lot_id: np.ndarray
    recent_acquired: np.ndarray
    realized_gain_usd: float


class DecisionArrays:
    """Builds the policy's decisions as ``prepare`` would from its Market and Portfolio.

    Parameters
    ----------
    assets:
        The simulator's assets, in its order (each its own exposure key).
    tax:
        The tax rules the optimizer prices.
    restrictions:
        The policy's standing restrictions (e.g. no buys of assets without a target).
    lot_slots:
        Lot slots per asset (the lot groups' most per asset).
    """

    def __init__(self, assets: tuple[str, ...], tax: TaxRules, restrictions: Restrictions, lot_slots: int):
        names = list(assets)
        self.assets = tuple(names)
        self.tax = tax
        self.lot_slots = int(lot_slots)
        n = len(names)
        self._position = {a: i for i, a in enumerate(names)}
        # prepare's trade_bounds, the parts fixed for the policy (every asset priced and tradeable)
        no_trade = restrictions.flag("no_trade", names) | np.zeros(n, dtype=bool)
        self._no_buy = no_trade | restrictions.flag("no_buy", names)
        self._no_sell = no_trade | restrictions.flag("no_sell", names)
        self._trade_size = restrictions.size("max_trade_usd", names)
        self._allow_short = restrictions.flag("allow_short", names) & ~self._no_sell
        self._short_size = restrictions.size("max_short_usd", names)
        if not tax.identical_groups:  # every asset its own group (prepare's _wash_groups)
            self._wash_group, self._group_codes = np.arange(n), {a: i for i, a in enumerate(names)}
        else:
            codes: dict[str, int] = {}
            self._wash_group = np.array([codes.setdefault(tax.wash_group(a), len(codes)) for a in names], dtype=int)
            self._group_codes = codes
        self._risk: tuple[RiskModel, np.ndarray, np.ndarray] | None = None
        self._last_shape: tuple[tuple, ProblemShape] | None = None
        self._code_of = {a: self._group_codes[tax.wash_group(a)] for a in names}
        self._targets: tuple[Targets, tuple[str, ...], np.ndarray, np.ndarray, np.ndarray] | None = None

    def fits(self, targets: Targets) -> bool:
        """Whether ``targets`` has one key per asset, in asset order (the form this builds)."""
        return self._target_arrays(targets)[1] == self.assets

    # -- per decision -----------------------------------------------------------------
    def build(self, date: pd.Timestamp, price: np.ndarray, volatility: np.ndarray, adv_usd: np.ndarray,
              half_spread: np.ndarray, commission: np.ndarray, risk: RiskModel, targets: Targets,
              groups: LotGroups, book: BookView, settings: Settings) -> ProblemData:
        """The decision's data: ``price`` per share, ``volatility`` (the market's), ``adv_usd``,
        ``half_spread`` and ``commission`` per asset in asset order; ``groups`` the lot groups
        (asset positions in this builder's order); ``book`` the ledger's view."""
        n, slots = len(self.assets), self.lot_slots
        price = np.array(price, dtype=float)
        lots = self._slots(groups, price)
        nav = float(lots.holding_usd.sum() + book.cash_usd + settings.cash_flow_usd)
        taxes = lot_taxes(lots, price, date, self.tax)
        bounds = self._bounds(lots, taxes, price, date, settings, book, nav)
        factor_root, specific_sd = self._risk_arrays(risk)
        tax_offset, carry_value = year_to_date(book.realized_gain_usd, self.tax, nav)
        _, keys, target, band_lower, band_upper = self._target_arrays(targets)
        shape = self._shape(keys, risk.loadings.shape[1], settings.bands == "soft",
                            bool(np.any(bounds["short_max"] > 0)), bool(np.any(bounds["trade_max"] < UNLIMITED)))
        tradeable = np.ones(n, dtype=bool)
        return ProblemData(
            shape=shape, date=date, nav_usd=nav, price=price, weight0=lots.holding_usd / nav,
            cash0=(book.cash_usd + settings.cash_flow_usd) / nav,
            cash_min=max(settings.min_cash_usd / nav, settings.min_cash_weight),
            target=target, band_lower=band_lower, band_upper=band_upper,
            factor_root=factor_root, specific_sd=specific_sd,
            impact=np.where(tradeable, settings.impact_eta * np.array(volatility, dtype=float)
                            / np.array(adv_usd, dtype=float) * nav, 0.0),
            half_spread=np.where(tradeable, np.array(half_spread, dtype=float), 0.0),
            commission=np.where(tradeable, np.array(commission, dtype=float), 0.0),
            lot_ids=lots.lot_ids, lot_value=lots.quantity * np.repeat(price, slots) / nav,
            lot_quantity=lots.quantity, lot_basis=lots.basis, **taxes.arrays(),
            tax_offset=tax_offset, carry_value=carry_value, **bounds,
            **overlay_arrays(None, keys, (), nav, settings), settings=settings, tax=self.tax)

    def _shape(self, keys: tuple[str, ...], n_factors: int, soft_bands: bool, shorts: bool,
               trade_caps: bool) -> ProblemShape:
        """prepare's shape (the one kept instance, :func:`known_shape`); the last one again when
        nothing it is made of changed (building and looking one up walks every asset name)."""
        made_of = (keys, n_factors, soft_bands, shorts, trade_caps)
        last = self._last_shape
        if last is not None and last[0][0] is keys and last[0][1:] == made_of[1:]:
            return last[1]
        shape = known_shape(ProblemShape(assets=self.assets, asset_keys=self.assets, keys=keys, n_factors=n_factors,
                                         lot_slots=self.lot_slots, overlays=(), soft_bands=soft_bands, shorts=shorts,
                                         trade_caps=trade_caps, tax_netting=True))
        self._last_shape = (made_of, shape)
        return shape

    def _slots(self, groups: LotGroups, price: np.ndarray) -> LotSlots:
        """prepare's ``lots_to_slots`` for the groups: an asset's k-th group in its k-th slot."""
        return fill_slots(groups.group_asset, self.lot_slots, price, groups.group_id, groups.quantity, groups.basis,
                          groups.acquired)

    def _bounds(self, lots: LotSlots, taxes, price: np.ndarray, date: pd.Timestamp, settings: Settings,
                book: BookView, nav: float) -> dict[str, np.ndarray]:
        """prepare's ``trade_bounds`` (every asset tradeable; the wash-sale look-back from ``book``)."""
        no_buy = self._no_buy.copy()
        sell_ok = np.repeat(~self._no_sell, lots.slots) & lots.occupied
        if settings.wash_sale:
            no_buy |= self._recent_loss_sale(book.loss_sales, date)
            bought = self._bought_in_window(lots.lot_ids, lots.acquired, book, date)
            sell_ok &= ~bought | (taxes.gain >= 0)
        value = lots.quantity * np.repeat(price, lots.slots) / nav
        trade_max = np.minimum(self._trade_size / nav, UNLIMITED)
        return dict(
            lot_sell_max=np.where(sell_ok, value, 0.0),
            wash_group=self._wash_group,
            buy_max=np.where(no_buy, 0.0, trade_max),
            trade_max=trade_max,
            short_max=np.where(self._allow_short, np.minimum(self._short_size / nav, UNLIMITED), 0.0),
        )

    def _recent_loss_sale(self, loss_sales: dict, date: pd.Timestamp) -> np.ndarray:
        """Assets that may not buy: a member of their wash-sale group sold at a loss within the window."""
        if not loss_sales:
            return np.zeros(len(self.assets), dtype=bool)
        tax, codes = self.tax, self._group_codes
        today, day = pd.Timestamp(date).value, 86_400_000_000_000      # ns: ``(date - when).days`` in integers
        blocked = []
        for asset, when in loss_sales.items():
            if not pd.notna(when) or not 0 <= (today - pd.Timestamp(when).value) // day <= tax.wash_sale_days:
                continue
            code = self._code_of.get(asset)
            if code is None and tax.wash_group(str(asset)) in codes:   # an asset outside the book
                code = codes[tax.wash_group(str(asset))]
            if code is not None:
                blocked.append(code)
        return np.isin(self._wash_group, blocked)

    def _bought_in_window(self, lot_ids: np.ndarray, lot_acquired: np.ndarray, book: BookView,
                          date: pd.Timestamp) -> np.ndarray:
        """Per lot slot: its wash-sale group bought something other than this lot within the
        window before ``date``, so a loss sale of the slot would be a wash sale."""
        return blocked_by_window_buys(np.repeat(self._wash_group, self.lot_slots), self._group_codes, lot_ids,
                                      lot_acquired, book.recent_asset, book.recent_lot_id, book.recent_acquired, date,
                                      self.tax)

    def _risk_arrays(self, risk: RiskModel) -> tuple[np.ndarray, np.ndarray]:
        """prepare's ``risk_arrays`` for the assets' keys, kept while the risk model is the same object."""
        if self._risk is None or self._risk[0] is not risk:
            self._risk = (risk, *risk_arrays(risk, self.assets))
        return self._risk[1], self._risk[2]

    def _target_arrays(self, targets: Targets) -> tuple[Targets, tuple[str, ...], np.ndarray, np.ndarray, np.ndarray]:
        """The keys and the target and band arrays of ``targets``, kept while it is the same object."""
        if self._targets is None or self._targets[0] is not targets:
            keys = tuple(str(k) for k in targets.weight.index.to_numpy(dtype=object).tolist())
            self._targets = (targets, keys, targets.weight.to_numpy(dtype=float),
                             targets.band_lower.to_numpy(dtype=float), targets.band_upper.to_numpy(dtype=float))
        return self._targets
