"""Oracle tests: closed forms and brute force on tiny cases.

The engine's objective, in NAV fractions of the pre-trade NAV (after cash flows), is::

    0.5 * gamma * d' Sigma d  +  sum_i impact_i * u_i^2  +  c . |u|  +  tax . s  (+ band penalty)

with ``d`` the post-trade exposure minus target, ``u`` the net trade per asset,
``impact_i = impact_eta * vol_i / ADV_i * NAV`` and ``c`` half-spread plus commission.
``objective_bps`` is that value times 1e4. Every expected number below is derived from
this convention by hand, not read from the engine.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import cvxpy as cp
import numpy as np
import pandas as pd
import pytest

from case_factories import DATE, make_case, one_factor_risk
from optimizer import Portfolio, Settings, TaxRules, solve_case
from problems.synthetic import synthetic_case

NAV = 1_000_000.0


# --------------------------------------------------------------------------------------
# a. single risky asset + cash, linear cost only: no-trade region and trade to its edge
# --------------------------------------------------------------------------------------

SIGMA2 = 0.03 + 0.01           # factor variance (loading 1) + specific variance
GAMMA = 1.0
HALF_SPREAD, COMMISSION = 0.001, 0.0002
COST = HALF_SPREAD + COMMISSION
X_TARGET = 0.4
EDGE = COST / (GAMMA * SIGMA2)  # half-width of the no-trade region: 0.03


def single_asset_case(x0: float, **settings):
    price = 100.0
    options = dict(risk_aversion=GAMMA, impact_weight=0.0, impact_eta=0.0, wash_sale=False)
    options.update(settings)
    return make_case(
        {"X": price}, [("X-1", "X", x0 * NAV / price, price, 400)],
        cash_usd=(1 - x0) * NAV, target={"X": X_TARGET}, width=0.5,
        risk=one_factor_risk(["X"], [1.0], 0.03, [0.01]),
        half_spread=HALF_SPREAD, commission=COMMISSION,
        settings=Settings(**options),
    )


@pytest.mark.parametrize("x0", [X_TARGET + 0.02, X_TARGET - 0.02, X_TARGET + 0.029, X_TARGET - 0.029])
def test_single_asset_inside_no_trade_region_does_not_trade(rebalancer, x0):
    assert abs(x0 - X_TARGET) <= EDGE  # the case really is inside the region
    result = solve_case(single_asset_case(x0), rebalancer)
    assert abs(result.trades.loc["X", "trade_usd"]) / NAV < 1e-7
    assert result.trades.loc["X", "weight_after"] == pytest.approx(x0, abs=1e-7)


@pytest.mark.parametrize("x0", [0.55, 0.25, 0.9, 0.05])
def test_single_asset_outside_trades_exactly_to_the_edge(rebalancer, x0):
    expected = X_TARGET + np.sign(x0 - X_TARGET) * EDGE  # sell down to x*+edge, buy up to x*-edge
    result = solve_case(single_asset_case(x0), rebalancer)
    assert result.trades.loc["X", "weight_after"] == pytest.approx(expected, abs=1e-6)
    side = "sell_usd" if x0 > X_TARGET else "buy_usd"
    assert result.trades.loc["X", side] / NAV == pytest.approx(abs(x0 - expected), abs=1e-6)


def test_single_asset_edge_scales_with_risk_aversion(rebalancer):
    # Doubling gamma halves the region: c / (2 gamma sigma^2).
    result = solve_case(single_asset_case(0.55, risk_aversion=2 * GAMMA), rebalancer)
    assert result.trades.loc["X", "weight_after"] == pytest.approx(X_TARGET + EDGE / 2, abs=1e-6)


# --------------------------------------------------------------------------------------
# b. quadratic impact only: u = (gamma Sigma + 2 Lambda)^-1 gamma Sigma (x* - x0)
# --------------------------------------------------------------------------------------

def test_quadratic_impact_closed_form(rebalancer):
    nav = 10_000_000.0
    prices = {"A": 50.0, "B": 100.0, "C": 20.0}
    x0 = np.array([0.40, 0.15, 0.15])          # cash 0.30
    target = np.array([0.30, 0.25, 0.20])      # cash 0.25
    loadings, factor_var, specific = np.array([1.0, 0.8, 1.2]), 0.04, np.array([0.02, 0.03, 0.05])
    vol, adv = 0.02, np.array([1e6, 2e6, 5e5])
    gamma, eta = 5.0, 1.0
    names = list(prices)
    case = make_case(
        prices, [(f"{a}-1", a, x0[i] * nav / prices[a], prices[a] * 0.9, 400) for i, a in enumerate(names)],
        cash_usd=(1 - x0.sum()) * nav, target=dict(zip(names, target)), width=0.5,
        risk=one_factor_risk(names, loadings, factor_var, specific),
        volatility=vol, adv_usd=dict(zip(names, adv)),
        settings=Settings(risk_aversion=gamma, impact_eta=eta, wash_sale=False),
    )
    sigma = factor_var * np.outer(loadings, loadings) + np.diag(specific)
    lam = np.diag(eta * vol / adv * nav)
    u = np.linalg.solve(gamma * sigma + 2 * lam, gamma * sigma @ (target - x0))
    # The closed form holds only if no constraint binds: sales within holdings, cash enough, bands wide.
    assert np.all(x0 + u > 0) and u.sum() < 1 - x0.sum() and np.all(np.abs(x0 + u - target) < 0.5)
    assert np.abs(u).max() > 0.01 and np.abs(u - (target - x0)).max() > 0.01  # impact really shrinks the trade
    result = solve_case(case, rebalancer)
    np.testing.assert_allclose(result.trades["trade_usd"].to_numpy() / nav, u, atol=1e-6)
    # Impact cost reported in USD is sum(lambda u^2) * NAV.
    assert result.costs_usd["impact"] == pytest.approx(float(u @ lam @ u) * nav, rel=1e-4)


# --------------------------------------------------------------------------------------
# c. a re-solve at the optimum trades nothing
# --------------------------------------------------------------------------------------

def apply_trade(case, result) -> Portfolio:
    """The portfolio after ``result``: lots reduced by their sales, one new lot per buy.

    Costs (spread, commission, impact) are added back to cash so the NAV stays the same;
    otherwise every post-trade weight would be divided by ``1 - costs/NAV`` and the
    second solve would see slightly different numbers than the first one optimised.
    """
    lots = case.portfolio.lots.set_index("lot_id").copy()
    for lot_id, sale in result.lot_sales.iterrows():
        lots.loc[lot_id, "quantity"] -= sale["shares"]
    lots = lots[lots["quantity"] > 1e-6].reset_index()
    new = [(f"{asset}-new", asset, row.buy_usd / row.price, row.price, DATE)
           for asset, row in result.trades.iterrows() if row.buy_usd > 1e-4]
    lots = pd.concat([lots, pd.DataFrame(new, columns=lots.columns)], ignore_index=True)
    costs = result.costs_usd
    cash = result.cash_after_usd + costs["spread"] + costs["commission"] + costs["impact"]
    return Portfolio(lots=lots, cash_usd=cash)


@pytest.mark.parametrize("seed", [1, 3])
def test_resolve_at_the_optimum_trades_nothing(rebalancer, seed):
    # No impact: with impact the marginal cost of a further trade is zero again at u = 0.
    case = synthetic_case(5, 3, 2, seed=seed, settings=Settings(wash_sale=False, impact_eta=0.0))
    first = solve_case(case, rebalancer)
    assert first.trades["trade_usd"].abs().max() > 0.01 * first.nav_usd
    assert first.costs_usd["tax"] != 0.0  # tax and linear costs both take part
    after = replace(case, portfolio=apply_trade(case, first))
    second = solve_case(after, rebalancer)
    assert second.nav_usd == pytest.approx(first.nav_usd, rel=1e-9)
    np.testing.assert_allclose(second.trades["weight_before"], first.trades["weight_after"], atol=1e-9)
    assert second.trades["buy_usd"].max() / second.nav_usd < 1e-6
    assert second.trades["sell_usd"].max() / second.nav_usd < 1e-6


# --------------------------------------------------------------------------------------
# d. lots are sold in ascending order of rho * (1 - basis / price)
# --------------------------------------------------------------------------------------

LOT_ORDER_LOTS = [  # (lot, basis per share, days held): price is 100, 1000 shares each = 0.1 of NAV
    ("L-gain-long", 60.0, 800),    # 0.20 * 0.40 = 0.080
    ("L-loss-long", 150.0, 500),   # 0.20 * -0.5 = -0.100
    ("L-big-long", 20.0, 900),     # 0.20 * 0.80 = 0.160
    ("L-small-st", 95.0, 100),     # 0.37 * 0.05 = 0.0185
    ("L-flat", 100.0, 200),        # 0
    ("L-gain-st", 80.0, 60),       # 0.37 * 0.20 = 0.074
]


@pytest.mark.parametrize("required", [0.15, 0.25, 0.42])
def test_lots_sold_in_order_of_tax_per_dollar(rebalancer, required):
    price, x0 = 100.0, 0.6
    tax = TaxRules()
    case = make_case(
        {"X": price}, [(lot, "X", 1000.0, basis, days) for lot, basis, days in LOT_ORDER_LOTS],
        cash_usd=(1 - x0) * NAV, target={"X": 0.1}, lower={"X": 0.0}, upper={"X": x0 - required},
        risk=one_factor_risk(["X"], [1.0], 0.03, [0.01]), half_spread=0.001,
        settings=Settings(risk_aversion=1e-6, bands="hard", impact_eta=0.0, wash_sale=False), tax=tax,
    )
    # Oracle: rank by the valued rate (rate now minus the discounted long-term tax the sale
    # avoids at the horizon) times (1 - basis/price), and fill the forced sale greedily.
    days = np.array([d for *_, d in LOT_ORDER_LOTS])
    basis = np.array([b for _, b, _ in LOT_ORDER_LOTS])
    rho = np.where(days > tax.long_term_days, tax.long_term_rate, tax.short_term_rate)
    rho = rho - tax.long_term_rate / (1 + tax.discount_rate) ** tax.horizon_years
    order = np.argsort(rho * (1 - basis / price))
    expected = np.zeros(len(LOT_ORDER_LOTS))
    left = required
    for j in order:
        expected[j] = min(0.1, left)
        left -= expected[j]
    result = solve_case(case, rebalancer)
    sold = result.lot_sales["proceeds_usd"].reindex([lot for lot, *_ in LOT_ORDER_LOTS]).fillna(0.0) / NAV
    np.testing.assert_allclose(sold.to_numpy(), expected, atol=1e-6)
    assert result.trades.loc["X", "weight_after"] == pytest.approx(x0 - required, abs=1e-6)
    assert result.trades.loc["X", "buy_usd"] < 1e-6 * NAV


# --------------------------------------------------------------------------------------
# e. trade to target vs trade to band edge, through settings only
# --------------------------------------------------------------------------------------

def banded_case(**settings):
    case = synthetic_case(6, 2, 2, seed=16, band_width=0.01, settings=Settings(wash_sale=False, **settings))
    return replace(case, tax=TaxRules.none())


def test_large_risk_aversion_trades_to_target(rebalancer):
    result = solve_case(banded_case(risk_aversion=1e5), rebalancer)
    exposures = result.exposures
    assert (exposures["before"] - exposures["target"]).abs().max() > 0.01  # the book had drifted
    np.testing.assert_allclose(exposures["after"], exposures["target"], atol=1e-4)


def test_hard_bands_with_tiny_risk_aversion_trade_to_the_band_edge(rebalancer):
    result = solve_case(banded_case(risk_aversion=1e-6, bands="hard"), rebalancer)
    e = result.exposures
    outside = (e["before"] < e["band_lower"]) | (e["before"] > e["band_upper"])
    assert outside.sum() >= 2 and (~outside).sum() >= 1  # both kinds of keys are present
    assert result.cash_after_usd > 0.01 * result.nav_usd  # cash does not bind, so only the bands pull
    np.testing.assert_allclose(e["after"], e["before"].clip(e["band_lower"], e["band_upper"]), atol=1e-6)


# --------------------------------------------------------------------------------------
# Brute force: enumerate buy / sell / hold per asset, solve each smooth restricted QP
# --------------------------------------------------------------------------------------

def tiny_case(seed: int, n_assets: int):
    """2-3 assets, two lots each, linear costs, impact, tax, hard bands (some binding).

    Loss lots are shallow (benefit below twice the linear cost), so buying and selling
    the same asset at once never pays and the three sign patterns per asset cover every
    candidate optimum.
    """
    rng = np.random.default_rng(seed)
    names = [f"S{i}" for i in range(n_assets)]
    prices = dict(zip(names, rng.uniform(20, 200, n_assets)))
    cash_weight = 0.05
    target = rng.dirichlet(np.full(n_assets, 3.0)) * (1 - cash_weight)
    current = target * np.exp(rng.normal(0, 0.35, n_assets))
    current = current / current.sum() * (1 - cash_weight)
    lots = []
    for i, a in enumerate(names):
        split = rng.uniform(0.3, 0.7)
        for j, share in enumerate((split, 1 - split)):
            gain = rng.uniform(-0.015, 0.6)
            lots.append((f"{a}-{j}", a, current[i] * share * NAV / prices[a], prices[a] * (1 - gain),
                         int(rng.choice([100, 800]))))
    width = rng.uniform(0.01, 0.06, n_assets)
    return make_case(
        prices, lots, cash_usd=cash_weight * NAV, target=dict(zip(names, target)),
        lower=dict(zip(names, np.maximum(target - width, 0))), upper=dict(zip(names, target + width)),
        risk=one_factor_risk(names, rng.uniform(0.6, 1.4, n_assets), 0.03, rng.uniform(0.01, 0.06, n_assets)),
        half_spread=dict(zip(names, rng.uniform(0.004, 0.01, n_assets))), commission=0.0005,
        volatility=0.015, adv_usd=dict(zip(names, rng.uniform(2e6, 2e7, n_assets))),
        settings=Settings(risk_aversion=float(rng.uniform(2, 20)), bands="hard", wash_sale=False),
        tax=TaxRules(),
    )


def brute_force(case) -> float:
    """Best objective (bps of NAV) over all sign patterns, each a smooth QP (no absolute values)."""
    portfolio, market, targets, s = case.portfolio, case.market, case.targets, case.settings
    names = list(market.prices.index)
    n = len(names)
    price = market.prices[names].to_numpy()
    lots = portfolio.lots
    lot_asset = np.array([names.index(a) for a in lots["asset"]])
    lot_value = lots["quantity"].to_numpy() * price[lot_asset]
    nav = lot_value.sum() + portfolio.cash_usd
    lot_value = lot_value / nav
    held = (DATE - lots["acquired"]).dt.days.to_numpy()
    rho = np.where(held > case.tax.long_term_days, case.tax.long_term_rate, case.tax.short_term_rate)
    rho = rho - case.tax.long_term_rate / (1 + case.tax.discount_rate) ** case.tax.horizon_years
    lot_tax = rho * (1 - lots["cost_basis"].to_numpy() / price[lot_asset])
    cost = (market.half_spread + market.commission)[names].to_numpy()
    assert np.all(lot_tax > -2 * cost[lot_asset])  # no harvest-and-rebuy: sign patterns are complete
    lam = s.impact_eta * market.volatility[names].to_numpy() / market.adv_usd[names].to_numpy() * nav
    sigma = market.risk.covariance().loc[names, names].to_numpy()
    x0 = np.bincount(lot_asset, lot_value, minlength=n)
    cash0 = portfolio.cash_usd / nav
    t = targets.weight[names].to_numpy()
    lo, hi = targets.band_lower[names].to_numpy(), targets.band_upper[names].to_numpy()

    best = np.inf
    for pattern in itertools.product((-1, 0, 1), repeat=n):
        # Variables: one buy per "buy" asset, one sale per lot of a "sell" asset.
        columns, unit_cost, gross_cost, upper = [], [], [], []
        for i, p in enumerate(pattern):
            if p == 1:
                columns.append(np.eye(n)[i])
                unit_cost.append(cost[i])
                gross_cost.append(cost[i])
                upper.append(10.0)
            elif p == -1:
                for j in np.nonzero(lot_asset == i)[0]:
                    columns.append(-np.eye(n)[i])
                    unit_cost.append(cost[i] + lot_tax[j])
                    gross_cost.append(cost[i])
                    upper.append(lot_value[j])
        if not columns:  # hold everything: feasible only if the book is inside its bands
            if np.all((x0 >= lo) & (x0 <= hi)):
                d = x0 - t
                best = min(best, 1e4 * 0.5 * s.risk_aversion * d @ sigma @ d)
            continue
        M = np.array(columns).T
        unit_cost, gross_cost, upper = np.array(unit_cost), np.array(gross_cost), np.array(upper)

        # Cash: cash0 - sum(u) - linear cost >= 0; hard bands: lo <= x0 + u <= hi.
        z = cp.Variable(M.shape[1], nonneg=True)
        u = M @ z
        d = x0 + u - t
        objective = 1e4 * (0.5 * s.risk_aversion * cp.quad_form(d, sigma) + lam @ cp.square(u) + unit_cost @ z)
        problem = cp.Problem(cp.Minimize(objective), [
            z <= upper, cash0 - cp.sum(u) - gross_cost @ z >= 0, x0 + u >= lo, x0 + u <= hi])
        problem.solve(solver="CLARABEL")
        if problem.status == cp.OPTIMAL:
            best = min(best, problem.value)
    return best


@pytest.mark.parametrize("seed,n_assets", [(0, 2), (1, 2), (2, 3), (3, 3), (4, 3), (5, 2)])
def test_brute_force_over_trade_directions(rebalancer, seed, n_assets):
    case = tiny_case(seed, n_assets)
    expected = brute_force(case)
    assert np.isfinite(expected)
    result = solve_case(case, rebalancer)
    assert result.objective_bps == pytest.approx(expected, rel=1e-6, abs=1e-6)
