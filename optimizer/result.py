"""The answer to one rebalance: trades, lot sales, overlay, exposures, priced costs and diagnostics."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from optimizer.errors import SolveAttempt
from optimizer.problem_data import ProblemData
from optimizer.program import Program, objective_value
from optimizer.terms import bands, cash, impact, linear_costs, tax, tracking
from optimizer.terms import overlay as overlay_term
from optimizer.terms.base import Trade
from optimizer.terms.bands import BAND_TOLERANCE

#: Trades below this gross value (account currency) are solver noise and left out of the trade list.
MIN_REPORTED_TRADE_USD = 0.01


class _Table:
    """A result table built on first use: the field accepts a DataFrame or a function making it.

    Most callers read one or two tables (a backtest policy: ``trades`` and ``lot_sales``);
    laying out the others costs more than the solve of a small problem, so
    :func:`build_result` passes builders and each table is built once, when first read.
    """

    def __set_name__(self, owner, name: str) -> None:
        self.slot = f"_{name}"

    def __get__(self, obj, objtype=None):
        if obj is None:
            raise AttributeError(self.slot)  # tells dataclasses the field has no default
        value = obj.__dict__[self.slot]
        if not isinstance(value, pd.DataFrame):
            value = value()
            obj.__dict__[self.slot] = value
        return value

    def __set__(self, obj, value) -> None:
        obj.__dict__[self.slot] = value


@dataclass(frozen=True)
class RebalanceResult:
    """Everything one decision produced; amounts in account currency unless named ``weight``.

    Attributes
    ----------
    trades:
        Per asset: ``asset_class``, ``price``, ``shares``, ``trade_usd`` (signed),
        ``buy_usd``, ``sell_usd``, ``short_usd``, ``gross_usd``, ``weight_before``, ``weight_after``.
    lot_sales:
        Per lot sold: ``asset``, ``shares``, ``proceeds_usd``, ``basis_usd``, ``gain_usd``,
        ``term`` ("short" or "long").
    overlay:
        Per instrument: ``contracts_before``, ``contracts_trade``, ``contracts_after``,
        ``notional_after_usd``.
    exposures:
        Per key: ``target``, ``band_lower``, ``band_upper``, ``before``, ``after``,
        ``violation`` (signed NAV fraction outside the band) and ``status``.
    costs_usd:
        ``spread``, ``commission``, ``overlay`` (per-contract costs), ``impact``, ``overlay_carry``
        (expected cost of holding the overlay to the next decision, not paid now), ``tax``
        (negative = benefit), ``total``.
    term_values_usd:
        Per user term (``Rebalancer(terms=...)``), its objective part before weight
        (``term.price``) times NAV; what it means (a cost, a penalty) is the term's.
    """

    date: pd.Timestamp
    nav_usd: float
    trades: pd.DataFrame = _Table()
    lot_sales: pd.DataFrame = _Table()
    overlay: pd.DataFrame = _Table()
    exposures: pd.DataFrame = _Table()
    costs_usd: dict[str, float]
    tracking_error_before: float
    tracking_error_after: float
    cash_before_usd: float
    cash_after_usd: float
    margin_usd: float
    realized_gain_short_usd: float
    realized_gain_long_usd: float
    objective_bps: float
    solver: str
    accurate: bool
    attempts: list[SolveAttempt]
    solve_seconds: float
    wash_sale_fixes: list[str] = field(default_factory=list)
    whole_units: bool = False
    term_values_usd: dict[str, float] = field(default_factory=dict)

    def __getstate__(self) -> dict:
        """Pickled with every table built (the builders are closures)."""
        for name in ("trades", "lot_sales", "overlay", "exposures"):
            getattr(self, name)
        return self.__dict__

    def with_tables(self, **tables: pd.DataFrame) -> "RebalanceResult":
        """A copy with the named tables (``trades``, ``lot_sales``, ``overlay``, ``exposures``)
        replaced; unlike ``dataclasses.replace`` it leaves the other tables unbuilt."""
        unknown = set(tables) - {"trades", "lot_sales", "overlay", "exposures"}
        if unknown:
            raise TypeError(f"not a result table: {sorted(unknown)}")
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy.__dict__.update({f"_{name}": table for name, table in tables.items()})
        return copy

    @property
    def status(self) -> str:
        """"optimal", or "optimal_inaccurate" when no solver in the chain was accurate."""
        return "optimal" if self.accurate else "optimal_inaccurate"

    @property
    def bands_ok(self) -> bool:
        return bool((self.exposures["status"] == "inside").all())

    def to_frame(self) -> pd.DataFrame:
        """The trade list (one row per asset that trades)."""
        return self.trades[self.trades["gross_usd"] >= MIN_REPORTED_TRADE_USD].copy()

    def to_dict(self) -> dict:
        """A JSON-ready dictionary of the whole result."""
        def records(frame: pd.DataFrame) -> list[dict]:
            return json.loads(frame.reset_index().to_json(orient="records", date_format="iso"))

        return {
            "date": self.date.isoformat(),
            "nav_usd": self.nav_usd,
            "status": self.status,
            "solver": self.solver,
            "solve_seconds": self.solve_seconds,
            "objective_bps": self.objective_bps,
            "tracking_error_before": self.tracking_error_before,
            "tracking_error_after": self.tracking_error_after,
            "cash_before_usd": self.cash_before_usd,
            "cash_after_usd": self.cash_after_usd,
            "margin_usd": self.margin_usd,
            "realized_gain_short_usd": self.realized_gain_short_usd,
            "realized_gain_long_usd": self.realized_gain_long_usd,
            "costs_usd": dict(self.costs_usd),
            "term_values_usd": dict(self.term_values_usd),
            "whole_units": self.whole_units,
            "wash_sale_fixes": list(self.wash_sale_fixes),
            "attempts": [a.__dict__ for a in self.attempts],
            "trades": records(self.to_frame()),
            "lot_sales": records(self.lot_sales),
            "overlay": records(self.overlay),
            "exposures": records(self.exposures),
        }

    def summary(self) -> str:
        """A short report for people."""
        traded = self.to_frame()
        lines = [
            f"Rebalance on {self.date.date()}  NAV {self.nav_usd:,.0f}  ({self.status} by {self.solver}, "
            f"{self.solve_seconds * 1e3:.1f} ms)",
            f"  tracking error {self.tracking_error_before:.3%} -> {self.tracking_error_after:.3%} (annual)",
            f"  trades: {len(traded)} assets, bought {traded['buy_usd'].sum():,.0f}, "
            f"sold {traded['sell_usd'].sum() + traded['short_usd'].sum():,.0f}; lots sold: {len(self.lot_sales)}",
            "  costs: " + ", ".join(f"{k} {v:,.0f}" for k, v in self.costs_usd.items()),
            f"  realized gains: short-term {self.realized_gain_short_usd:,.0f}, "
            f"long-term {self.realized_gain_long_usd:,.0f}",
            f"  cash {self.cash_before_usd:,.0f} -> {self.cash_after_usd:,.0f}"
            + (f" (overlay margin {self.margin_usd:,.0f})" if len(self.overlay) else ""),
        ]
        outside = self.exposures[self.exposures["status"] != "inside"]
        if len(outside):
            lines.append("  outside bands after trading: " + ", ".join(
                f"{k} {row.after:.2%} ({row.status} by {abs(row.violation):.2%})" for k, row in outside.iterrows()))
        else:
            lines.append("  all exposures inside their bands")
        for fix in self.wash_sale_fixes:
            lines.append(f"  wash sale: {fix}")
        return "\n".join(lines)


def build_result(data: ProblemData, trade: Trade, *, solver: str, accurate: bool, attempts: list[SolveAttempt],
                 solve_seconds: float, wash_sale_fixes: list[str] | None = None,
                 whole_units: bool = False, program: Program | None = None) -> RebalanceResult:
    """Price ``trade`` in numpy and lay it out as a :class:`RebalanceResult`.

    ``program`` is the program that solved it (its terms price the objective and the user
    terms); without it the built-in terms are built to price the objective.
    """
    nav = data.nav_usd
    gain_usd = tax.realized_gain(data, trade) * nav
    long_mask = data.lot_long_term
    tables = {"trades": lambda: trade_table(data, trade), "lot_sales": lambda: lot_sales_table(data, trade, gain_usd),
              "overlay": lambda: overlay_table(data, trade), "exposures": lambda: exposures_table(data, trade)}

    parts = linear_costs.price_parts(data, trade)
    costs = {name: value * nav for name, value in parts.items()}
    costs["impact"] = impact.price(data, trade) * nav
    costs["overlay_carry"] = overlay_term.carry(data, trade) * nav
    costs["tax"] = tax.price(data, trade) * nav
    costs["total"] = sum(costs.values())

    return RebalanceResult(
        date=data.date,
        nav_usd=nav,
        **tables,
        costs_usd=costs,
        tracking_error_before=float(np.sqrt(tracking.price(data, Trade.zero(data.shape)))),
        tracking_error_after=float(np.sqrt(tracking.price(data, trade))),
        cash_before_usd=data.cash0 * nav,
        cash_after_usd=cash.cash_after(data, trade) * nav,
        margin_usd=overlay_term.margin(data, trade) * nav,
        realized_gain_short_usd=float(gain_usd[~long_mask].sum()),
        realized_gain_long_usd=float(gain_usd[long_mask].sum()),
        objective_bps=program.objective_value(data, trade) if program is not None else objective_value(data, trade),
        solver=solver,
        accurate=accurate,
        attempts=list(attempts),
        solve_seconds=solve_seconds,
        wash_sale_fixes=list(wash_sale_fixes or []),
        whole_units=whole_units,
        term_values_usd={term.name: term.price(data, trade) * nav for term in program.extra_terms} if program else {},
    )


def trade_table(data: ProblemData, trade: Trade) -> pd.DataFrame:
    """:attr:`RebalanceResult.trades`: one row per asset, amounts in account currency."""
    nav = data.nav_usd
    net = trade.net(data)
    return pd.DataFrame({
        "asset_class": list(data.shape.asset_keys),
        "price": data.price,
        "shares": net * nav / data.price,
        "trade_usd": net * nav,
        "buy_usd": trade.buy * nav,
        "sell_usd": trade.sold(data) * nav,
        "short_usd": trade.short * nav,
        "gross_usd": trade.gross(data) * nav,
        "weight_before": data.weight0,
        "weight_after": data.weight0 + net,
    }, index=pd.Index(data.shape.assets, name="asset"))


def lot_sales_table(data: ProblemData, trade: Trade, gain_usd: np.ndarray) -> pd.DataFrame:
    """:attr:`RebalanceResult.lot_sales`: one row per lot sold (``gain_usd`` per slot)."""
    nav, shape = data.nav_usd, data.shape
    sold_slots, shares = sold_lots(data, trade)
    proceeds = trade.sell[sold_slots] * nav
    return pd.DataFrame({
        "asset": [shape.assets[j // shape.lot_slots] for j in sold_slots],
        "shares": shares,
        "proceeds_usd": proceeds,
        "basis_usd": shares * data.lot_basis[sold_slots],
        "gain_usd": gain_usd[sold_slots],
        "term": np.where(data.lot_long_term[sold_slots], "long", "short"),
    }, index=pd.Index(data.lot_ids[sold_slots].astype(str), name="lot_id"))


def sold_lots(data: ProblemData, trade: Trade) -> tuple[np.ndarray, np.ndarray]:
    """The lot slots reported as sold (held, at least :data:`MIN_REPORTED_TRADE_USD`) and the
    shares sold of each: the rows of :func:`lot_sales_table`."""
    sold = np.nonzero((trade.sell * data.nav_usd >= MIN_REPORTED_TRADE_USD) & (data.lot_ids != ""))[0]
    return sold, trade.sell[sold] * data.nav_usd / np.repeat(data.price, data.shape.lot_slots)[sold]


def overlay_table(data: ProblemData, trade: Trade) -> pd.DataFrame:
    """:attr:`RebalanceResult.overlay`: contracts before, traded and after per instrument."""
    nav = data.nav_usd
    held = len(data.overlay0) > 0
    contracts_before = data.overlay0 * nav / data.overlay_notional_usd if held else np.zeros(0)
    contracts_trade = trade.overlay_trade * nav / data.overlay_notional_usd if held else np.zeros(0)
    return pd.DataFrame({
        "contracts_before": contracts_before,
        "contracts_trade": contracts_trade,
        "contracts_after": contracts_before + contracts_trade,
        "notional_after_usd": (data.overlay0 + trade.overlay_trade) * nav,
    }, index=pd.Index(data.shape.overlays, name="instrument"))


def exposures_table(data: ProblemData, trade: Trade) -> pd.DataFrame:
    """:attr:`RebalanceResult.exposures`: target, band, before, after and status per key."""
    violation = bands.violation(data, trade)
    status = np.where(violation < -BAND_TOLERANCE, "below", np.where(violation > BAND_TOLERANCE, "above", "inside"))
    return pd.DataFrame({
        "target": data.target,
        "band_lower": data.band_lower,
        "band_upper": data.band_upper,
        "before": data.exposure0,
        "after": data.exposure0 + trade.exposure_change(data),
        "violation": violation,
        "status": status,
    }, index=pd.Index(data.shape.keys, name="key"))
