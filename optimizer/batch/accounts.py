"""Turn book rows into one validated rebalance question per account, caching what accounts share.

:class:`Context` is the part of a book every account of one date shares (market, models,
risk); it is small and sent to each worker once per task as bytes. :class:`CaseBuilder`
lives on a worker and caches, per context, the :class:`~optimizer.Targets` of each model
and the :class:`~optimizer.Market` of each universe, so an account costs only its own
:class:`~optimizer.Portfolio` validation, ``prepare`` and the solve.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.model import (Case, Market, OverlayInstrument, Portfolio, Restrictions, RiskModel, Settings, Targets,
                             TaxRules)
from optimizer.model.restrictions import FLAG_COLUMNS, SIZE_COLUMNS

from optimizer.batch.store import Book

MARKET_COLUMNS = ("price", "asset_class", "volatility", "adv_usd", "half_spread", "commission")
MARKET_NUMBERS = ("price", "volatility", "adv_usd", "half_spread", "commission")
#: Optional market columns: ``tax_drag`` (fraction of value a year lost to tax on the asset's income
#: in a taxable account; used by households, :class:`optimizer.household.Household`).
MARKET_OPTIONAL = ("tax_drag",)
#: Tables with rows per account (besides ``accounts``), sliced per chunk and per account.
ACCOUNT_TABLES = ("lots", "restrictions", "untradeable", "overlay_positions", "recent_buys", "recent_loss_sales")
#: Overlay instrument fields with defaults in :class:`~optimizer.OverlayInstrument`.
OVERLAY_OPTIONAL = ("initial_margin", "cost_per_contract_usd", "max_notional_usd", "holding_cost")


@dataclass(frozen=True)
class Context:
    """What all accounts of one run date share. Frames are indexed by asset / key / factor."""

    date: pd.Timestamp
    market: pd.DataFrame      # index asset; MARKET_COLUMNS and those of MARKET_OPTIONAL the book has
    models: pd.DataFrame      # columns model_id, key, weight, band_lower, band_upper, cash_weight
    loadings: pd.DataFrame    # index key; one column per factor
    specific_var: pd.Series   # index key
    factor_cov: pd.DataFrame  # index factor; columns factors
    lot_slots: int
    bad_assets: dict | None = None  # asset -> what is wrong with its market row (see bad_market_rows)
    instruments: pd.DataFrame | None = None  # overlay_instruments rows of the date (name, key, beta, ...)

    def blob(self) -> tuple[str, bytes]:
        """``(token, pickled bytes)``: the token names this context in worker caches."""
        data = pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)
        return hashlib.sha256(data).hexdigest()[:16], data


def make_context(book: Book, date: str) -> Context:
    """Slice the book's market and risk tables at ``date`` and fix the lot slots.

    Raises
    ------
    InputError
        No market or risk rows on ``date`` (a whole-batch problem, not an account's).
    """
    day = pd.Timestamp(date).normalize()
    market = book["market"]
    market = market[market["date"] == day]
    if market.empty:
        raise InputError("book.market.date", f"has no rows for {day.date()}; the book has {book.dates()[-3:]}")
    risk = book["risk"]
    risk = risk[risk["date"] == day]
    cov = book["factor_cov"]
    cov = cov[cov["date"] == day]
    if risk.empty or cov.empty:
        raise InputError("book.risk.date", f"has no risk model rows for {day.date()}")
    factors = [c for c in risk.columns if c not in ("date", "key", "specific_var")]
    columns = list(MARKET_COLUMNS) + [c for c in MARKET_OPTIONAL if c in market.columns]
    market = market.drop_duplicates("asset", keep="last").set_index("asset")[columns]
    risk = risk.drop_duplicates("key", keep="last").set_index("key")
    cov = cov.drop_duplicates("factor", keep="last").set_index("factor")
    missing = [f for f in factors if f not in cov.columns or f not in cov.index]
    if missing:
        raise InputError("book.factor_cov", f"has no row/column for factor(s) {missing}")
    lots = book["lots"]
    per_asset = lots.groupby(["account_id", "asset"]).size()
    lot_slots = int(per_asset.max()) if len(per_asset) else 1
    instruments = book.tables.get("overlay_instruments")
    if instruments is not None and "date" in instruments.columns:
        instruments = instruments[instruments["date"] == day]
    return Context(date=day, market=market, models=book["models"].copy(), loadings=risk[factors].astype(float),
                   specific_var=risk["specific_var"].astype(float), factor_cov=cov.loc[factors, factors].astype(float),
                   lot_slots=max(lot_slots, 1), bad_assets=bad_market_rows(market),
                   instruments=None if instruments is None else instruments.reset_index(drop=True))


def bad_market_rows(market: pd.DataFrame) -> dict[str, str]:
    """Assets whose market row cannot be used (a non-numeric, NaN or infinite figure, a price <= 0).

    Such an asset fails only the accounts that hold it; for every other account of a model
    that targets it, it is frozen (no trade, nothing held, so its price does not matter).
    """
    bad: dict[str, str] = {}
    for column in MARKET_NUMBERS:
        values = pd.to_numeric(market[column], errors="coerce").astype(float)
        broken = ~np.isfinite(values.to_numpy())
        if column == "price":
            broken |= ~(values.to_numpy() > 0)
        elif column in ("volatility", "adv_usd"):
            broken |= ~(values.to_numpy() >= 0)
        for asset in market.index[broken]:
            bad.setdefault(str(asset), f"{column} is {market.at[asset, column]!r}")
    return bad


class CaseBuilder:
    """Builds each account's :class:`~optimizer.Case` from its rows, sharing models and markets.

    Parameters
    ----------
    context:
        The run date's shared data.
    """

    def __init__(self, context: Context):
        self.context = context
        self._targets: dict[tuple, Targets] = {}
        self._markets: dict[tuple, Market] = {}
        self._universes: dict[str, tuple[str, ...]] = {}
        self._taxes: dict[tuple, TaxRules] = {}
        self._no_restrictions = Restrictions()
        self._extra_classes: dict[str, str] = {}  # classes of untradeable assets of the account being built
        self._instruments: dict[str, OverlayInstrument] = {}
        #: What the last :meth:`case` call changed or noticed (e.g. frozen assets), for diagnostics.
        self.last_notes = ""
        model_ids = context.models["model_id"].astype(str)
        self._model_rows = {m: rows.set_index("key") for m, rows in context.models.groupby(model_ids, sort=False)}

    def universe(self, model_id: str, held: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The account's assets (model universe, then outside holdings) and the extra keys they need."""
        rows = self._model_rows.get(model_id)
        if rows is None:
            raise InputError("accounts.model_id", f"{model_id!r} is not a model of the book")
        if model_id not in self._universes:
            keys = set(rows.index)
            classes = self.context.market["asset_class"]
            self._universes[model_id] = tuple(sorted(classes.index[classes.isin(keys)]))
        base = self._universes[model_id]
        inside = set(base)
        extra = tuple(sorted({a for a in held if a not in inside}))
        classes = self.context.market["asset_class"]
        extra_keys = []
        for asset in extra:
            if asset in self._extra_classes:
                key = self._extra_classes[asset]
            elif asset not in classes.index:
                raise InputError("lots.asset", "has no row in the market snapshot", asset=asset)
            else:
                key = str(classes[asset])
            if key not in rows.index and key not in extra_keys:
                extra_keys.append(key)
        return base + extra, tuple(extra_keys)

    def frozen(self, universe: tuple[str, ...], held: set[str]) -> tuple[str, ...]:
        """Assets of ``universe`` with a bad market row that the account does not hold (frozen, not traded)."""
        bad = self.context.bad_assets or {}
        return tuple(a for a in universe if a in bad and a not in held)

    def targets(self, model_id: str, extra_keys: tuple[str, ...]) -> Targets:
        """The model's targets; keys only an outside holding maps to get weight 0 and band [0, 0]."""
        cache_key = (model_id, extra_keys)
        if cache_key not in self._targets:
            rows = self._model_rows[model_id]
            weight = rows["weight"].astype(float)
            lower = rows["band_lower"].astype(float)
            upper = rows["band_upper"].astype(float)
            if extra_keys:
                zeros = pd.Series(0.0, index=list(extra_keys))
                weight, lower, upper = (pd.concat([s, zeros]) for s in (weight, lower, upper))
            cash = rows["cash_weight"].astype(float).unique()
            if len(cash) != 1:
                raise InputError("models.cash_weight", f"model {model_id!r} has {len(cash)} different cash weights")
            self._targets[cache_key] = Targets(weight, lower, upper, cash_weight=float(cash[0]))
        return self._targets[cache_key]

    def market(self, universe: tuple[str, ...], keys: tuple[str, ...], frozen: tuple[str, ...] = (),
               untradeable: tuple[tuple[str, str], ...] = ()) -> Market:
        """The market snapshot restricted to ``universe``, with the risk model on ``keys``.

        ``frozen`` assets (bad market row, not held) get neutral figures (price 1, no cost,
        the median volatility and liquidity): they are restricted to no trade and hold
        nothing, so those figures never price anything. ``untradeable`` pairs
        ``(asset, exposure key)`` add classes for untradeable holdings without a market row.
        """
        cache_key = (universe, keys, frozen, untradeable)
        if cache_key not in self._markets:
            ctx = self.context
            priced = [a for a in universe if a not in dict(untradeable) or a in ctx.market.index]
            rows = ctx.market.reindex(priced)
            if frozen:
                rows = rows.copy()
                good = ctx.market.drop(index=list((ctx.bad_assets or {})), errors="ignore")
                for column, value in (("price", 1.0), ("half_spread", 0.0), ("commission", 0.0),
                                      ("volatility", float(pd.to_numeric(good["volatility"]).median())),
                                      ("adv_usd", float(pd.to_numeric(good["adv_usd"]).median()))):
                    rows.loc[list(frozen), column] = value
            classes = rows["asset_class"].astype(str)
            if untradeable:
                classes = pd.concat([classes, pd.Series(dict(untradeable), dtype=str)])
                classes = classes[~classes.index.duplicated(keep="first")]
            missing = [k for k in keys if k not in ctx.loadings.index]
            if missing:
                raise InputError("risk.key", "has no row for this exposure key", asset=missing[0])
            risk = RiskModel(ctx.loadings.loc[list(keys)], ctx.factor_cov, ctx.specific_var.loc[list(keys)])
            self._markets[cache_key] = Market(
                date=ctx.date, prices=rows["price"], asset_class=classes,
                risk=risk, volatility=rows["volatility"], adv_usd=rows["adv_usd"],
                half_spread=rows["half_spread"], commission=rows["commission"])
        return self._markets[cache_key]

    def tax(self, short: float, long: float) -> TaxRules:
        key = (short, long)
        if key not in self._taxes:
            self._taxes[key] = TaxRules(short_term_rate=short, long_term_rate=long)
        return self._taxes[key]

    def overlay(self, name: str) -> OverlayInstrument:
        """The run date's overlay instrument ``name`` (from the ``overlay_instruments`` table)."""
        if name not in self._instruments:
            table = self.context.instruments
            rows = table[table["name"].astype(str) == name] if table is not None else None
            if rows is None or rows.empty:
                raise InputError("overlay_positions.instrument", "is not in the book's overlay_instruments table "
                                 f"on {self.context.date.date()}", asset=name)
            first = rows.iloc[0]
            options = {}
            for column in OVERLAY_OPTIONAL:
                if column in rows.columns and not _missing(first[column]):
                    options[column] = first[column]
            exposure = {str(k): b for k, b in zip(rows["key"], rows["beta"])}
            self._instruments[name] = OverlayInstrument(name=name, multiplier=first["multiplier"],
                                                        price=first["price"], exposure=exposure, **options)
        return self._instruments[name]

    def holdings(self, lots: pd.DataFrame, extra: dict[str, pd.DataFrame] | None = None) -> dict[str, str | None]:
        """What an account holds: asset -> the exposure key its ``untradeable`` row gives (``None``: the
        market's class). A household's members each see the others' holdings (``case(also_held=)``)."""
        held: dict[str, str | None] = {str(a): None for a in lots["asset"]}
        for row in _rows(extra or {}, "untradeable").to_dict("records"):
            given = row.get("asset_class")
            held[str(row["asset"])] = None if _missing(given) else str(given)
        return held

    @staticmethod
    def settings(account: dict) -> Settings:
        """The account's :class:`Settings`: its cash flow, and its risk aversion, minimum cash
        weight and solver list where the book gives them."""
        options = {}
        for name in ("risk_aversion", "min_cash_weight"):
            value = account.get(name)
            if not _missing(value):
                options[name] = value
        solvers = account.get("solvers")
        if isinstance(solvers, str) and solvers.strip():
            options["solvers"] = tuple(s.strip() for s in solvers.split(",") if s.strip())
        return Settings(cash_flow_usd=account["cash_flow_usd"], **options)

    def case(self, account: dict, lots: pd.DataFrame, restrictions: pd.DataFrame,
             extra: dict[str, pd.DataFrame] | None = None, *,
             also_held: dict[str, str | None] | None = None) -> tuple[Case, tuple[str, ...]]:
        """The account's rebalance question and its universe.

        Parameters
        ----------
        account:
            One row of the ``accounts`` table as a dict.
        lots, restrictions:
            The account's rows of those tables.
        extra:
            The account's rows of the other per-account tables (``untradeable``,
            ``overlay_positions``, ``recent_buys``, ``recent_loss_sales``); missing = none.
        also_held:
            Holdings of the other accounts of its household (:meth:`holdings`): its universe
            and market include them, so every member of a household has the same universe.

        Raises
        ------
        InputError
            Anything wrong with this account's data (named by field and asset).
        """
        extra = extra or {}
        account_id = str(account["account_id"])
        untradeable = _rows(extra, "untradeable")
        overlay_rows = _rows(extra, "overlay_positions")
        buys = _rows(extra, "recent_buys")
        loss_sales = _rows(extra, "recent_loss_sales")
        self._extra_classes = {}
        classes = self.context.market["asset_class"]
        for row in untradeable.to_dict("records"):
            asset = str(row["asset"])
            given = row.get("asset_class")
            key = str(given) if not _missing(given) else (str(classes[asset]) if asset in classes.index else asset)
            self._extra_classes[asset] = key
        portfolio = Portfolio(
            lots=lots.drop(columns=["account_id"]), cash_usd=account["cash_usd"],
            untradeable_usd=(pd.Series(list(untradeable["value_usd"]), index=untradeable["asset"].astype(str))
                             if len(untradeable) else pd.Series(dtype=float)),
            overlay_contracts=(pd.Series(list(overlay_rows["contracts"]), index=overlay_rows["instrument"].astype(str))
                               if len(overlay_rows) else pd.Series(dtype=float)),
            recent_loss_sales=(pd.Series(list(loss_sales["sold"]), index=loss_sales["asset"].astype(str))
                               if len(loss_sales) else pd.Series(dtype="datetime64[ns]")),
            recent_buys=(buys.drop(columns=["account_id"]).reset_index(drop=True) if len(buys)
                         else pd.DataFrame(columns=["asset", "lot_id", "acquired"])),
            **{name: account[name] for name in ("overdraft_usd", "realized_gain_usd") if not _missing(account.get(name))},
        )
        held = set(portfolio.lots["asset"]) | set(portfolio.untradeable_usd.index)
        for asset, key in (also_held or {}).items():
            if key is not None:
                self._extra_classes.setdefault(asset, key)
            elif asset not in self._extra_classes and asset not in classes.index:
                self._extra_classes[asset] = asset
            held.add(asset)
        universe, extra_keys = self.universe(str(account["model_id"]), sorted(held))
        targets = self.targets(str(account["model_id"]), extra_keys)
        frozen = self.frozen(universe, held)
        untradeable_classes = tuple(sorted((a, k) for a, k in self._extra_classes.items()
                                           if a not in self.context.market.index))
        market = self.market(universe, tuple(targets.keys), frozen, untradeable_classes)
        settings = self.settings(account)
        kind = account.get("account_kind")
        if _missing(kind) or str(kind).strip() in ("", "taxable"):  # see book_schema.account_kind
            tax = self.tax(account["short_term_rate"], account["long_term_rate"])
        else:  # an IRA or a Roth pays no tax on its trades
            tax = self.tax(0.0, 0.0)
        rules = self._no_restrictions
        if len(restrictions) or frozen:
            table = restrictions.drop(columns=["account_id"]).set_index("asset")
            table = table[[c for c in table.columns if c in FLAG_COLUMNS + SIZE_COLUMNS]]
            if frozen:
                table = table.reindex(table.index.union(pd.Index(frozen)))
                if "no_trade" not in table.columns:
                    table["no_trade"] = False
                table["no_trade"] = [True if a in frozen else v for a, v in table["no_trade"].items()]
                for column in FLAG_COLUMNS:
                    if column in table.columns:
                        table[column] = [False if _missing(v) else v for v in table[column]]
            rules = Restrictions(table)
        overlays = tuple(self.overlay(name) for name in portfolio.overlay_contracts.index)
        bad = self.context.bad_assets or {}
        self.last_notes = "; ".join(f"{a} frozen: {bad[a]}" for a in frozen)
        case = Case(portfolio=portfolio, targets=targets, market=market, settings=settings, tax=tax,
                    overlays=overlays, restrictions=rules, name=account_id)
        return case, universe


def _missing(value) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _rows(extra: dict[str, pd.DataFrame], name: str) -> pd.DataFrame:
    frame = extra.get(name)
    return frame if frame is not None else pd.DataFrame(columns=["account_id"])


def account_case(book: Book, date: str, account_id: str) -> tuple[Case, tuple[str, ...], int]:
    """One account's question as the batch sees it: ``(case, universe, lot_slots)``.

    For checking batch results against a plain :func:`optimizer.rebalance` of the same account.
    """
    context = make_context(book, date)
    accounts = book["accounts"]
    row = accounts[accounts["account_id"] == str(account_id)]
    if row.empty:
        raise InputError("accounts.account_id", "is not in the book", asset=str(account_id))
    lots = book["lots"][book["lots"]["account_id"] == str(account_id)]
    restrictions = book["restrictions"][book["restrictions"]["account_id"] == str(account_id)]
    extra = {name: book.tables[name][book.tables[name]["account_id"] == str(account_id)]
             for name in ACCOUNT_TABLES[2:] if name in book.tables}
    case, universe = CaseBuilder(context).case(row.iloc[0].to_dict(), lots, restrictions, extra)
    return case, universe, context.lot_slots
