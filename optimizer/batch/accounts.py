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
from optimizer.model import Case, Market, Portfolio, Restrictions, RiskModel, Settings, Targets, TaxRules
from optimizer.model.restrictions import FLAG_COLUMNS, SIZE_COLUMNS

from optimizer.batch.store import Book

MARKET_COLUMNS = ("price", "asset_class", "volatility", "adv_usd", "half_spread", "commission")


@dataclass(frozen=True)
class Context:
    """What all accounts of one run date share. Frames are indexed by asset / key / factor."""

    date: pd.Timestamp
    market: pd.DataFrame      # index asset; MARKET_COLUMNS
    models: pd.DataFrame      # columns model_id, key, weight, band_lower, band_upper, cash_weight
    loadings: pd.DataFrame    # index key; one column per factor
    specific_var: pd.Series   # index key
    factor_cov: pd.DataFrame  # index factor; columns factors
    lot_slots: int

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
    market = market.drop_duplicates("asset", keep="last").set_index("asset")[list(MARKET_COLUMNS)]
    risk = risk.drop_duplicates("key", keep="last").set_index("key")
    cov = cov.drop_duplicates("factor", keep="last").set_index("factor")
    missing = [f for f in factors if f not in cov.columns or f not in cov.index]
    if missing:
        raise InputError("book.factor_cov", f"has no row/column for factor(s) {missing}")
    lots = book["lots"]
    per_asset = lots.groupby(["account_id", "asset"]).size()
    lot_slots = int(per_asset.max()) if len(per_asset) else 1
    return Context(date=day, market=market, models=book["models"].copy(), loadings=risk[factors].astype(float),
                   specific_var=risk["specific_var"].astype(float), factor_cov=cov.loc[factors, factors].astype(float),
                   lot_slots=max(lot_slots, 1))


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
            if asset not in classes.index:
                raise InputError("lots.asset", "has no row in the market snapshot", asset=asset)
            key = str(classes[asset])
            if key not in rows.index and key not in extra_keys:
                extra_keys.append(key)
        return base + extra, tuple(extra_keys)

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

    def market(self, universe: tuple[str, ...], keys: tuple[str, ...]) -> Market:
        """The market snapshot restricted to ``universe``, with the risk model on ``keys``."""
        cache_key = (universe, keys)
        if cache_key not in self._markets:
            ctx = self.context
            rows = ctx.market.reindex(list(universe))
            missing = [k for k in keys if k not in ctx.loadings.index]
            if missing:
                raise InputError("risk.key", "has no row for this exposure key", asset=missing[0])
            risk = RiskModel(ctx.loadings.loc[list(keys)], ctx.factor_cov, ctx.specific_var.loc[list(keys)])
            self._markets[cache_key] = Market(
                date=ctx.date, prices=rows["price"].astype(float), asset_class=rows["asset_class"].astype(str),
                risk=risk, volatility=rows["volatility"].astype(float), adv_usd=rows["adv_usd"].astype(float),
                half_spread=rows["half_spread"].astype(float), commission=rows["commission"].astype(float))
        return self._markets[cache_key]

    def tax(self, short: float, long: float) -> TaxRules:
        key = (short, long)
        if key not in self._taxes:
            self._taxes[key] = TaxRules(short_term_rate=short, long_term_rate=long)
        return self._taxes[key]

    def case(self, account: dict, lots: pd.DataFrame, restrictions: pd.DataFrame) -> tuple[Case, tuple[str, ...]]:
        """The account's rebalance question and its universe.

        Parameters
        ----------
        account:
            One row of the ``accounts`` table as a dict.
        lots, restrictions:
            The account's rows of those tables.

        Raises
        ------
        InputError
            Anything wrong with this account's data (named by field and asset).
        """
        account_id = str(account["account_id"])
        portfolio = Portfolio(lots=lots.drop(columns=["account_id"]), cash_usd=account["cash_usd"])
        universe, extra_keys = self.universe(str(account["model_id"]), list(portfolio.lots["asset"].unique()))
        targets = self.targets(str(account["model_id"]), extra_keys)
        market = self.market(universe, tuple(targets.keys))
        options = {}
        for name in ("risk_aversion", "min_cash_weight"):
            value = account.get(name)
            if value is not None and not (isinstance(value, float) and np.isnan(value)):
                options[name] = value
        solvers = account.get("solvers")
        if isinstance(solvers, str) and solvers.strip():
            options["solvers"] = tuple(s.strip() for s in solvers.split(",") if s.strip())
        settings = Settings(cash_flow_usd=account["cash_flow_usd"], **options)
        tax = self.tax(account["short_term_rate"], account["long_term_rate"])
        if len(restrictions):
            table = restrictions.drop(columns=["account_id"]).set_index("asset")
            rules = Restrictions(table[[c for c in table.columns if c in FLAG_COLUMNS + SIZE_COLUMNS]])
        else:
            rules = self._no_restrictions
        case = Case(portfolio=portfolio, targets=targets, market=market, settings=settings, tax=tax,
                    restrictions=rules, name=account_id)
        return case, universe


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
    case, universe = CaseBuilder(context).case(row.iloc[0].to_dict(), lots, restrictions)
    return case, universe, context.lot_slots
