"""User terms added through ``Rebalancer(terms=...)``, using the example printed in ARCHITECTURE.md.

The example code is read from ARCHITECTURE.md and executed, so the documentation cannot
drift from what works. Oracles: the single-asset no-trade region ``|x0 - x*| <= c / (g
sigma^2)`` with the penalty added to ``c``; a binding sector cap holds with equality and
costs objective; a slack cap changes nothing; cvxpy value == numpy price at random points.
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from case_factories import make_case, one_factor_risk
from optimizer import Rebalancer, Settings, rebalance, solve_case
from optimizer.problem_data import prepare
from optimizer.program import Program, verify
from optimizer.terms.base import Trade
from problems.synthetic import synthetic_case

ARCHITECTURE = Path(__file__).resolve().parents[2] / "ARCHITECTURE.md"


def documented_terms() -> dict:
    """Execute the first python block after 'A term' in ARCHITECTURE.md; return its namespace."""
    text = ARCHITECTURE.read_text()
    section = text[text.index("**A term"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(ARCHITECTURE), "exec"), namespace)
    return namespace


TERMS = documented_terms()
TurnoverPenalty, SectorCap = TERMS["TurnoverPenalty"], TERMS["SectorCap"]

# single risky asset, linear costs only (as in tests/test_oracles.py)
NAV = 1_000_000.0
GAMMA, SIGMA2 = 1.0, 0.03 + 0.01
HALF_SPREAD, COMMISSION = 0.001, 0.0002
X_TARGET = 0.4


def single_asset_case(x0: float):
    price = 100.0
    return make_case(
        {"X": price}, [("X-1", "X", x0 * NAV / price, price, 400)],
        cash_usd=(1 - x0) * NAV, target={"X": X_TARGET}, width=0.5,
        risk=one_factor_risk(["X"], [1.0], 0.03, [0.01]),
        half_spread=HALF_SPREAD, commission=COMMISSION,
        settings=Settings(risk_aversion=GAMMA, impact_weight=0.0, impact_eta=0.0, wash_sale=False),
    )


@pytest.mark.parametrize("x0", [0.55, 0.25])
def test_turnover_penalty_widens_the_no_trade_region_to_the_closed_form(x0):
    rate = 0.0012
    edge = (HALF_SPREAD + COMMISSION + rate) / (GAMMA * SIGMA2)       # 0.06 (0.03 without the penalty)
    result = solve_case(single_asset_case(x0), Rebalancer(terms=[partial(TurnoverPenalty, rate=rate)]))
    assert result.trades.loc["X", "weight_after"] == pytest.approx(X_TARGET + np.sign(x0 - X_TARGET) * edge, abs=1e-6)
    gross = result.trades["gross_usd"].sum()
    assert result.term_values_usd["turnover_penalty"] == pytest.approx(gross, rel=1e-9)


def test_turnover_penalty_stops_a_trade_the_costs_alone_allow():
    x0 = 0.45                                                          # outside 0.03, inside 0.06
    plain = solve_case(single_asset_case(x0))
    penalised = solve_case(single_asset_case(x0), Rebalancer(terms=[partial(TurnoverPenalty, rate=0.0012)]))
    assert plain.trades.loc["X", "weight_after"] == pytest.approx(X_TARGET + 0.03, abs=1e-6)
    assert abs(penalised.trades.loc["X", "trade_usd"]) < 1e-6 * NAV


def test_turnover_penalty_cvxpy_value_equals_its_numpy_price():
    data = prepare(**_inputs(synthetic_case(6, 2, 2, seed=4)))
    program = Program(data.shape, [partial(TurnoverPenalty, rate=0.003)])
    program.update(data)
    term = program.extra_terms[0]
    rng = np.random.default_rng(0)
    for _ in range(5):
        trade = Trade(rng.uniform(0, 0.02, data.shape.n_assets), rng.uniform(0, 1, data.shape.n_lots) * data.lot_sell_max,
                      np.zeros(data.shape.n_assets), np.zeros(0))
        v = program.variables
        v.buy.value, v.sell.value, v.trade.value = trade.buy, trade.sell, trade.net(data)
        assert term.objective().value == pytest.approx(0.003 * term.price(data, trade), rel=1e-9)
        assert term.price(data, trade) > 0


def _inputs(case):
    return dict(portfolio=case.portfolio, targets=case.targets, market=case.market, settings=case.settings,
                tax=case.tax, overlays=case.overlays, restrictions=case.restrictions)


def _sector_weights(result, sectors: dict) -> dict:
    after = result.trades["weight_after"]
    return {s: float(after[[a for a, t in sectors.items() if t == s]].sum()) for s in set(sectors.values())}


def test_sector_cap_binds_exactly_and_costs_objective_while_a_slack_cap_changes_nothing():
    case = synthetic_case(8, 2, 2, seed=2, settings=Settings(wash_sale=False))
    assets = list(case.market.prices.index)
    sectors = {a: ("tech" if k < 4 else "other") for k, a in enumerate(assets)}
    free = solve_case(case)
    tech = _sector_weights(free, sectors)["tech"]
    assert tech > 0.1                                                    # the cap below really bites

    cap = tech - 0.02
    capped = solve_case(case, Rebalancer(terms=[partial(SectorCap, sectors=sectors, cap=cap)]))
    assert _sector_weights(capped, sectors)["tech"] == pytest.approx(cap, abs=1e-6)
    assert capped.objective_bps > free.objective_bps
    assert capped.term_values_usd == {"sector_cap": 0.0}

    slack = solve_case(case, Rebalancer(terms=[partial(SectorCap, sectors=sectors, cap=tech + 0.05)]))
    assert np.allclose(slack.trades["trade_usd"], free.trades["trade_usd"], atol=1e-6 * free.nav_usd)


def test_sector_cap_check_names_the_sector_and_is_used_to_verify_answers():
    case = synthetic_case(8, 2, 2, seed=2, settings=Settings(wash_sale=False))
    assets = list(case.market.prices.index)
    sectors = {a: "tech" for a in assets[:4]}                        # the other assets are in no sector
    data = prepare(**_inputs(case))
    tech_now = float(data.weight0[:4].sum())
    no_trade = Trade.zero(data.shape)
    below = Program(data.shape, [partial(SectorCap, sectors=sectors, cap=tech_now - 0.01)]).extra_terms[0]
    above = Program(data.shape, [partial(SectorCap, sectors=sectors, cap=tech_now + 0.01)]).extra_terms[0]
    assert above.check(data, no_trade, 1e-9) is None
    assert verify(data, no_trade, extra_terms=[above]) is None
    message = verify(data, no_trade, extra_terms=[below])
    assert message is not None and message.startswith("sector_cap: sector 'tech'")


def test_rebalance_function_takes_terms_and_a_factory_may_skip_a_shape():
    case = synthetic_case(5, 2, 2, seed=1)
    plain = solve_case(case)
    skipped = rebalance(case.portfolio, case.targets, case.market, case.settings, **case.options(),
                        terms=[lambda shape, v: None])
    assert skipped.term_values_usd == {}
    assert skipped.objective_bps == pytest.approx(plain.objective_bps, rel=1e-9)


def test_the_optimizer_policy_passes_user_terms_to_its_rebalancer():
    from optimizer.policies import OptimizerPolicy

    term = partial(TurnoverPenalty, rate=0.002)
    policy = OptimizerPolicy({"A": 0.6, "B": 0.4}, terms=[term])
    assert policy.rebalancer.terms == (term,)
