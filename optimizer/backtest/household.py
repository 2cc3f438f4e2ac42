"""Backtest a household: taxable, tax-deferred (traditional IRA) and tax-exempt (Roth) accounts.

Each account has its own :class:`~optimizer.backtest.ledger.Ledger` (lots, cash, realized
gains); cash never moves between accounts. Prices are **total-return** levels; idle cash
earns the cash index. On each date, in this order:

1. mark to market; idle cash grows by the cash index; each **taxable** account accrues its
   *tax drag* for the days since the previous date: the income inside the total-return
   prices (bond coupons, dividends, interest) is taxed every year, so it owes
   ``value * income_yield * rate * days / 365.25`` per asset on the previous date's
   holdings (``rate``: the long-term rate for qualified dividends, the short-term rate,
   i.e. ordinary income, otherwise) plus the same on its idle cash at the cash yield;
2. on the first date of a new calendar year, each taxable account pays its capital-gains
   tax (:meth:`Ledger.settle_tax`, US netting) and the drag accrued so far, from cash;
3. on the first trading day of each month the policy decides (``"joint"``: one
   :func:`optimizer.household.rebalance_household` program with the tax drag in its
   objective, counting exposures after tax, with the wash-sale rule per group across
   accounts); ``"separate"``: each account rebalanced alone toward the
   household target by :class:`optimizer.Rebalancer`, taxable accounts with the household's
   :class:`TaxRules`, the others with rates 0, no tax drag; ``"hold"``: never trades);
   orders fill per account at today's prices, sales before buys (a net sell relieves the
   lots the decision named, then HIFO; a net buy opens a lot), costs priced by
   :func:`optimizer.backtest.costs.price_trade` (the optimizer's model); a buy in any
   account is booked on every *taxable* ledger of the household as an external purchase
   (``Ledger.record_external_buy``, when the ledger has it) so cross-account wash sales are
   disallowed there;
4. an account whose cash is negative after its trades, tax or drag first has its buys
   scaled down, then sells pro rata, lots at a gain before loss lots (a *forced* event).

Decisions see lots grouped by tax per dollar (:func:`optimizer.policies.lot_groups.group_lots`,
at most ``lot_groups`` per asset), a Ledoit-Wolf covariance of the trailing ``lookback``
daily returns (principal components as factors; no decision before ``min_history``
returns), each account's wash-sale history (the ledger's last loss sale per asset, taxable
accounts only, and its buys of the last ``wash_sale_days`` days, external ones included) and
a cash buffer in taxable accounts covering the tax and drag they will owe at the next
settlement. Trades under ``min_trade_usd`` are dropped.

Each account's daily bookkeeping (opening book, cash growth, tax-period dates, marking,
forced sales) runs through the functions of :mod:`optimizer.backtest.book` that
:class:`~optimizer.backtest.simulator.Simulator` uses for its one account; what stays here is
the household's own: the tax drag, one decision across accounts, the orders split per
account, cross-account wash sales and the household's figures.

After-tax terminal wealth (dollars): taxable ``NAV - liquidation tax - unpaid drag``;
deferred ``NAV * (1 - short_term_rate)`` (withdrawals taxed as ordinary income); exempt
``NAV``. Several taxable accounts are netted separately (one ledger each), not on one return.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from optimizer.backtest.audit import wash_sale_violations
from optimizer.backtest.book import (begin_day, book_value, cash_growth_factors, fund_shortfall, open_book,
                                     pro_rata_sales, tax_period_starts)
from optimizer.backtest.costs import CostModel, price_trade, trailing_volatility
from optimizer.backtest.data import align_series, check_prices
from optimizer.backtest.ledger import Ledger
from optimizer.backtest.fills import fill_trade
from optimizer.errors import InfeasibleError, InputError, SolverError
from optimizer.household import ACCOUNT_KINDS, Account, Household, rebalance_household, tax_drag
from optimizer.model import Market, Portfolio, Restrictions, RiskModel, Settings, Targets, TaxRules
from optimizer.model.covariance import ledoit_wolf
from optimizer.policies.lot_groups import LotGroups, group_lots, relieve
from optimizer.rebalancer import Rebalancer

POLICIES = ("joint", "separate", "hold")
#: Trades below this many dollars are not filled (arithmetic noise).
DUST_TRADE_USD = 0.01
NO_RESTRICTIONS = Restrictions()


@dataclass(frozen=True)
class AccountSetup:
    """One account of the backtest household.

    Parameters
    ----------
    name:
        Unique, without ``/``.
    kind:
        ``"taxable"``, ``"deferred"`` (traditional IRA) or ``"exempt"`` (Roth).
    initial_usd:
        Starting value, dollars; invested at the household target weights on the first date
        without cost (weights summing below 1 leave the rest in cash).
    """

    name: str
    kind: str
    initial_usd: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            raise InputError("account.name", f"is {self.name!r}; use a non-empty name without '/'")
        if self.kind not in ACCOUNT_KINDS:
            raise InputError(f"accounts[{self.name}].kind", f"is {self.kind!r}; use one of {ACCOUNT_KINDS}")
        if not (np.isfinite(self.initial_usd) and self.initial_usd > 0):
            raise InputError(f"accounts[{self.name}].initial_usd", f"is {self.initial_usd!r}; it must be positive")


@dataclass(frozen=True)
class HouseholdBacktestConfig:
    """Rules of a household backtest; both policies decide with the same ``settings``.

    Parameters
    ----------
    accounts:
        The accounts (names unique).
    tax:
        The household's tax rules (taxable accounts; ``short_term_rate`` is also the
        ordinary-income rate of interest and of deferred withdrawals).
    costs:
        Trading costs, shared by the fills and the decisions.
    settings:
        :class:`Settings` of every decision (``min_cash_usd`` and ``cash_flow_usd`` are set
        per account by the backtest).
    band_width:
        Absolute band around each household target weight (NAV fraction).
    lookback, min_history:
        Trailing daily returns of the risk model; no decision before ``min_history`` exist.
    n_factors:
        Principal components of the covariance kept as factors.
    lot_groups:
        Most lot slots per asset and account (lots grouped by tax per dollar, >= 4).
    min_trade_usd:
        Trades of an account smaller than this (dollars) are dropped.
    """

    accounts: tuple[AccountSetup, ...]
    tax: TaxRules = TaxRules()
    costs: CostModel = field(default_factory=CostModel)
    settings: Settings = Settings(risk_aversion=100.0)
    band_width: float = 0.10
    lookback: int = 504
    min_history: int = 60
    n_factors: int = 5
    lot_groups: int = 8
    min_trade_usd: float = 100.0

    def __post_init__(self) -> None:
        accounts = tuple(self.accounts)
        if not accounts:
            raise InputError("accounts", "is empty; a household needs at least one account")
        names = [a.name for a in accounts]
        if len(set(names)) != len(names):
            raise InputError("accounts", "names an account twice")
        object.__setattr__(self, "accounts", accounts)
        if self.min_history < 2 or self.lookback < self.min_history:
            raise InputError("min_history", "must be >= 2 and <= lookback")
        if not (np.isfinite(self.min_trade_usd) and self.min_trade_usd >= 0):
            raise InputError("min_trade_usd", f"is {self.min_trade_usd!r}; a non-negative amount")


@dataclass(frozen=True)
class HouseholdBacktestResult:
    """One policy's household path; dollars unless named otherwise.

    Attributes
    ----------
    nav_usd, cash_usd:
        Dates x accounts, after the date's trades.
    weights:
        Dates x (assets + ``"idle_cash"``): household holdings / household NAV, counted after
        tax (a deferred account's dollars times ``1 - short_term_rate``, what its withdrawals
        leave), the exposures the joint program tracks.
    traded_usd, costs_usd, tax_paid_usd, drag_paid_usd:
        Per account: gross traded, trading costs (spread + commission + impact), capital-gains
        tax settled (< 0: credits) and tax drag paid, over the run.
    terminal:
        Per account: ``kind``, ``nav_usd``, ``liquidation_tax_usd``, ``unpaid_drag_usd``,
        ``after_tax_usd`` (see the module docstring).
    losses_harvested_usd:
        Realized lot losses of taxable accounts that count for tax (positive dollars): every
        relief's loss less the losses the ledgers disallowed (as ``metrics.losses_harvested_usd``).
    wash_sales:
        Wash-sale disallowances booked by taxable ledgers (``Ledger.wash_sales_frame`` rows,
        with an ``account`` column; empty if the ledger does not book them).
    wash_sale_violations:
        (taxable loss relief, buy in *any* account of the same asset within 30 days) pairs
        found by the independent checker :func:`optimizer.backtest.audit.wash_sale_violations`
        on the logs, with the relieving ``account``.
    forced_dates, failures:
        Dates with forced sales; decisions that failed ``(date, message)`` (book left alone).
    final_holdings_usd:
        Accounts x (assets + ``"idle_cash"``) on the last date: where each asset ended up.
    """

    policy: str
    calendar: pd.DatetimeIndex
    target: pd.Series
    nav_usd: pd.DataFrame
    cash_usd: pd.DataFrame
    weights: pd.DataFrame
    asset_returns: pd.DataFrame
    traded_usd: pd.Series
    costs_usd: pd.Series
    tax_paid_usd: pd.Series
    drag_paid_usd: pd.Series
    terminal: pd.DataFrame
    losses_harvested_usd: float
    wash_sales: pd.DataFrame
    wash_sale_violations: pd.DataFrame
    forced_dates: list
    failures: list
    decisions: int
    final_holdings_usd: pd.DataFrame

    @property
    def after_tax_terminal_usd(self) -> float:
        return float(self.terminal["after_tax_usd"].sum())

    @property
    def years(self) -> float:
        return (self.calendar[-1] - self.calendar[0]).days / 365.25

    def tracking_error(self) -> float:
        """Annualised tracking error of the household weights against the target: the standard
        deviation of ``sum_i (w_i,t - target_i) * r_i,t+1`` over dates (daily weights after
        trading, next-day returns; idle cash is an asset with target 0 earning the cash index),
        times the square root of dates per year."""
        active = self.weights.to_numpy()[:-1] - self.target.reindex(self.weights.columns).fillna(0.0).to_numpy()
        returns = self.asset_returns.to_numpy()[1:]
        if len(returns) < 2:
            return 0.0
        per_year = (len(self.calendar) - 1) / max(self.years, 1e-9)
        return float(np.std((active * returns).sum(axis=1), ddof=1) * np.sqrt(per_year))

    def turnover(self) -> float:
        """Household gross traded / mean household NAV, per year."""
        return float(self.traded_usd.sum() / self.nav_usd.sum(axis=1).mean() / max(self.years, 1e-9))

    def metrics(self) -> dict:
        """The run's figures in one flat dict (dollars, fractions, counts)."""
        return {"after_tax_terminal_usd": self.after_tax_terminal_usd,
                "pretax_terminal_usd": float(self.nav_usd.iloc[-1].sum()),
                "tracking_error": self.tracking_error(), "turnover": self.turnover(),
                "tax_paid_usd": float(self.tax_paid_usd.sum()), "drag_paid_usd": float(self.drag_paid_usd.sum()),
                "trading_cost_usd": float(self.costs_usd.sum()),
                "liquidation_tax_usd": float(self.terminal["liquidation_tax_usd"].sum()),
                "losses_harvested_usd": self.losses_harvested_usd,
                "wash_sale_violations": len(self.wash_sale_violations),
                "disallowed_loss_usd": float(self.wash_sales["disallowed_usd"].sum()) if len(self.wash_sales) else 0.0,
                "wash_sale_disallowances": len(self.wash_sales), "decisions": self.decisions,
                "failures": len(self.failures), "forced_events": len(self.forced_dates)}


@dataclass
class _Account:
    """Mutable state of one account during a run."""

    setup: AccountSetup
    ledger: Ledger
    drag_due_usd: float = 0.0
    traded_usd: float = 0.0
    costs_usd: float = 0.0
    tax_paid_usd: float = 0.0
    drag_paid_usd: float = 0.0

    @property
    def taxable(self) -> bool:
        return self.setup.kind == "taxable"


class HouseholdSimulator:
    """A price history with income yields plus household rules; :meth:`run` backtests a policy.

    Parameters
    ----------
    prices:
        Total-return price levels (dates x assets), > 0, no gaps.
    income_yield:
        Income inside each asset's total return (dates x assets, fraction per year, >= 0):
        what a taxable account is taxed on every year. Missing assets: 0.
    qualified:
        Per asset, True where the income is qualified dividends (long-term rate); else
        ordinary income (short-term rate). Missing: False.
    config:
        Accounts and rules.
    cash_index:
        Total-return level of idle cash per date (None: cash earns 0).
    cash_yield:
        Interest yield of idle cash per date (fraction per year; None: 0), taxed as ordinary
        income in taxable accounts.
    price_growth:
        The joint program's *assumption* of each asset's price appreciation (fraction per
        year; None: 0), whose tax falls due at the horizon in a taxable account
        (:func:`optimizer.household.tax_drag`). Only decisions use it; the path is the data's.
    """

    def __init__(self, prices: pd.DataFrame, income_yield: pd.DataFrame, qualified: pd.Series,
                 config: HouseholdBacktestConfig, *, cash_index: pd.Series | None = None,
                 cash_yield: pd.Series | None = None, price_growth: pd.Series | None = None):
        frame = check_prices(prices)
        self.config = config
        self.calendar = frame.index
        self.assets = tuple(frame.columns)
        self.prices = frame.to_numpy()
        T = len(self.calendar)
        income = income_yield.reindex(index=self.calendar, columns=list(self.assets)).fillna(0.0)
        values = income.to_numpy(dtype=float)
        if not np.all(np.isfinite(values)) or (values < 0).any():
            raise InputError("income_yield", "must be finite fractions >= 0 per year")
        self.income_yield = values
        self.qualified = qualified.reindex(list(self.assets)).fillna(False).astype(bool)
        self.price_growth = price_growth
        rates = np.where(self.qualified.to_numpy(), config.tax.long_term_rate, config.tax.short_term_rate)
        self.drag_rate = self.income_yield * rates            # dates x assets, fraction per year
        self.cash_growth = cash_growth_factors(cash_index, self.calendar)
        cy = align_series(cash_yield, self.calendar, "cash_yield", fill_value=0.0)
        self.cash_yield = np.zeros(T) if cy is None else cy
        self.volatility = trailing_volatility(self.prices, config.costs.vol_window)
        self.half_spread, self.commission, self.adv_usd = config.costs.arrays(list(self.assets))
        days = np.r_[0.0, (self.calendar[1:] - self.calendar[:-1]).days.to_numpy(dtype=float)]
        self.year_fraction = days / 365.25
        months = self.calendar.to_period("M")
        self.decision_day = np.r_[True, months[1:] != months[:-1]]
        self.new_year = tax_period_starts(self.calendar, "annual")

    # -- the run -------------------------------------------------------------------------
    def run(self, policy: str, target: pd.Series) -> HouseholdBacktestResult:
        """Backtest ``policy`` (:data:`POLICIES`) toward the household ``target`` weights per
        asset (NAV fractions summing to at most 1; the rest is idle cash)."""
        if policy not in POLICIES:
            raise InputError("policy", f"is {policy!r}; use one of {POLICIES}")
        weight = target.reindex(list(self.assets)).fillna(0.0).astype(float)
        extra = sorted(set(target.index) - set(self.assets))
        if extra:
            raise InputError("target", "names an asset without prices", asset=str(extra[0]))
        if (weight < 0).any() or weight.sum() > 1 + 1e-9:
            raise InputError("target", "weights must be >= 0 and sum to at most 1")
        cfg = self.config
        targets = Targets.absolute(weight, cfg.band_width, cash_weight=max(0.0, 1.0 - float(weight.sum())))
        accounts = [_Account(a, Ledger(list(self.assets), self._rules(a.kind), "hifo")) for a in cfg.accounts]
        for acc in accounts:
            open_book(acc.ledger, weight.to_numpy(), acc.setup.initial_usd, self.prices[0], self.calendar[0])
        T, n = self.prices.shape
        names = [a.setup.name for a in accounts]
        nav = np.zeros((T, len(accounts)))
        cash = np.zeros((T, len(accounts)))
        holdings = np.zeros((T, n))
        idle = np.zeros(T)
        after_tax = np.array([1.0 - cfg.tax.short_term_rate if acc.setup.kind == "deferred" else 1.0
                              for acc in accounts])
        forced: list = []
        failures: list = []
        decisions = 0
        rebalancer = Rebalancer()
        for k in range(T):
            date = self.calendar[k]
            for acc in accounts:
                if k > 0:
                    self._accrue_drag(k, acc)
                settle = bool(self.new_year[k]) and acc.taxable
                paid = begin_day(acc.ledger, cash_growth=self.cash_growth[k] if k > 0 else 1.0, settle_tax=settle)
                if settle:
                    acc.tax_paid_usd += paid
                    acc.ledger.cash_usd -= acc.drag_due_usd
                    acc.drag_paid_usd += acc.drag_due_usd
                    acc.drag_due_usd = 0.0
            if policy != "hold" and self.decision_day[k] and k >= cfg.min_history:
                decisions += 1
                try:
                    orders = self._decide(k, policy, accounts, targets, rebalancer)
                except (SolverError, InfeasibleError) as exc:
                    failures.append((date, str(exc)))
                    orders = {}
                self._fill_all(k, accounts, orders)
            for a, acc in enumerate(accounts):
                if acc.ledger.cash_usd < 0:
                    self._fund(k, acc)
                    forced.append((date, acc.setup.name))
                value, nav[k, a] = book_value(acc.ledger, self.prices[k])
                holdings[k] += value * after_tax[a]
                cash[k, a] = acc.ledger.cash_usd
                idle[k] += acc.ledger.cash_usd * after_tax[a]
        total = (nav * after_tax).sum(axis=1)
        weights = pd.DataFrame(np.column_stack([holdings, idle]) / total[:, None], index=self.calendar,
                               columns=list(self.assets) + ["idle_cash"])
        returns = np.zeros((T, n + 1))
        returns[1:, :n] = self.prices[1:] / self.prices[:-1] - 1.0
        returns[:, n] = self.cash_growth - 1.0
        return HouseholdBacktestResult(
            policy=policy, calendar=self.calendar, target=weight,
            nav_usd=pd.DataFrame(nav, index=self.calendar, columns=names),
            cash_usd=pd.DataFrame(cash, index=self.calendar, columns=names), weights=weights,
            asset_returns=pd.DataFrame(returns, index=self.calendar, columns=weights.columns),
            traded_usd=pd.Series([a.traded_usd for a in accounts], index=names),
            costs_usd=pd.Series([a.costs_usd for a in accounts], index=names),
            tax_paid_usd=pd.Series([a.tax_paid_usd for a in accounts], index=names),
            drag_paid_usd=pd.Series([a.drag_paid_usd for a in accounts], index=names),
            terminal=self._terminal(accounts), losses_harvested_usd=_losses(accounts),
            wash_sales=_wash_sales(accounts), wash_sale_violations=_violations(accounts, cfg.tax),
            forced_dates=forced, failures=failures, decisions=decisions,
            final_holdings_usd=pd.DataFrame([np.r_[a.ledger.shares * self.prices[-1], a.ledger.cash_usd]
                                             for a in accounts], index=names, columns=weights.columns))

    def _rules(self, kind: str) -> TaxRules:
        """The household's rules in a taxable account; rates 0 elsewhere."""
        if kind == "taxable":
            return self.config.tax
        return replace(self.config.tax, short_term_rate=0.0, long_term_rate=0.0)

    def _accrue_drag(self, k: int, acc: _Account) -> None:
        """Accrue a taxable account's drag over (k-1, k] on the previous date's holdings and idle
        cash (before the cash grows into date ``k``)."""
        ledger = acc.ledger
        if acc.taxable:
            dt = self.year_fraction[k]
            value = ledger.shares * self.prices[k - 1]
            acc.drag_due_usd += dt * (float(value @ self.drag_rate[k - 1])
                                      + max(ledger.cash_usd, 0.0) * self.cash_yield[k - 1]
                                      * self.config.tax.short_term_rate)

    def _terminal(self, accounts: list[_Account]) -> pd.DataFrame:
        prices, date = self.prices[-1], self.calendar[-1]
        rows = []
        for acc in accounts:
            nav = float(acc.ledger.shares @ prices + acc.ledger.cash_usd)
            liquidation = acc.ledger.liquidation_tax_usd(prices, date) if acc.taxable else 0.0
            unpaid = acc.drag_due_usd if acc.taxable else 0.0
            if acc.setup.kind == "deferred":
                after = nav * (1.0 - self.config.tax.short_term_rate)
            else:
                after = nav - liquidation - unpaid
            rows.append({"account": acc.setup.name, "kind": acc.setup.kind, "nav_usd": nav,
                         "liquidation_tax_usd": liquidation, "unpaid_drag_usd": unpaid, "after_tax_usd": after})
        return pd.DataFrame(rows).set_index("account")

    # -- decisions -----------------------------------------------------------------------
    def _market(self, k: int) -> Market:
        names = list(self.assets)
        history = self.prices[max(0, k - self.config.lookback):k + 1]
        returns = history[1:] / history[:-1] - 1.0
        per_year = 252.0
        covariance = ledoit_wolf(returns)[0] * per_year
        risk = RiskModel.from_covariance(pd.DataFrame(covariance, index=names, columns=names),
                                         min(self.config.n_factors, len(names)))
        return Market(date=self.calendar[k], prices=pd.Series(self.prices[k], index=names),
                      asset_class=pd.Series(names, index=names), risk=risk,
                      volatility=pd.Series(self.volatility[k], index=names),
                      adv_usd=pd.Series(self.adv_usd, index=names),
                      half_spread=pd.Series(self.half_spread, index=names),
                      commission=pd.Series(self.commission, index=names))

    def _portfolio(self, k: int, acc: _Account, groups: LotGroups) -> Portfolio:
        """The account as the engine sees it: grouped lots, cash, its own wash-sale history."""
        ledger, date = acc.ledger, self.calendar[k]
        days = self.config.tax.wash_sale_days
        if acc.taxable:
            losses = pd.Series(ledger.last_loss_sale, dtype="datetime64[ns]")
            realized = ledger.realized_gain_usd(date)
        else:
            losses, realized = pd.Series(dtype="datetime64[ns]"), None
        buys = ledger.recent_buys(date, days) if hasattr(ledger, "recent_buys") else None
        extra = {} if buys is None else {"recent_buys": buys}
        return Portfolio(lots=groups.lots, cash_usd=max(ledger.cash_usd, 0.0), recent_loss_sales=losses,
                         realized_gain_usd=realized, **extra)

    def _buffer(self, acc: _Account) -> float:
        """Cash a taxable account keeps for its next settlement (tax owed now plus drag due)."""
        if not acc.taxable:
            return 0.0
        return max(0.0, acc.ledger.tax_owed_usd() + acc.drag_due_usd)

    def _decide(self, k: int, policy: str, accounts: list[_Account], targets: Targets,
                rebalancer: Rebalancer) -> dict[str, tuple[np.ndarray, dict]]:
        """Orders per account: ``{name: (trade_usd per asset, {asset: {ledger lot_id: shares}})}``."""
        cfg = self.config
        market = self._market(k)
        date = self.calendar[k]
        prices = market.prices
        groups = {acc.setup.name: group_lots(acc.ledger.lots_frame(), prices, date, cfg.tax.long_term_days,
                                             cfg.lot_groups) for acc in accounts}
        portfolios = {acc.setup.name: self._portfolio(k, acc, groups[acc.setup.name]) for acc in accounts}
        settings = replace(cfg.settings, impact_eta=cfg.costs.impact_eta, min_cash_usd=0.0, cash_flow_usd=0.0)
        solve = self._decide_joint if policy == "joint" else self._decide_separate
        decided = solve(k, accounts, portfolios, targets, market, settings, rebalancer)
        orders = {}
        for acc in accounts:
            name = acc.setup.name
            trade_usd, sales = decided[name]
            trade = trade_usd.reindex(list(self.assets)).fillna(0.0).to_numpy(dtype=float, copy=True)
            trade[np.abs(trade) < cfg.min_trade_usd] = 0.0
            by_asset: dict[str, dict[str, float]] = {}
            for group_id, row in sales.iterrows():
                by_asset.setdefault(str(row["asset"]), {})[str(group_id)] = float(row["shares"])
            named = {asset: relieve(groups[name], s) for asset, s in by_asset.items()}
            orders[name] = (trade, named)
        return orders

    def _decide_joint(self, k: int, accounts: list[_Account], portfolios: dict[str, Portfolio], targets: Targets,
                      market: Market, settings: Settings, rebalancer: Rebalancer) -> dict:
        """One household program with today's tax drag: ``{name: (trade_usd, lot sales)}``."""
        cfg = self.config
        drag = tax_drag(pd.Series(self.income_yield[k], index=list(self.assets)), self.qualified, cfg.tax,
                        self.price_growth)
        cash_drag = float(self.cash_yield[k] * cfg.tax.short_term_rate)

        def household(buffered: bool) -> Household:
            """The accounts; with ``buffered`` each taxable one keeps its tax buffer (at most its NAV)."""
            return Household(tuple(
                Account(acc.setup.name, portfolios[acc.setup.name], kind=acc.setup.kind,
                        min_cash_usd=min(self._buffer(acc), portfolios[acc.setup.name].cash_usd
                                         + _value(acc, market.prices)) if buffered else 0.0)
                for acc in accounts), tax=cfg.tax, tax_drag=drag, cash_tax_drag=cash_drag)

        try:
            result = rebalance_household(household(True), targets, market, settings, rebalancer=rebalancer)
        except InfeasibleError:
            result = rebalance_household(household(False), targets, market, settings, rebalancer=rebalancer)
        sales = result.lot_sales
        return {acc.setup.name: (result.trades.loc[acc.setup.name, "trade_usd"],
                                 sales[sales["account"] == acc.setup.name].set_index("lot_id"))
                for acc in accounts}

    def _decide_separate(self, k: int, accounts: list[_Account], portfolios: dict[str, Portfolio],
                         targets: Targets, market: Market, settings: Settings, rebalancer: Rebalancer) -> dict:
        """Each account alone toward the household target: ``{name: (trade_usd, lot sales)}``.

        Tax-deferred and exempt accounts get no wash-sale history (their rates are 0)."""
        decided = {}
        for acc in accounts:
            portfolio = portfolios[acc.setup.name]
            if not acc.taxable:
                portfolio = replace(portfolio, recent_buys=portfolio.recent_buys.iloc[0:0])
            options = {"tax": self._rules(acc.setup.kind), "restrictions": NO_RESTRICTIONS,
                       "lot_slots": self.config.lot_groups}
            try:
                result = rebalancer.rebalance(portfolio, targets, market,
                                              replace(settings, min_cash_usd=self._buffer(acc)), **options)
            except InfeasibleError:
                result = rebalancer.rebalance(portfolio, targets, market, settings, **options)
            decided[acc.setup.name] = (result.trades["trade_usd"], result.lot_sales)
        return decided

    # -- fills ---------------------------------------------------------------------------
    def _price(self, k: int, trade_usd: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return price_trade(trade_usd, self.half_spread, self.commission, self.config.costs.impact_eta,
                           self.volatility[k], self.adv_usd)

    def _fill_all(self, k: int, accounts: list[_Account], orders: dict) -> None:
        """Fill every account's orders; book each buy on the other taxable ledgers."""
        bought: list[tuple[str, int, float]] = []
        for acc in accounts:
            if acc.setup.name in orders:
                trade, named = orders[acc.setup.name]
                buys = self._fill(k, acc, trade, named, scale_buys=True)
                bought += [(acc.setup.name, i, shares) for i, shares in buys]
        for name, i, shares in bought:
            source = next(a for a in accounts if a.setup.name == name)
            for acc in accounts:
                if acc is source or not acc.taxable or not hasattr(acc.ledger, "record_external_buy"):
                    continue
                acc.ledger.record_external_buy(self.assets[i], shares, self.calendar[k],
                                               tax_exempt=not source.taxable)

    def _fill(self, k: int, acc: _Account, trade_usd: np.ndarray, named: dict, *,
              scale_buys: bool) -> list[tuple[int, float]]:
        """Fill one account's net trade per asset through the simulators' one fill path
        (:func:`optimizer.backtest.fills.fill_trade`: sales first, a sale within a dollar of the
        named lots sells exactly them, buys under a cent dropped); return ``(asset index, shares)``
        bought."""
        fill = fill_trade(acc.ledger, self.calendar[k], self.prices[k], trade_usd, named,
                          lambda trade: self._price(k, trade), scale_buys=scale_buys, rounds=6, snap_named=True,
                          min_trade_usd=DUST_TRADE_USD, min_buy_usd=DUST_TRADE_USD, cap_to_held=True)
        if fill is None:
            return []
        acc.traded_usd += float(fill.gross.sum())
        acc.costs_usd += fill.cost_usd
        return list(fill.bought)

    def _fund(self, k: int, acc: _Account) -> None:
        """Raise an account's missing cash by selling pro rata, lots at a gain before loss lots
        (:func:`optimizer.backtest.book.fund_shortfall` with
        :func:`optimizer.backtest.book.pro_rata_sales`)."""
        prices = self.prices[k]
        fills = fund_shortfall(acc.ledger, self.calendar[k], prices, lambda trade: self._price(k, trade),
                               pro_rata_sales(acc.ledger, prices),
                               linear_cost=float((self.half_spread + self.commission).max()),
                               tolerance_usd=1e-6, min_trade_usd=0.0, cap_to_held=True, account=acc.setup.name)
        for fill in fills:
            if fill is not None:
                acc.traded_usd += float(fill.gross.sum())
                acc.costs_usd += fill.cost_usd


def _value(acc: _Account, prices: pd.Series) -> float:
    return float(acc.ledger.shares @ prices.to_numpy(dtype=float))


def _losses(accounts: list[_Account]) -> float:
    """Realized lot losses of taxable accounts that count for tax, positive dollars."""
    total = 0.0
    for acc in accounts:
        if acc.taxable:
            gains = acc.ledger.reliefs_frame()["gain_usd"].to_numpy(dtype=float)
            disallowed = acc.ledger.disallowed_loss_usd() if hasattr(acc.ledger, "disallowed_loss_usd") else 0.0
            total += max(float(-gains[gains < 0].sum()) - disallowed, 0.0)
    return total + 0.0


def _violations(accounts: list[_Account], tax: TaxRules) -> pd.DataFrame:
    """The independent audit of each taxable account's loss reliefs against every account's buys
    (other accounts' lot ids prefixed with their name: each ledger numbers its own lots)."""
    buys = pd.concat([acc.ledger.buys_frame().assign(account=acc.setup.name) for acc in accounts],
                     ignore_index=True)
    frames = []
    for acc in accounts:
        if not acc.taxable:
            continue
        other = buys["account"] != acc.setup.name
        ids = buys["lot_id"].astype(str).where(~other, buys["account"] + "/" + buys["lot_id"].astype(str))
        found = wash_sale_violations(buys.assign(lot_id=ids), acc.ledger.reliefs_frame(), tax.wash_sale_days,
                                     dict(tax.identical_groups))
        frames.append(found.assign(account=acc.setup.name))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["account"])


def _wash_sales(accounts: list[_Account]) -> pd.DataFrame:
    frames = [acc.ledger.wash_sales_frame().assign(account=acc.setup.name) for acc in accounts
              if acc.taxable and hasattr(acc.ledger, "wash_sales_frame")]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["account"])
