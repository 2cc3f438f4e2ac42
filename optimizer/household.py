"""A household: taxable, tax-deferred and tax-exempt accounts rebalanced as one convex program.

One household target is tracked on the household's combined exposures, but every account
keeps its own lots, cash and tax treatment:

* **taxable** accounts pay capital-gains tax lot by lot (``Household.tax``) and lose a yearly
  *tax drag* on income (``Household.tax_drag``: interest and dividends taxed every year);
* **deferred** accounts (traditional IRA / 401k) and **exempt** ones (Roth) pay neither,
  but withdrawals from a deferred account are taxed as income: a dollar in it is worth
  ``1 - withdrawal_tax_rate`` after tax. With ``after_tax_exposures=True`` (default) the
  household's exposures and NAV are counted in after-tax dollars (tax-adjusted asset
  allocation, Reichenstein 2007), so stocks held in a traditional IRA count for less than
  stocks held in a Roth, and a location that shifts risk into the deferred account is not
  mistaken for the target mix;
* cash never moves between accounts: each account's trades and costs are paid from its own
  cash (plus its configured ``cash_flow_usd`` contribution or withdrawal);
* the wash-sale rule spans the household: a loss sold in a taxable account blocks buys of
  the same wash-sale group in every account (IRAs included) for the window, and a buy in
  any account blocks loss sales in the taxable ones; in one decision a group either buys
  (in any account) or sells at a loss (:mod:`optimizer.wash_sale` resolves it).

Asset location is not an input: the objective's tax drag makes holding a tax-inefficient
asset in a taxable account cost something every year, so the program places it where it is
sheltered when the accounts' cash and lots allow.

How it is built: each account is prepared on its own (:func:`optimizer.problem_data.prepare`,
the same checks and numbers as a single-account rebalance), then the accounts are stacked
into one :class:`ProblemData` whose positions are (account, asset) pairs mapped to the
household's exposure keys, all amounts fractions of the household's NAV. Market impact is
charged per account position (the household's orders of one asset are not pooled), which
understates it where several accounts trade one asset in size.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.model import Market, Portfolio, Restrictions, Settings, Targets, TaxRules
from optimizer.model._checks import finite_number
from optimizer.problem_data import ProblemData, prepare, year_to_date
from optimizer.rebalancer import Rebalancer
from optimizer.result import RebalanceResult
from optimizer.terms import cash, tax as tax_term
from optimizer.terms.base import Trade

ACCOUNT_KINDS = ("taxable", "deferred", "exempt")


@dataclass(frozen=True)
class Account:
    """One account of a household.

    Parameters
    ----------
    name:
        Unique within the household (used in results and lot ids).
    portfolio:
        Its lots, cash and recent trades (:class:`Portfolio`). ``realized_gain_usd`` of the
        taxable accounts is the household's, summed (one tax return).
    kind:
        ``"taxable"``, ``"deferred"`` (traditional IRA / 401k) or ``"exempt"`` (Roth).
    cash_flow_usd:
        Contribution (+) or withdrawal (-) settled with this rebalance, account currency.
    min_cash_usd:
        Cash the account keeps after trading.
    restrictions:
        Per-account trading restrictions (e.g. an asset not offered in a 401k plan).
    bands:
        Optional bands on the account's own exposures (fractions of the account's NAV), as
        :class:`Targets` whose ``band_lower``/``band_upper`` are used (its weights are not:
        the household target is what is tracked). Hard or soft like the household's bands.
    """

    name: str
    portfolio: Portfolio
    kind: str = "taxable"
    cash_flow_usd: float = 0.0
    min_cash_usd: float = 0.0
    restrictions: Restrictions | None = None
    bands: Targets | None = None

    def __post_init__(self) -> None:
        if self.bands is not None and not isinstance(self.bands, Targets):
            raise InputError(f"accounts[{self.name}].bands", f"expected Targets, got {type(self.bands).__name__}")
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            raise InputError("account.name", f"is {self.name!r}; use a non-empty name without '/'")
        if self.kind not in ACCOUNT_KINDS:
            raise InputError(f"accounts[{self.name}].kind", f"is {self.kind!r}; use one of {ACCOUNT_KINDS}")
        if not isinstance(self.portfolio, Portfolio):
            raise InputError(f"accounts[{self.name}].portfolio",
                             f"expected a Portfolio, got {type(self.portfolio).__name__}")
        finite_number(self.cash_flow_usd, f"accounts[{self.name}].cash_flow_usd")
        finite_number(self.min_cash_usd, f"accounts[{self.name}].min_cash_usd", minimum=0.0)
        if len(self.portfolio.overlay_contracts):
            raise InputError(f"accounts[{self.name}].portfolio.overlay_contracts",
                             "holds overlay contracts; households do not support overlays yet")

    @property
    def taxable(self) -> bool:
        return self.kind == "taxable"


@dataclass(frozen=True)
class Household:
    """Accounts rebalanced together toward one household target.

    Parameters
    ----------
    accounts:
        At least one :class:`Account`; names unique.
    tax:
        The household's tax rules: rates of its taxable accounts and the wash-sale groups
        (``identical_groups``), which apply across every account.
    tax_drag:
        Per asset, the share of its value lost each year to tax on its income when held in
        a taxable account (fraction per year, >= 0; missing assets: 0). See :func:`tax_drag`.
    cash_tax_drag:
        The same for cash held in a taxable account (interest taxed as income). The program
        charges each asset's drag *less* the cash drag on what a taxable account moves from
        cash into it, so selling a bond into cash earning the same taxed interest saves nothing.
    after_tax_exposures:
        Count exposures and NAV in after-tax dollars (a deferred account's value times
        ``1 - withdrawal_tax_rate``); ``False``: pre-tax dollars, every account alike.
    withdrawal_tax_rate:
        Income-tax rate on withdrawals from deferred accounts (fraction); ``None``: the
        ordinary rate, ``tax.short_term_rate``.
    """

    accounts: tuple[Account, ...]
    tax: TaxRules = TaxRules()
    tax_drag: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    cash_tax_drag: float = 0.0
    after_tax_exposures: bool = True
    withdrawal_tax_rate: float | None = None

    def __post_init__(self) -> None:
        accounts = tuple(self.accounts)
        if not accounts:
            raise InputError("household.accounts", "is empty; a household needs at least one account")
        for account in accounts:
            if not isinstance(account, Account):
                raise InputError("household.accounts", f"holds a {type(account).__name__}, not an Account")
        names = [a.name for a in accounts]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InputError("household.accounts", f"names account {twice[0]!r} twice")
        object.__setattr__(self, "accounts", accounts)
        drag = self.tax_drag
        if isinstance(drag, dict):
            drag = pd.Series(drag, dtype=float)
        if not isinstance(drag, pd.Series):
            raise InputError("household.tax_drag", f"expected a Series by asset, got {type(drag).__name__}")
        try:
            drag = drag.astype(float)
        except (TypeError, ValueError):
            raise InputError("household.tax_drag", "must be numbers (fraction of value per year)") from None
        bad = ~np.isfinite(drag.to_numpy()) | (drag.to_numpy() < 0)
        if bad.any():
            raise InputError("household.tax_drag", f"is {drag[bad].iloc[0]!r}; use a fraction >= 0 per year",
                             asset=str(drag.index[bad][0]))
        object.__setattr__(self, "tax_drag", drag)
        finite_number(self.cash_tax_drag, "household.cash_tax_drag", minimum=0.0)
        if not isinstance(self.after_tax_exposures, bool):
            raise InputError("household.after_tax_exposures", f"is {self.after_tax_exposures!r}; use true or false")
        if self.withdrawal_tax_rate is not None:
            rate = finite_number(self.withdrawal_tax_rate, "household.withdrawal_tax_rate", minimum=0.0)
            if rate >= 1:
                raise InputError("household.withdrawal_tax_rate", f"is {rate!r}; a rate is a fraction below 1")

    def after_tax_value(self, account: Account) -> float:
        """What a dollar in ``account`` is worth after tax in the household's exposures (fraction)."""
        if account.kind != "deferred" or not self.after_tax_exposures:
            return 1.0
        rate = self.tax.short_term_rate if self.withdrawal_tax_rate is None else self.withdrawal_tax_rate
        return 1.0 - rate


def tax_drag(income_yield: pd.Series, qualified: pd.Series, tax: TaxRules,
             price_growth: pd.Series | None = None) -> pd.Series:
    """Yearly tax drag per asset in a taxable account (fraction of value per year).

    ``income_yield`` (fraction of value per year) is taxed every year, at the long-term rate
    where ``qualified`` (qualified dividends), else at the short-term (ordinary income) rate,
    e.g. bond interest. ``price_growth`` (expected price appreciation, fraction per year;
    missing: 0) builds an unrealized gain whose tax is due at the valuation horizon: each
    year of growth adds ``TaxRules.deferred_rate`` per dollar of gain, its present value
    (0 with ``at_horizon="step_up"``). In a Roth that growth is never taxed; in a
    traditional IRA its withdrawal tax is already in the after-tax value of the account.
    """
    qualified = qualified.reindex(income_yield.index).fillna(False).astype(bool)
    rate = np.where(qualified, tax.long_term_rate, tax.short_term_rate)
    drag = income_yield.astype(float) * rate
    if price_growth is not None:
        drag = drag + price_growth.reindex(income_yield.index).fillna(0.0).astype(float) * tax.deferred_rate
    return drag.rename("tax_drag")


@dataclass(frozen=True)
class HouseholdResult:
    """A household decision, split by account; amounts in account currency.

    Attributes
    ----------
    trades:
        Rows indexed by (``account``, ``asset``) with the columns of
        :attr:`RebalanceResult.trades`, dollars of the account itself; weights are fractions
        of the household's NAV (after tax with ``Household.after_tax_exposures``).
    lot_sales:
        Per lot sold: ``account``, ``lot_id`` (the account's own id) and the columns of
        :attr:`RebalanceResult.lot_sales`.
    accounts:
        Per account: ``kind``, ``nav_usd``, ``cash_before_usd``, ``cash_after_usd`` (before
        impact), ``realized_gain_usd``, ``tax_usd`` (due now), ``tax_drag_before_usd`` and
        ``tax_drag_after_usd`` (yearly).
    household:
        The solved program as one :class:`RebalanceResult` (positions named ``account/asset``,
        amounts in household after-tax dollars): exposures, costs, tracking error, objective,
        solver diagnostics.
    """

    trades: pd.DataFrame
    lot_sales: pd.DataFrame
    accounts: pd.DataFrame
    household: RebalanceResult

    @property
    def objective_bps(self) -> float:
        return self.household.objective_bps

    def summary(self) -> str:
        """A short report for people."""
        h = self.household
        lines = [f"Household rebalance on {h.date.date()}  NAV {h.nav_usd:,.0f}  ({h.status} by {h.solver})",
                 f"  tracking error {h.tracking_error_before:.3%} -> {h.tracking_error_after:.3%} (annual)"]
        for name, row in self.accounts.iterrows():
            traded = self.trades.loc[name]
            traded = traded[traded["gross_usd"] >= 0.01]
            lines.append(f"  {name} ({row.kind}): NAV {row.nav_usd:,.0f}, {len(traded)} trades, cash "
                         f"{row.cash_before_usd:,.0f} -> {row.cash_after_usd:,.0f}, tax now {row.tax_usd:,.0f}, "
                         f"tax drag {row.tax_drag_before_usd:,.0f} -> {row.tax_drag_after_usd:,.0f} a year")
        lines += [f"  wash sale: {fix}" for fix in h.wash_sale_fixes]
        return "\n".join(lines)


def rebalance_household(
    household: Household,
    targets: Targets,
    market: Market,
    settings: Settings = Settings(),
    *,
    universe: Sequence[str] | None = None,
    rebalancer: Rebalancer | None = None,
) -> HouseholdResult:
    """Decide every account's trades for one household target, as one convex program.

    Parameters
    ----------
    household:
        The accounts, the household's tax rules and the tax drag per asset.
    targets:
        Household targets and bands (fractions of the household's NAV).
    market, settings:
        As in :func:`optimizer.rebalance`; ``settings.cash_flow_usd`` and ``min_cash_usd``
        are per account here (:class:`Account`) and must be left at 0.
    universe:
        Asset order (default: the market's assets, then untradeable holdings).
    rebalancer:
        Reuse a :class:`Rebalancer` (and its built programs) across calls.

    Returns
    -------
    HouseholdResult

    Raises
    ------
    InputError, InfeasibleError, SolverError
    """
    data, parts = prepare_household(household, targets, market, settings, universe=universe)
    result = (rebalancer or Rebalancer()).solve(data)
    return split_result(household, data, parts, result)


def prepare_household(household: Household, targets: Targets, market: Market, settings: Settings = Settings(), *,
                      universe: Sequence[str] | None = None) -> tuple[ProblemData, list[ProblemData]]:
    """The household's stacked :class:`ProblemData` and each account's own (same universe and
    lot slots), amounts of the stacked data in fractions of the household's NAV."""
    if settings.cash_flow_usd or settings.min_cash_usd:
        raise InputError("settings.cash_flow_usd", "is set on the household; give cash flows and buffers per Account")
    if universe is None:
        untradeable = [a for acc in household.accounts for a in acc.portfolio.untradeable_usd.index
                       if a not in market.prices.index]
        universe = list(market.assets) + list(dict.fromkeys(untradeable))
    slots = max([1] + [int(acc.portfolio.lots.groupby("asset").size().max()) for acc in household.accounts
                       if len(acc.portfolio.lots)])
    loss_sales, seen = _household_wash_history(household, market.date)
    parts = []
    for acc in household.accounts:
        rules = household.tax if acc.taxable else replace(household.tax, short_term_rate=0.0, long_term_rate=0.0)
        buys = pd.concat([acc.portfolio.recent_buys] + [seen[o.name] for o in household.accounts if o is not acc],
                         ignore_index=True)
        portfolio = replace(acc.portfolio, recent_loss_sales=loss_sales, recent_buys=buys)
        account_settings = replace(settings, cash_flow_usd=acc.cash_flow_usd, min_cash_usd=acc.min_cash_usd)
        try:
            parts.append(prepare(portfolio, targets, market, account_settings, tax=rules,
                                 restrictions=acc.restrictions, universe=universe, lot_slots=slots))
        except InputError as error:
            raise InputError(f"accounts[{acc.name}].{error.field}", str(error).split(": ", 1)[-1],
                             asset=error.asset, lot=error.lot) from None
    return _stack(household, parts), parts


def _household_wash_history(household: Household, date: pd.Timestamp) -> tuple[pd.Series, dict[str, pd.DataFrame]]:
    """The household's wash-sale history: the latest loss sale per asset of its taxable
    accounts, and per account the buys the *other* accounts see (``asset, lot_id, acquired``;
    its lots bought within the window and its recent buys, lot ids prefixed by the account)."""
    window = pd.Timedelta(days=household.tax.wash_sale_days)
    losses = [acc.portfolio.recent_loss_sales for acc in household.accounts if acc.taxable]
    loss_sales = (pd.concat(losses).groupby(level=0).max() if losses
                  else pd.Series(dtype="datetime64[ns]"))
    seen = {}
    for acc in household.accounts:
        lots = acc.portfolio.lots
        held = lots.loc[(date - lots["acquired"]) <= window, ["asset", "lot_id", "acquired"]]
        frame = pd.concat([held, acc.portfolio.recent_buys], ignore_index=True)
        seen[acc.name] = frame.assign(lot_id=acc.name + "/" + frame["lot_id"].astype(str))
    return loss_sales, seen


def _stack(household: Household, parts: list[ProblemData]) -> ProblemData:
    """One :class:`ProblemData` over (account, asset) positions; NAV fractions of the household."""
    first = parts[0]
    accounts = household.accounts
    value = np.array([household.after_tax_value(acc) for acc in accounts])
    share = _shares(household, parts)
    nav = float(sum(p.nav_usd * f for p, f in zip(parts, value)))
    n = first.shape.n_assets

    def stacked(name: str, scale: bool = False) -> np.ndarray:
        return np.concatenate([getattr(p, name) * s if scale else getattr(p, name) for p, s in zip(parts, share)])

    underlying = list(first.shape.assets)
    codes: dict[str, int] = {}
    group = np.array([codes.setdefault(household.tax.wash_group(a), len(codes)) for a in underlying], dtype=int)
    drag = household.tax_drag.reindex(underlying).fillna(0.0).to_numpy(dtype=float) - household.cash_tax_drag
    holding_cost = np.concatenate([drag if acc.taxable else np.zeros(n) for acc in accounts])
    taxable = [p for p, acc in zip(parts, accounts) if acc.taxable]
    gains = [acc.portfolio.realized_gain_usd for acc in accounts if acc.taxable]
    netting = bool(gains) and all(g is not None for g in gains)
    tax_offset, carry_value = year_to_date(float(sum(gains)) if netting else None, household.tax, nav)
    rows, lower, upper = _account_band_rows(accounts, first.shape.keys, share)
    shape = replace(
        first.shape,
        assets=tuple(f"{acc.name}/{a}" for acc in accounts for a in underlying),
        asset_keys=first.shape.asset_keys * len(accounts),
        shorts=any(p.shape.shorts for p in parts),
        trade_caps=any(p.shape.trade_caps for p in parts),
        tax_netting=netting and bool(taxable),
        accounts=tuple(acc.name for acc in accounts),
        asset_account=tuple(np.repeat(np.arange(len(accounts)), n).tolist()),
        holding_costs=bool(np.any(holding_cost != 0)),
        account_band_rows=tuple(rows),
    )
    lot_ids = np.concatenate([np.where(p.lot_ids != "", acc.name + "/" + p.lot_ids.astype(str), "").astype(object)
                              for p, acc in zip(parts, accounts)])
    return replace(
        first,
        shape=shape,
        nav_usd=nav,
        price=np.concatenate([p.price * f for p, f in zip(parts, value)]),   # after-tax dollars per share
        weight0=stacked("weight0", True),
        cash0=float(sum(p.cash0 * s for p, s in zip(parts, share))),
        cash_min=float(sum(p.cash_min * s for p, s in zip(parts, share))),
        impact=np.concatenate([p.impact / s for p, s in zip(parts, share)]),
        half_spread=stacked("half_spread"),
        commission=stacked("commission"),
        lot_ids=lot_ids,
        wash_group=np.tile(group, len(accounts)),
        lot_value=stacked("lot_value", True),
        lot_quantity=stacked("lot_quantity"),
        lot_basis=np.concatenate([p.lot_basis * f for p, f in zip(parts, value)]),
        lot_long_term=stacked("lot_long_term"),
        lot_tax=stacked("lot_tax"),
        lot_tax_cost=stacked("lot_tax_cost"),
        lot_wait_cost=stacked("lot_wait_cost"),
        tax_offset=tax_offset,
        carry_value=carry_value,
        lot_sell_max=stacked("lot_sell_max", True),
        buy_max=stacked("buy_max", True),
        trade_max=stacked("trade_max", True),
        short_max=stacked("short_max", True),
        tax=household.tax,
        account_cash_free=np.array([(p.cash0 - p.cash_min) * s for p, s in zip(parts, share)]),
        holding_cost=holding_cost,
        account_band_lower=lower,
        account_band_upper=upper,
    )


def _account_band_rows(accounts: Sequence[Account], keys: Sequence[str],
                       share: np.ndarray) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray]:
    """The banded (account, key) rows and their bounds in household NAV fractions."""
    rows, lower, upper = [], [], []
    for a, acc in enumerate(accounts):
        if acc.bands is None:
            continue
        unknown = [k for k in acc.bands.band_lower.index if k not in keys]
        if unknown:
            raise InputError(f"accounts[{acc.name}].bands", "names an exposure key the household does not target",
                             asset=str(unknown[0]))
        for key, low in acc.bands.band_lower.items():
            rows.append((a, list(keys).index(key)))
            lower.append(float(low) * share[a])
            upper.append(float(acc.bands.band_upper[key]) * share[a])
    return rows, np.array(lower, dtype=float), np.array(upper, dtype=float)


def _shares(household: Household, parts: Sequence[ProblemData]) -> np.ndarray:
    """Per account, its (after-tax) value as a fraction of the household's."""
    value = np.array([p.nav_usd * household.after_tax_value(acc) for p, acc in zip(parts, household.accounts)])
    return value / value.sum()


def trade_of_accounts(household: Household, trades: Sequence[Trade], parts: Sequence[ProblemData]) -> Trade:
    """Stack per-account trades (each in fractions of its own NAV) into a household trade."""
    share = _shares(household, parts)
    return Trade(buy=np.concatenate([t.buy * s for t, s in zip(trades, share)]),
                 sell=np.concatenate([t.sell * s for t, s in zip(trades, share)]),
                 short=np.concatenate([t.short * s for t, s in zip(trades, share)]),
                 overlay_trade=np.zeros(0))


def split_result(household: Household, data: ProblemData, parts: list[ProblemData],
                 result: RebalanceResult) -> HouseholdResult:
    """Lay a solved household program out by account."""
    shape = data.shape
    names = [acc.name for acc in household.accounts]
    underlying = list(parts[0].shape.assets)
    index = pd.MultiIndex.from_arrays([[names[a] for a in shape.asset_account], underlying * len(names)],
                                      names=["account", "asset"])
    value = {acc.name: household.after_tax_value(acc) for acc in household.accounts}
    per_row = np.array([value[names[a]] for a in shape.asset_account])
    dollars = ["price", "trade_usd", "buy_usd", "sell_usd", "short_usd", "gross_usd"]
    trades = result.trades.set_axis(index)
    trades[dollars] = trades[dollars].div(per_row, axis=0)           # back to the account's own dollars
    sales = result.lot_sales.reset_index()
    account, lot = (sales["lot_id"].str.split("/", n=1, expand=True).T.to_numpy() if len(sales)
                    else (np.array([], dtype=object), np.array([], dtype=object)))
    sales = sales.assign(account=account, lot_id=lot, asset=[a.split("/", 1)[1] for a in sales["asset"]])
    per_sale = sales["account"].map(value).to_numpy(dtype=float)
    for column in ("proceeds_usd", "basis_usd", "gain_usd"):
        sales[column] = sales[column] / per_sale
    lot_sales = sales[["account", "lot_id"] + [c for c in sales.columns if c not in ("account", "lot_id")]]

    trade = _trade_from_result(data, result)
    free_after = cash.account_cash_free_after(data, trade)
    nav = data.nav_usd
    L = shape.lot_slots
    slot_account = np.repeat(np.array(shape.asset_account), L)
    gain = tax_term.realized_gain(data, trade)
    due = data.lot_tax * trade.sell
    weight_after = data.weight0 + trade.net(data)
    rows = []
    for a, (acc, part) in enumerate(zip(household.accounts, parts)):
        mine = np.array(shape.asset_account) == a
        rows.append({
            "account": acc.name, "kind": acc.kind, "nav_usd": part.nav_usd,
            "cash_before_usd": part.cash0 * part.nav_usd,
            "cash_after_usd": free_after[a] * nav / value[acc.name] + part.cash_min * part.nav_usd,
            "realized_gain_usd": float(gain[slot_account == a].sum() * nav) / value[acc.name],
            "tax_usd": float(due[slot_account == a].sum() * nav),
            "tax_drag_before_usd": _drag_usd(household, acc, data, data.weight0, mine, part.cash0 * part.nav_usd),
            "tax_drag_after_usd": _drag_usd(household, acc, data, weight_after, mine,
                                            free_after[a] * nav + part.cash_min * part.nav_usd),
        })
    return HouseholdResult(trades=trades, lot_sales=lot_sales.reset_index(drop=True),
                           accounts=pd.DataFrame(rows).set_index("account"), household=result)


def _drag_usd(household: Household, account: Account, data: ProblemData, weight: np.ndarray, mine: np.ndarray,
              cash_usd: float) -> float:
    """Yearly tax drag of one account's positions and cash (dollars; 0 outside taxable accounts)."""
    if not account.taxable:
        return 0.0
    drag = data.holding_cost[mine] + household.cash_tax_drag if len(data.holding_cost) else np.zeros(mine.sum())
    return float(drag @ weight[mine] * data.nav_usd + household.cash_tax_drag * cash_usd)


def _trade_from_result(data: ProblemData, result: RebalanceResult) -> Trade:
    """The household trade in NAV fractions, rebuilt from the result's buys and lot sales."""
    nav = data.nav_usd
    sell = np.zeros(data.shape.n_lots)
    slot = {lot_id: k for k, lot_id in enumerate(data.lot_ids) if lot_id}
    for lot_id, row in result.lot_sales.iterrows():
        sell[slot[lot_id]] = row["proceeds_usd"] / nav
    return Trade(buy=result.trades["buy_usd"].to_numpy() / nav, sell=sell,
                 short=result.trades["short_usd"].to_numpy() / nav, overlay_trade=np.zeros(0))
