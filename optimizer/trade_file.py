"""Executable trade files: the orders a desk or broker can act on, from one rebalance result.

One writer serves ``rebalance solve`` (``orders.csv``) and the nightly batch
(``orders.parquet`` / ``orders.csv`` per date), so both say the same thing the same way.

Columns (:data:`ORDER_COLUMNS`), one row per account, asset and side:

``account_id``, ``date`` (ISO), ``asset``, ``side`` (``buy`` or ``sell``; a short sale is a
``sell`` with no lot ids), ``shares`` (> 0; whole shares when the result was solved with
``whole_units``, except a full sale of a lot that itself holds a fraction), ``price``
(per share, the snapshot price the decision used), ``notional`` (``shares * price``
rounded to cents, > 0), ``currency``, ``lot_ids`` and ``lot_shares`` (``;``-separated,
sells only: which tax lots to relieve and how many shares of each), ``reason``.

Reasons, first match wins:

* ``wash-sale fix``: the asset's direction was fixed by the wash-sale pass
  (:attr:`RebalanceResult.wash_sale_fixes`);
* ``harvest``: a sell whose lots realize a net loss;
* ``cash raise``: a sell while the account's cash after its cash flow is below its floor
  (``cash_floor_usd``, e.g. a withdrawal to fund);
* ``overlay``: a futures / swap contract trade;
* ``rebalance``: everything else.

Rules that make the file executable (:class:`OrderRules`):

* **no float noise**: per asset the buy and the sales are netted into one row with one
  side, so a buy row never carries a sell; shares are rounded to ``share_decimals``
  (a whole-share result snaps to integers) and notional to cents;
* **no dust**: a row whose notional is below ``min_notional_usd`` or below
  ``dust_fraction`` of the account's NAV is dropped, except a sell whose cash the
  account needs (dropping it would leave cash below zero);
* **cash never below zero**: cash after the file's orders is recomputed from the
  result's cash after trading plus what rounding and dropping changed (costs as the
  result priced them); while it is negative the largest buy gives up shares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.household import Household, HouseholdResult
from optimizer.problem_data import ProblemData
from optimizer.result import RebalanceResult

ORDER_COLUMNS = ("account_id", "date", "asset", "side", "shares", "price", "notional", "currency", "lot_ids",
                 "lot_shares", "reason")
REASONS = ("rebalance", "cash raise", "harvest", "wash-sale fix", "overlay")


@dataclass(frozen=True)
class OrderRules:
    """How a result becomes orders.

    Parameters
    ----------
    min_notional_usd:
        Smallest order kept, account currency (>= 0).
    dust_fraction:
        Smallest order kept as a fraction of the account's NAV (>= 0): solver noise on a
        large account is larger in dollars than on a small one.
    share_decimals:
        Decimals kept on fractional shares (whole-share results snap to integers first).
    whole_shares:
        Require a result solved with ``whole_units=True`` (the batch default); a
        fractional result then raises instead of being rounded after the fact.
    currency:
        Currency code written on every row (the account's currency).
    """

    min_notional_usd: float = 1.0
    dust_fraction: float = 1e-6
    share_decimals: int = 6
    whole_shares: bool = False
    currency: str = "USD"

    def __post_init__(self) -> None:
        for name in ("min_notional_usd", "dust_fraction"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise InputError(f"orders.{name}", f"is {value!r}; it must be a finite number >= 0")
        if isinstance(self.share_decimals, bool) or not isinstance(self.share_decimals, int) \
                or not 0 <= self.share_decimals <= 9:
            raise InputError("orders.share_decimals", f"is {self.share_decimals!r}; it must be an integer 0..9")
        if not isinstance(self.currency, str) or not self.currency.strip():
            raise InputError("orders.currency", f"is {self.currency!r}; it must be a currency code")


def _snap(shares: np.ndarray, whole: bool, decimals: int) -> np.ndarray:
    """Round shares: to integers where a whole-unit result is within 1e-6 of one, else to ``decimals``."""
    out = np.round(shares, decimals)
    if whole:
        nearest = np.round(shares)
        out = np.where(np.abs(shares - nearest) <= 1e-6, nearest, out)
    return out


def sized_orders(net_usd: np.ndarray, price: np.ndarray, result: RebalanceResult, rules: OrderRules
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """The file's order sizes from the net trade per asset (account currency, + buy):
    ``(shares, side, notional, keep, threshold)``.

    Shares are snapped to the rules' decimals (whole with a whole-unit result); orders below
    the dust threshold (``threshold``, account currency) are dropped, except a sale whose cash
    the account needs; if rounding still leaves cash short, the largest buy gives up shares.
    """
    raw_shares = net_usd / price
    shares = _snap(np.abs(raw_shares), result.whole_units, rules.share_decimals)
    side = np.where(raw_shares > 0, "buy", "sell")
    notional = np.round(shares * price, 2)
    threshold = max(rules.min_notional_usd, rules.dust_fraction * abs(float(result.nav_usd)))
    keep = (shares > 0) & (notional > 0)
    # cash after the file's orders: the result's cash, plus what the file does not do
    cash = float(result.cash_after_usd) + float(net_usd.sum())
    is_buy = side == "buy"

    def cash_after(kept: np.ndarray) -> float:
        signed = np.where(is_buy, notional, -notional)
        return cash - float(signed[kept].sum())

    dust = keep & (notional < threshold)
    keep &= ~dust
    # dropping a buy only frees cash; a small sell is kept if the account needs its cash
    if dust.any():
        for i in np.argsort(-notional * ~is_buy):
            if dust[i] and not is_buy[i] and cash_after(keep) < 0:
                keep[i] = True
    # rounding may still leave cash a little short: the largest buy gives up shares
    unit = 1.0 if result.whole_units else 10.0 ** -rules.share_decimals
    for _ in range(len(shares) * 4):
        short = cash_after(keep)
        if short >= 0:
            break
        buys = np.nonzero(keep & is_buy)[0]
        if not len(buys):
            break
        i = buys[np.argmax(notional[buys])]
        cut = max(unit, math.ceil(-short / price[i] / unit) * unit)
        shares[i] = max(0.0, np.round(shares[i] - cut, rules.share_decimals))
        notional[i] = np.round(shares[i] * price[i], 2)
        keep[i] = shares[i] > 0 and notional[i] >= threshold
    return shares, side, notional, keep, threshold


def order_reason(wash_sale_fix: bool, sell: bool, names_lots: bool, gain_usd: float, raising_cash: bool) -> str:
    """Why an order is in the file: ``"wash-sale fix"`` (its asset's wash-sale group was
    settled), ``"harvest"`` (a sale of named lots at a net loss), ``"cash raise"`` (a sale
    while cash is below its floor) or ``"rebalance"``."""
    if wash_sale_fix:
        return "wash-sale fix"
    if sell and names_lots and gain_usd < 0:
        return "harvest"
    if sell and raising_cash:
        return "cash raise"
    return "rebalance"


def orders_frame(result, account_id: str = "", *, rules: OrderRules = OrderRules(),
                 cash_floor_usd: float = 0.0) -> pd.DataFrame:
    """The executable orders of one :class:`~optimizer.RebalanceResult` (columns :data:`ORDER_COLUMNS`).

    Parameters
    ----------
    result:
        The decision.
    account_id:
        Written on every row.
    rules:
        Rounding and dust rules.
    cash_floor_usd:
        The account's minimum cash (account currency); sells while cash after the cash flow
        is below it are labelled ``cash raise``.

    Raises
    ------
    InputError
        ``rules.whole_shares`` is set but the result was not solved in whole units.
    """
    if rules.whole_shares and not result.whole_units:
        raise InputError("orders.whole_shares", "the result has fractional shares; solve with whole_units=True "
                         "or ask for fractional orders")
    trades = result.trades
    if not len(trades):
        return _empty()
    price = trades["price"].to_numpy(float)
    net_usd = trades["trade_usd"].to_numpy(float)
    shares, side, notional, keep, threshold = sized_orders(net_usd, price, result, rules)

    assets = trades.index.astype(str).to_numpy()
    fixed = {str(fix).split(":", 1)[0].strip() for fix in result.wash_sale_fixes}
    sales = result.lot_sales
    lots_of: dict[str, tuple[str, str, float]] = {}
    if len(sales):
        sale_assets = sales["asset"].astype(str).to_numpy()
        lot_ids_all = sales.index.astype(str).to_numpy()
        lot_shares_all = _snap(sales["shares"].to_numpy(float), result.whole_units, rules.share_decimals)
        gains = sales["gain_usd"].to_numpy(float)
        for asset in dict.fromkeys(sale_assets):
            mask = (sale_assets == asset) & (lot_shares_all > 0)
            lots_of[asset] = (";".join(lot_ids_all[mask]), ";".join(_number(v) for v in lot_shares_all[mask]),
                              float(gains[sale_assets == asset].sum()))
    raising_cash = float(result.cash_before_usd) < float(cash_floor_usd) - 0.005
    date = str(pd.Timestamp(result.date).date())
    rows = []
    for i in np.nonzero(keep)[0]:
        asset = assets[i]
        lot_ids, lot_shares, gain = lots_of.get(asset, ("", "", 0.0)) if side[i] == "sell" else ("", "", 0.0)
        reason = order_reason(asset in fixed, side[i] == "sell", bool(lot_ids), gain, raising_cash)
        rows.append((str(account_id), date, asset, str(side[i]), float(shares[i]), float(price[i]),
                     float(notional[i]), rules.currency, lot_ids, lot_shares, reason))
    if len(result.overlay):
        rows += [tuple(row[c] for c in ORDER_COLUMNS)
                 for row in _overlay_rows(result, str(account_id), date, rules, threshold)]
    if not rows:
        return _empty()
    columns = list(zip(*rows))
    return pd.DataFrame({name: pd.Series(values, dtype=float if name in ("shares", "price", "notional") else object)
                         for name, values in zip(ORDER_COLUMNS, columns)})


def member_results(household: Household, data: ProblemData, split: HouseholdResult) -> dict[str, RebalanceResult]:
    """One :class:`~optimizer.RebalanceResult` per member of a solved household, in the member's
    own dollars, for :func:`orders_frame` and per-account tables.

    Weights are fractions of the member's own NAV; ``costs_usd`` are the member's spread,
    commission, impact (its positions) and tax; ``cash_after_usd`` is after its own linear
    costs and impact (so the orders keep its cash >= 0); ``exposures``, tracking error,
    objective and solver are the household's. ``split`` is
    :func:`optimizer.household.split_result` of ``data`` (from ``prepare_household``).
    """
    whole = split.household
    hh_nav = float(data.nav_usd)
    names = [acc.name for acc in household.accounts]
    out = {}
    for a, acc in enumerate(household.accounts):
        value = household.after_tax_value(acc)
        summary = split.accounts.loc[acc.name]
        nav = float(summary["nav_usd"])
        trades = split.trades.loc[acc.name].copy()
        trades.index.name = "asset"
        for column in ("weight_before", "weight_after"):
            trades[column] = trades[column] * hh_nav / (value * nav) if nav > 0 else 0.0
        mine = np.array(data.shape.asset_account) == a
        gross = trades["gross_usd"].to_numpy(float)
        spread = float(np.sum(data.half_spread[mine] * gross))
        commission = float(np.sum(data.commission[mine] * gross))
        net_fraction = trades["trade_usd"].to_numpy(float) * value / hh_nav
        impact = float(np.sum(data.impact[mine] * net_fraction ** 2)) * hh_nav / value
        tax_usd = float(summary["tax_usd"])
        costs = {"spread": spread, "commission": commission, "overlay": 0.0, "impact": impact,
                 "overlay_carry": 0.0, "tax": tax_usd}
        costs["total"] = sum(costs.values())
        sales = split.lot_sales[split.lot_sales["account"] == acc.name].drop(columns=["account"])
        sales = sales.set_index("lot_id")
        long_term = sales["term"] == "long" if len(sales) else pd.Series(dtype=bool)
        out[acc.name] = RebalanceResult(
            date=whole.date, nav_usd=nav, trades=trades, lot_sales=sales,
            overlay=whole.overlay.iloc[:0].copy(), exposures=whole.exposures,
            costs_usd=costs, tracking_error_before=whole.tracking_error_before,
            tracking_error_after=whole.tracking_error_after,
            cash_before_usd=float(summary["cash_before_usd"]),
            cash_after_usd=float(summary["cash_after_usd"]) - impact,
            margin_usd=0.0,
            realized_gain_short_usd=float(sales.loc[~long_term, "gain_usd"].sum()) if len(sales) else 0.0,
            realized_gain_long_usd=float(sales.loc[long_term, "gain_usd"].sum()) if len(sales) else 0.0,
            objective_bps=whole.objective_bps, solver=whole.solver, accurate=whole.accurate,
            attempts=list(whole.attempts), solve_seconds=whole.solve_seconds,
            wash_sale_fixes=_member_fixes(whole.wash_sale_fixes, acc.name, names),
            whole_units=whole.whole_units)
    return out


def _member_fixes(fixes: list[str], name: str, names: list[str]) -> list[str]:
    """The household's wash-sale fixes that touch ``name``'s positions, with its assets unprefixed
    (``"acct/X, ira/X: kept the buy ..."`` -> ``"X: kept the buy ... (household: acct/X, ira/X)"``)."""
    prefix = f"{name}/"
    out = []
    for fix in fixes:
        head, _, tail = str(fix).partition(":")
        positions = [p.strip() for p in head.split(",")]
        own = [p[len(prefix):] for p in positions if p.startswith(prefix)]
        if own:
            out.append(f"{', '.join(own)}:{tail} (household: {head.strip()})")
    return out



def _overlay_rows(result, account_id: str, date: str, rules: OrderRules, threshold: float) -> list[dict]:
    overlay = result.overlay
    rows = []
    for instrument, row in overlay.iterrows():
        contracts = float(np.round(row["contracts_trade"], rules.share_decimals))
        if result.whole_units:
            contracts = float(np.round(contracts)) if abs(contracts - np.round(contracts)) <= 1e-6 else contracts
        after = float(row["contracts_after"])
        per_contract = abs(float(row["notional_after_usd"]) / after) if after else float("nan")
        notional = round(abs(contracts) * per_contract, 2) if math.isfinite(per_contract) else float("nan")
        if contracts == 0 or (math.isfinite(notional) and notional < threshold):
            continue
        rows.append({"account_id": account_id, "date": date, "asset": str(instrument),
                     "side": "buy" if contracts > 0 else "sell", "shares": abs(contracts), "price": per_contract,
                     "notional": notional, "currency": rules.currency, "lot_ids": "", "lot_shares": "",
                     "reason": "overlay"})
    return rows


def _number(value: float) -> str:
    return f"{value:.9g}"


def _empty() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=float if c in ("shares", "price", "notional") else object)
                          for c in ORDER_COLUMNS})
    return frame


def orders_cash_after(result, orders: pd.DataFrame) -> float:
    """Cash after executing ``orders`` instead of the result's exact trades (account currency).

    The result's cash after trading (costs as priced by the decision) plus the difference
    between the result's net trades and the orders' signed notionals; overlay rows move no cash.
    """
    stock = orders[orders["reason"] != "overlay"]
    signed = np.where(stock["side"] == "buy", stock["notional"], -stock["notional"]).sum()
    return float(result.cash_after_usd) + float(result.trades["trade_usd"].sum()) - float(signed)


def orders_csv(orders: pd.DataFrame) -> str:
    """CSV text of an orders frame: shares and prices without float noise, cents on notional."""
    frame = orders.loc[:, list(ORDER_COLUMNS)].copy()
    frame["shares"] = [_number(v) for v in frame["shares"]]
    frame["price"] = [_number(v) for v in frame["price"]]
    frame["notional"] = [f"{v:.2f}" for v in frame["notional"]]
    return frame.to_csv(index=False)


__all__ = ["ORDER_COLUMNS", "OrderRules", "member_results", "orders_cash_after", "orders_csv", "orders_frame"]
