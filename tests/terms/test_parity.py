"""Each term's cvxpy part equals its numpy price at random points, and the simulator's fills use the same formulas.

For every built-in term: build the program of a shape, write a decision's numbers, set
the decision variables to a random feasible point (auxiliary variables such as slacks and
epigraph variables to the smallest value their constraints allow, which is where the
optimizer keeps them) and compare ``term.objective().value`` with
``term.weight(settings) * term.price(data, trade)`` to 1e-9 relative. Pure constraints
are compared the other way round: the cvxpy residual of each constraint against the
numpy check the program uses to verify solver answers, at a point inside and one outside.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from optimizer import Restrictions, Settings
from optimizer.backtest.costs import price_trade
from optimizer.problem_data import prepare
from optimizer.program import Program, objective_value, verify
from optimizer.terms import bands, cash, impact, limits, linear_costs
from optimizer.terms.bands import Bands
from optimizer.terms.base import Trade
from optimizer.terms.cash import Cash
from optimizer.terms.impact import MarketImpact
from optimizer.terms.limits import TradeLimits
from optimizer.terms.linear_costs import LinearCosts
from optimizer.terms.overlay import OverlayLimits
from optimizer.terms.tax import CapitalGainsTax
from optimizer.terms.tracking import TrackingError
from problems.synthetic import synthetic_case

RELATIVE = 1e-9


def shaped_data(*, overlays: int, bands_mode: str, netting: bool, shorts: bool):
    case = synthetic_case(8, 3, 3, seed=11, n_overlays=overlays,
                          settings=Settings(bands=bands_mode, risk_aversion=7.0, impact_weight=1.3, cost_weight=0.8,
                                            tax_weight=1.1, band_penalty=0.9))
    portfolio = replace(case.portfolio, realized_gain_usd=25_000.0) if netting else case.portfolio
    assets = list(case.market.prices.index)
    table = pd.DataFrame({"allow_short": [True], "max_short_usd": [50_000.0], "max_trade_usd": [400_000.0]},
                         index=[assets[0]]) if shorts else pd.DataFrame(index=pd.Index([], dtype=str))
    overlays = tuple(replace(o, holding_cost=0.002 * (k + 1)) for k, o in enumerate(case.overlays))
    return prepare(portfolio, case.targets, case.market, case.settings, tax=case.tax, overlays=overlays,
                   restrictions=Restrictions(table))


SHAPES = [
    dict(overlays=0, bands_mode="soft", netting=False, shorts=False),
    dict(overlays=2, bands_mode="soft", netting=True, shorts=True),
    dict(overlays=2, bands_mode="hard", netting=True, shorts=False),
]


def random_trade(data, rng, scale: float = 1.0) -> Trade:
    """A random trade inside the per-asset/per-lot limits (``scale`` > 1 pushes it outside)."""
    n, q = data.shape.n_assets, len(data.shape.overlays)
    cap = lambda bound: np.where(np.isfinite(bound), bound, 0.05)   # noqa: E731
    buy = scale * rng.uniform(0, 1, n) * np.minimum(cap(data.buy_max), 0.05)
    sell = scale * rng.uniform(0, 1, data.shape.n_lots) * cap(data.lot_sell_max)
    short = scale * rng.uniform(0, 1, n) * np.minimum(cap(data.short_max), 0.01)
    overlay = scale * rng.uniform(-1, 1, q) * 0.05 if q else np.zeros(0)
    return Trade(buy, sell, short, overlay)


def feasible_points(program: Program, data, rng, count: int) -> list[Trade]:
    """Random points of the feasible set: the solved optimum moved toward random trades as far as
    every hard rule still holds (checked by the program's own numpy verification)."""
    optimum, _ = program.solve(data)
    points = []
    for _ in range(count):
        target = random_trade(data, rng)
        step = 1.0
        while True:
            mixed = Trade(*[(1 - step) * a + step * b for a, b in
                            zip((optimum.buy, optimum.sell, optimum.short, optimum.overlay_trade),
                                (target.buy, target.sell, target.short, target.overlay_trade))])
            if verify(data, mixed) is None:
                break
            step /= 2
            assert step > 1e-9, "no feasible point between the optimum and the random trade"
        points.append(mixed)
    return points


def set_point(program: Program, data, trade: Trade) -> None:
    """Write ``trade`` into the program's variables, auxiliaries at their tightest feasible values."""
    v = program.variables
    v.buy.value, v.sell.value = trade.buy, trade.sell
    if v.short is not None:
        v.short.value = trade.short
    v.trade.value = trade.net(data)
    if v.overlay_trade is not None:
        v.overlay_trade.value = trade.overlay_trade
        v.overlay_gross.value = np.abs(data.overlay0 + trade.overlay_trade)
    for term in program.terms:
        if isinstance(term, Bands) and data.shape.soft_bands:
            violation = bands.violation(data, trade)
            term.slack_below.value = np.maximum(-violation, 0.0)
            term.slack_above.value = np.maximum(violation, 0.0)
        if isinstance(term, CapitalGainsTax) and data.shape.tax_netting:
            w = term.weight(data.settings)
            x = w * (data.lot_tax_cost @ trade.sell + data.tax_offset)
            term.charged.value = max(x, data.carry_value * x)


def term_of(program: Program, kind):
    matches = [t for t in program.terms if isinstance(t, kind)]
    return matches[0] if matches else None


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
@pytest.mark.parametrize("kind", [TrackingError, MarketImpact, LinearCosts, CapitalGainsTax, Bands, OverlayLimits])
def test_objective_part_equals_weighted_numpy_price(shape, kind):
    data = shaped_data(**shape)
    program = Program(data.shape)
    program.update(data)
    term = term_of(program, kind)
    if term is None or term.objective() is None:
        assert term is None or term.price(data, Trade.zero(data.shape)) == 0.0
        pytest.skip(f"{kind.__name__} has no objective part in this shape")
    rng = np.random.default_rng(5)
    for trade in feasible_points(program, data, rng, 5):
        assert verify(data, trade) is None
        set_point(program, data, trade)
        expected = term.weight(data.settings) * term.price(data, trade)
        assert term.objective().value == pytest.approx(expected, rel=RELATIVE, abs=1e-15)
    # and the whole objective: the program's cvxpy value is OBJECTIVE_SCALE * sum of weighted prices
    assert program.problem.objective.value == pytest.approx(objective_value(data, trade, program.terms), rel=RELATIVE)


def test_the_prices_are_not_trivially_zero():
    """The parity above would hold vacuously if every price were 0: each cost is positive at a random trade."""
    data = shaped_data(**SHAPES[1])
    program = Program(data.shape)
    trade = random_trade(data, np.random.default_rng(1))
    for kind in (TrackingError, MarketImpact, LinearCosts, OverlayLimits):
        assert term_of(program, kind).price(data, trade) > 0, kind.__name__
    assert term_of(program, CapitalGainsTax).price(data, trade) != 0


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
def test_constraint_residuals_match_the_numpy_checks(shape):
    data = shaped_data(**shape)
    program = Program(data.shape)
    program.update(data)
    rng = np.random.default_rng(9)
    for scale in (0.5, 3.0):                       # inside the limits, then well outside
        trade = random_trade(data, rng, scale)
        set_point(program, data, trade)
        limits_term = term_of(program, TradeLimits)
        breached = any(mask.any() for mask in limits.breaches(data, trade, 1e-12).values())
        residual = max(float(np.max(c.violation())) for c in limits_term.constraints())
        assert (residual > 1e-12) == breached
        cash_residual = float(np.max(term_of(program, Cash).constraints()[0].violation()))
        assert cash_residual == pytest.approx(cash.shortfall(data, trade), rel=RELATIVE, abs=1e-15)
        if not data.shape.soft_bands:
            band_residual = np.maximum(*[c.violation() for c in term_of(program, Bands).constraints()])
            assert band_residual == pytest.approx(np.abs(bands.violation(data, trade)), rel=RELATIVE, abs=1e-15)


def test_simulator_fills_use_the_terms_formulas():
    """The backtester's price of a dollar trade equals the terms' price of the same trade in NAV fractions."""
    data = shaped_data(**SHAPES[0])
    rng = np.random.default_rng(3)
    trade = random_trade(data, rng)
    nav = data.nav_usd
    # the simulator's inputs for the same assets: impact per dollar^2 = data.impact / NAV
    vol_over_adv = data.impact / (nav * data.settings.impact_eta)
    net_usd = trade.net(data) * nav
    gross_usd = trade.gross(data) * nav
    spread, commission, _ = price_trade(gross_usd, data.half_spread, data.commission, data.settings.impact_eta,
                                        vol_over_adv, np.ones_like(vol_over_adv))
    _, _, impact_usd = price_trade(net_usd, data.half_spread, data.commission, data.settings.impact_eta,
                                   vol_over_adv, np.ones_like(vol_over_adv))
    parts = linear_costs.price_parts(data, trade)
    assert spread.sum() == pytest.approx(parts["spread"] * nav, rel=RELATIVE)
    assert commission.sum() == pytest.approx(parts["commission"] * nav, rel=RELATIVE)
    assert impact_usd.sum() == pytest.approx(impact.price(data, trade) * nav, rel=RELATIVE)
    assert impact_usd.sum() > 0 and spread.sum() > 0

