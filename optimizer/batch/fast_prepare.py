"""Book rows to :class:`~optimizer.problem_data.ProblemData` for many plain accounts of one model at once.

The general path builds, per account, a validated :class:`~optimizer.Case` (a ``Portfolio``
with pandas checks, ``Targets``, ``Market``, ``Settings``) and then :func:`optimizer.prepare`
turns it into arrays: ~10-14 ms of pandas per account at 50 assets x 3 lots, ten times the
solver's own time. Most accounts of a nightly book are *plain*: lone (no household), only
lots, restrictions and account columns (no untradeable, overlay, recent-buy or recent-loss
rows), every lot in its model's universe, no frozen asset. For those, everything but the
lots and restrictions is the same for every account of a model, so :class:`ChunkPreparer`:

* makes the model's first plain account through the general path (``CaseBuilder.case`` and
  ``prepare``) and keeps its ``ProblemData`` as the model's template (asset order, keys,
  targets, risk arrays, prices, costs per unit of NAV, wash-sale groups);
* checks each account's lots and numbers with numpy (the checks ``Portfolio`` makes:
  names present, lot ids unique, quantities positive and finite, bases finite and >= 0,
  acquisition dates present and not after the run date; the account's cash, flow, rates and
  year-to-date gain finite) and lays its lots into slots in the account's row order, as
  :func:`optimizer.problem_data.lots_to_slots` does;
* makes the account's :class:`~optimizer.Restrictions` from its rows as ``CaseBuilder.case``
  does (its own checks included);
* computes the account's own fields with the same step functions ``prepare`` calls
  (:func:`~optimizer.problem_data.lot_taxes`, :func:`~optimizer.problem_data.trade_bounds`,
  :func:`~optimizer.problem_data.trade_costs`, :func:`~optimizer.problem_data.year_to_date`,
  :func:`~optimizer.problem_data.overlay_arrays`).

An account that is not plain, or whose data fails any check, or anything that raises on
the way, returns ``None``: the caller takes the general path, which raises the same typed
error it always did. ``tests/batch/test_fast_prepare.py`` checks every field equal to
``prepare`` of the account's case.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from optimizer.model import Portfolio, Restrictions
from optimizer.model.restrictions import FLAG_COLUMNS, SIZE_COLUMNS
from optimizer.problem_data import (UNLIMITED, ProblemData, align, fill_slots, lot_taxes, overlay_arrays, prepare,
                                    trade_bounds, trade_costs, year_to_date)

from optimizer.batch.accounts import CaseBuilder, _missing

#: Per-account tables counted per account (lots are read here; accounts is the row).
OTHER_TABLES = ("restrictions", "untradeable", "overlay_positions", "recent_buys", "recent_loss_sales")
#: Those whose rows make an account not plain (restrictions are read on the fast path).
NOT_PLAIN_TABLES = ("untradeable", "overlay_positions", "recent_buys", "recent_loss_sales")
#: Account columns that make an account not plain when set (households and their kinds).
HOUSEHOLD_COLUMNS = ("household_id", "account_kind")


@dataclasses.dataclass(frozen=True)
class _Template:
    data: ProblemData
    layout: object                  # the model's prepare Layout (asset order, tradeable, prices)
    position: dict                  # asset -> position in the universe
    universe: tuple[str, ...]
    shapes: dict = dataclasses.field(default_factory=dict)   # (slots, soft, shorts, caps, netting) -> ProblemShape


class ChunkLots:
    """A chunk's lots as numpy columns, with each account's row range (book order kept)."""

    def __init__(self, lots: pd.DataFrame):
        self.ok = (len(lots) == 0) or (
            pd.api.types.is_numeric_dtype(lots["quantity"].dtype) and not pd.api.types.is_bool_dtype(lots["quantity"].dtype)
            and pd.api.types.is_numeric_dtype(lots["cost_basis"].dtype)
            and not pd.api.types.is_bool_dtype(lots["cost_basis"].dtype)
            and pd.api.types.is_datetime64_any_dtype(lots["acquired"].dtype)
            and getattr(lots["acquired"].dt, "tz", None) is None)
        ids = lots["account_id"].to_numpy(dtype=object)
        order = np.argsort(ids, kind="stable")
        self.order = order
        sorted_ids = ids[order]
        starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]]) if len(ids) else np.zeros(0, int)
        ends = np.r_[starts[1:], len(ids)] if len(ids) else np.zeros(0, int)
        self.range = {str(sorted_ids[s]): (int(s), int(e)) for s, e in zip(starts, ends)}
        if self.ok:
            self.lot_id = lots["lot_id"].to_numpy(dtype=object)[order]
            self.asset = lots["asset"].to_numpy(dtype=object)[order]
            self.quantity = lots["quantity"].to_numpy(dtype=float)[order]
            self.basis = lots["cost_basis"].to_numpy(dtype=float)[order]
            self.acquired = lots["acquired"].to_numpy(dtype="datetime64[ns]")[order]

    def of(self, account_id: str) -> tuple[int, int]:
        return self.range.get(account_id, (0, 0))


class ChunkPreparer:
    """Prepares plain accounts of a chunk from numpy columns (see the module docstring).

    Parameters
    ----------
    builder:
        The worker's :class:`CaseBuilder` of the run context (its caches are shared).
    """

    def __init__(self, builder: CaseBuilder):
        self.builder = builder
        self.context = builder.context
        self._templates: dict[str, _Template | None] = {}
        self._empty_portfolio = Portfolio(lots=pd.DataFrame({"lot_id": pd.Series(dtype=str),
                                                             "asset": pd.Series(dtype=str),
                                                             "quantity": pd.Series(dtype=float),
                                                             "cost_basis": pd.Series(dtype=float),
                                                             "acquired": pd.Series(dtype="datetime64[ns]")}))
        self._no_restrictions = Restrictions()
        self.fast = 0

    # ---- per model ----------------------------------------------------------------------
    def template(self, account: dict, lots: pd.DataFrame) -> _Template | None:
        """The model's template, made from this (plain) account by the general path."""
        model_id = str(account["model_id"])
        if model_id in self._templates:
            return self._templates[model_id]
        template = None
        try:
            case, universe = self.builder.case(account, lots, pd.DataFrame(columns=["account_id", "asset"]), {})
            if not self.builder.last_notes and not case.overlays and not len(case.portfolio.untradeable_usd):
                data = prepare(case.portfolio, case.targets, case.market, case.settings, **case.options(),
                               universe=universe, lot_slots=self.context.lot_slots)
                model_universe, _ = self.builder.universe(model_id, [])
                if tuple(universe) == tuple(model_universe) and not self.builder.frozen(universe, set()):
                    layout = align(case.portfolio, case.targets, case.market, [], universe)
                    template = _Template(data=data, layout=layout, position={a: i for i, a in enumerate(universe)},
                                         universe=tuple(universe))
        except Exception:  # noqa: BLE001 - the general path reports this account's problem
            return None
        self._templates[model_id] = template
        return template

    # ---- per account --------------------------------------------------------------------
    def prepare(self, account: dict, lots: ChunkLots, other_rows: dict[str, int],
                lots_frame=None, restrictions_frame=None) -> ProblemData | None:
        """``ProblemData`` of a plain account, or ``None`` (take the general path).

        ``other_rows``: how many rows the account has in each of :data:`OTHER_TABLES`;
        ``lots_frame``: a callable giving the account's lots as a frame (only for a new model);
        ``restrictions_frame``: one giving its restriction rows (needed when it has some).
        """
        if not lots.ok or any(other_rows.get(name, 0) for name in NOT_PLAIN_TABLES):
            return None
        if other_rows.get("restrictions", 0) and restrictions_frame is None:
            return None
        for column in HOUSEHOLD_COLUMNS:
            if column in account and not _missing(account[column]) and str(account[column]).strip() not in (
                    "", "taxable"):
                return None
        model_id = str(account["model_id"])
        template = self._templates.get(model_id, False)
        if template is False:
            if lots_frame is None:
                return None
            template = self.template(account, lots_frame())
        if template is None:
            return None
        try:
            rules = _NO_RULES
            if other_rows.get("restrictions", 0):
                rows = restrictions_frame()
                rules = _RuleArrays.of(rows) or _restrictions(rows)
            return self._prepare(account, lots, template, rules)
        except Exception:  # noqa: BLE001 - the general path raises the proper typed error
            return None

    def _prepare(self, account: dict, lots: ChunkLots, template: _Template,
                 rules: Restrictions) -> ProblemData | None:
        ctx = self.context
        account_id = str(account["account_id"])
        start, end = lots.of(account_id)
        lot_id, asset = lots.lot_id[start:end], lots.asset[start:end]
        quantity, basis, acquired = lots.quantity[start:end], lots.basis[start:end], lots.acquired[start:end]
        # the Portfolio's checks, in numpy: a failure goes to the general path (which names it)
        if not all(isinstance(x, str) for x in lot_id) or not all(isinstance(x, str) for x in asset):
            return None
        if len(set(lot_id)) != len(lot_id):
            return None
        if not (np.isfinite(quantity).all() and (quantity > 0).all() and np.isfinite(basis).all()
                and (basis >= 0).all()):
            return None
        if np.isnat(acquired).any() or (acquired > np.datetime64(ctx.date, "ns")).any():
            return None
        numbers = {}
        for name in ("cash_usd", "cash_flow_usd", "short_term_rate", "long_term_rate"):
            value = account.get(name)
            if not _is_finite_number(value):
                return None
            numbers[name] = float(value)
        if numbers["cash_usd"] < 0:
            return None  # the overdraft rules: the general path
        for name in ("overdraft_usd", "realized_gain_usd", "risk_aversion", "min_cash_weight"):
            value = account.get(name)
            if not _missing(value) and not _is_finite_number(value):
                return None
        overdraft = account.get("overdraft_usd")
        if not _missing(overdraft) and float(overdraft) < 0:
            return None
        realized = account.get("realized_gain_usd")
        realized = None if _missing(realized) else float(realized)

        # the account's settings and tax rules, made as CaseBuilder.case makes them
        settings = self.builder.settings(account)
        kind = account.get("account_kind")
        if _missing(kind) or str(kind).strip() in ("", "taxable"):
            tax = self.builder.tax(account["short_term_rate"], account["long_term_rate"])
        else:
            return None
        if tax.identical_groups:
            return None

        # lots to slots (lots_to_slots): an asset's k-th lot in row order fills its k-th slot
        base = template.data
        layout = template.layout
        n, slots = base.shape.n_assets, ctx.lot_slots
        position = template.position
        lot_asset = np.fromiter((position.get(a, -1) for a in asset), dtype=int, count=len(asset))
        if (lot_asset < 0).any():
            return None  # a holding outside the model: the general path widens the universe
        per_asset = np.bincount(lot_asset, minlength=n)
        if per_asset.max(initial=0) > slots:
            return None
        price = base.price
        slotted = fill_slots(lot_asset, slots, price, lot_id, quantity, basis, acquired)
        holding_usd = slotted.holding_usd

        cash_usd = numbers["cash_usd"]
        nav = float(holding_usd.sum() + cash_usd + settings.cash_flow_usd)
        if not nav > 0:
            return None
        date = base.date
        taxes = lot_taxes(slotted, price, date, tax)
        bounds = trade_bounds(_NO_HISTORY, layout, slotted, taxes, date, settings, tax, rules, nav)
        tax_offset, carry_value = year_to_date(realized, tax, nav)
        flags = (slots, settings.bands == "soft", bool(np.any(bounds["short_max"] > 0)),
                 bool(np.any(bounds["trade_max"] < UNLIMITED)), realized is not None)
        shape = template.shapes.get(flags)
        if shape is None:   # one shape object per combination (equal to a new one: programs are found by value)
            shape = template.shapes[flags] = dataclasses.replace(
                base.shape, lot_slots=flags[0], soft_bands=flags[1], shorts=flags[2], trade_caps=flags[3],
                tax_netting=flags[4])
        market = self.builder.market(template.universe, base.shape.keys)
        self.fast += 1
        return ProblemData(
            shape=shape,
            date=date,
            nav_usd=nav,
            price=price,
            weight0=holding_usd / nav,
            cash0=(cash_usd + settings.cash_flow_usd) / nav,
            cash_min=max(settings.min_cash_usd / nav, settings.min_cash_weight),
            target=base.target,
            band_lower=base.band_lower,
            band_upper=base.band_upper,
            factor_root=base.factor_root,
            specific_sd=base.specific_sd,
            **trade_costs(market, layout, settings, nav),
            lot_ids=slotted.lot_ids,
            lot_value=slotted.quantity * np.repeat(price, slots) / nav,
            lot_quantity=slotted.quantity,
            lot_basis=slotted.basis,
            **taxes.arrays(),
            tax_offset=tax_offset,
            carry_value=carry_value,
            **bounds,
            **overlay_arrays(self._empty_portfolio, base.shape.keys, [], nav, settings),
            settings=settings,
            tax=tax,
        )


class _NoHistory:
    """What :func:`~optimizer.problem_data.trade_bounds` reads of a plain account's ``Portfolio``:
    no recent loss sale and no recent buy (the rows that would make them make an account not plain)."""

    recent_loss_sales: dict = {}
    recent_buys: tuple = ()


_NO_HISTORY = _NoHistory()


class _RuleArrays:
    """An account's restriction rows as :class:`~optimizer.Restrictions` answers them
    (``flag``: False where not listed, ``size``: inf where not listed or empty), read with
    numpy from rows whose columns already have the types ``Restrictions`` accepts; other
    rows (:meth:`of` returns None) are made into ``Restrictions`` as the general path does."""

    def __init__(self, flags: dict[str, dict[str, bool]], sizes: dict[str, dict[str, float]]):
        self._flags, self._sizes = flags, sizes

    @classmethod
    def of(cls, rows: pd.DataFrame) -> "_RuleArrays | None":
        columns = [c for c in rows.columns if c not in ("account_id", "asset")]
        if any(c not in FLAG_COLUMNS + SIZE_COLUMNS for c in columns):
            return None
        assets = rows["asset"].to_numpy(dtype=object)
        if not all(isinstance(a, str) for a in assets) or len(set(assets)) != len(assets):
            return None
        flags, sizes = {}, {}
        for column in columns:
            dtype = rows[column].dtype
            if column in FLAG_COLUMNS:
                if dtype != np.dtype(bool):
                    return None
                flags[column] = dict(zip(assets, rows[column].to_numpy(dtype=bool).tolist()))
            else:
                if not (pd.api.types.is_float_dtype(dtype) or pd.api.types.is_integer_dtype(dtype)) \
                        or pd.api.types.is_bool_dtype(dtype) or isinstance(dtype, pd.api.extensions.ExtensionDtype):
                    return None
                values = rows[column].to_numpy(dtype=float)
                if (values < 0).any():      # Restrictions refuses it: the general path names it
                    return None
                sizes[column] = dict(zip(assets, np.where(np.isnan(values), np.inf, values).tolist()))
        return cls(flags, sizes)

    def flag(self, column: str, assets: list[str]) -> np.ndarray:
        listed = self._flags.get(column)
        if not listed:
            return np.zeros(len(assets), dtype=bool)
        return np.fromiter((listed.get(a, False) for a in assets), dtype=bool, count=len(assets))

    def size(self, column: str, assets: list[str]) -> np.ndarray:
        listed = self._sizes.get(column)
        if not listed:
            return np.full(len(assets), np.inf)
        return np.fromiter((listed.get(a, np.inf) for a in assets), dtype=float, count=len(assets))


#: A plain account without restriction rows.
_NO_RULES = _RuleArrays({}, {})


def _restrictions(rows: pd.DataFrame) -> Restrictions:
    """The account's restriction rows as ``CaseBuilder.case`` makes them (no frozen asset here)."""
    table = rows.drop(columns=["account_id"]).set_index("asset")
    return Restrictions(table[[c for c in table.columns if c in FLAG_COLUMNS + SIZE_COLUMNS]])


def _is_finite_number(value) -> bool:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    return math.isfinite(float(value))


__all__ = ["ChunkLots", "ChunkPreparer", "OTHER_TABLES"]
