"""Same-date wash-sale conflicts (``optimizer.wash_sale``) against exact oracles.

Oracles: enumeration of every keep-buy / keep-loss-sale choice per wash-sale group that
can conflict (``enumerate_optimum``, 2^k re-solves on books with k <= 6), the first
version's two-pass method (``two_pass``, which the new method must never lose to), a
rule check written apart from the engine (no wash-sale group both buys and sells a lot at
a loss, read off the result's trade list), and, when SCIP is installed, the benchmark's
mixed-integer formulation agreeing with enumeration.
"""

from __future__ import annotations

import pytest

from benchmark_scripts import load_benchmark
from case_factories import make_case, one_factor_risk, prepare_case
from optimizer import Rebalancer, Settings, TaxRules
from optimizer.problem_data import prepare
from optimizer.wash_sale import WashGroups, enumerate_optimum, resolve_conflicts, two_pass
from problems.synthetic import synthetic_case

#: Seeds of 6-asset synthetic books whose conflicting groups number at most 6 (all of them).
SMALL_BOOK_SEEDS = range(8)


def small_book(seed: int):
    case = synthetic_case(6, 3, 2, seed=seed, settings=Settings(wash_sale=True))
    return case, prepare(case.portfolio, case.targets, case.market, case.settings, **case.options())


def gap(value: float, optimum: float) -> float:
    """Relative excess over the optimum (objectives are often negative: tax benefits)."""
    return (value - optimum) / max(abs(optimum), 1e-9)


def groups_buying_and_harvesting(result, groups: dict[str, str]) -> list[str]:
    """Wash-sale groups that both buy and sell a lot at a loss in ``result`` (independent of the engine)."""
    tolerance = 1e-6 * result.nav_usd
    sales = result.lot_sales
    harvested = {groups.get(a, a) for a in sales.loc[(sales["gain_usd"] < 0) & (sales["proceeds_usd"] > tolerance), "asset"]}
    bought = {groups.get(a, a) for a in result.trades.index[result.trades["buy_usd"] > tolerance]}
    return sorted(harvested & bought)


@pytest.mark.parametrize("seed", SMALL_BOOK_SEEDS)
def test_within_one_percent_of_enumeration_and_never_worse_than_two_pass(seed):
    case, data = small_book(seed)
    rebalancer = Rebalancer()
    program = rebalancer.program(data.shape)
    assert len(WashGroups(data).choosable(data)) <= 6
    exact = enumerate_optimum(program, data)
    baseline = two_pass(program, data)
    result = rebalancer.solve(data)
    assert result.objective_bps >= exact.objective_bps - 1e-6 * max(1.0, abs(exact.objective_bps))
    assert gap(result.objective_bps, exact.objective_bps) <= 0.01
    assert result.objective_bps <= baseline.objective_bps + 1e-6 * max(1.0, abs(baseline.objective_bps))
    assert groups_buying_and_harvesting(result, {}) == []


def test_conflicts_arise_in_the_small_books():
    """The oracle test above is not vacuous: most small books conflict without the rule."""
    conflicted = 0
    for seed in SMALL_BOOK_SEEDS:
        _, data = small_book(seed)
        trade, _ = Rebalancer().program(data.shape).solve(data)
        conflicted += len(WashGroups(data).conflicts(trade)) > 0
    assert conflicted >= len(SMALL_BOOK_SEEDS) // 2


def test_decisions_describe_every_conflicting_group():
    _, data = small_book(0)
    program = Rebalancer().program(data.shape)
    relaxed, _ = program.solve(data)
    conflicts = set(int(c) for c in WashGroups(data).conflicts(relaxed))
    solution = resolve_conflicts(program, data)
    assert conflicts <= {d.group for d in solution.decisions}
    for decision in solution.decisions:
        assert decision.keep in ("buy", "loss_sale")
        assert all(asset in decision.describe() for asset in decision.assets)
    assert solution.relaxed_objective_bps <= solution.objective_bps + 1e-9


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_pass_certificate_bounds_the_two_pass_answer(seed):
    """Step 4's one solve (the two-pass method's first re-solve) is never above its final answer."""
    _, data = small_book(seed)
    program = Rebalancer().program(data.shape)
    solution = resolve_conflicts(program, data, check_two_pass=True)
    baseline = two_pass(program, data)
    assert solution.two_pass_objective_bps <= baseline.objective_bps + 1e-6 * max(1.0, abs(baseline.objective_bps))
    assert solution.objective_bps <= baseline.objective_bps + 1e-6 * max(1.0, abs(baseline.objective_bps))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_large_problem_path_obeys_the_rule(seed):
    """The path large problems take (two solves: no certificate, no local search) still settles
    every group and stays between the relaxed bound and the exact optimum's neighbourhood."""
    _, data = small_book(seed)
    program = Rebalancer().program(data.shape)
    solution = resolve_conflicts(program, data, max_solves=2, check_two_pass=False)
    assert solution.solves <= 3  # relaxed, settled, and a rare extra round for a new conflict
    assert len(WashGroups(data).conflicts(solution.trade)) == 0
    exact = enumerate_optimum(program, data)
    assert solution.relaxed_objective_bps <= exact.objective_bps + 1e-9
    assert solution.objective_bps >= exact.objective_bps - 1e-6 * max(1.0, abs(exact.objective_bps))


def identical_pair_case(identical: bool):
    """A overweight with a lot at a loss, B (the same index) underweight: selling A's loss lot
    and buying B is a harvest with a substitute, a wash sale when A and B are one group."""
    prices = {"A": 100.0, "B": 50.0, "C": 20.0}
    lots = [("A1", "A", 4500.0, 130.0, 400), ("B1", "B", 3000.0, 45.0, 400), ("C1", "C", 20000.0, 15.0, 400)]
    risk = one_factor_risk(["A", "B", "C"], [1.0, 1.0, 0.8], 0.04, [0.0004, 0.0004, 0.03])
    groups = {"A": "sp500", "B": "sp500"} if identical else {}
    return make_case(prices, lots, cash_usd=5000.0, target={"A": 0.3, "B": 0.3, "C": 0.38}, risk=risk,
                     settings=Settings(wash_sale=True), tax=TaxRules(identical_groups=groups),
                     half_spread=0.0005, commission=0.0001)


def test_two_identical_assets_conflict_as_one_group():
    apart = Rebalancer().solve_case(identical_pair_case(identical=False))
    # as separate groups, the engine harvests A's loss and buys B
    assert "A1" in apart.lot_sales.index
    assert apart.lot_sales.loc["A1", "gain_usd"] < 0
    assert apart.trades.loc["B", "buy_usd"] > 1.0

    case = identical_pair_case(identical=True)
    data = prepare_case(case)
    assert data.wash_group[0] == data.wash_group[1] != data.wash_group[2]
    rebalancer = Rebalancer()
    relaxed, _ = rebalancer.program(data.shape).solve(data)
    assert [int(c) for c in WashGroups(data).conflicts(relaxed)] == [int(data.wash_group[0])]
    exact = enumerate_optimum(rebalancer.program(data.shape), data)
    result = rebalancer.solve(data)
    assert groups_buying_and_harvesting(result, {"A": "sp500", "B": "sp500"}) == []
    assert result.objective_bps == pytest.approx(exact.objective_bps, rel=1e-6, abs=1e-6)
    assert any("A, B" in fix for fix in result.wash_sale_fixes)


def _benchmark():
    return load_benchmark("wash_sale_conflicts")


@pytest.mark.parametrize("seed", [0, 3])
def test_mixed_integer_oracle_matches_enumeration(seed):
    pytest.importorskip("pyscipopt")
    _, data = small_book(seed)
    program = Rebalancer().program(data.shape)
    exact = enumerate_optimum(program, data)
    value, bound, proven, _ = _benchmark().mip_optimum(program, data, seconds=20.0)
    assert proven
    assert value == pytest.approx(exact.objective_bps, rel=1e-3, abs=1e-3)  # SCIP solves the QP part to ~1e-4
    assert bound <= value + 1e-6


def library_and(search):
    """Per small book: its program and data, the library's solution, and the solution under ``search``."""
    from optimizer.wash_sale import conflict_search

    for seed in SMALL_BOOK_SEEDS:
        _, data = small_book(seed)
        program = Rebalancer().program(data.shape)
        library = resolve_conflicts(program, data)
        with conflict_search(search):
            variant = resolve_conflicts(program, data)
        yield program, data, library, variant


def test_search_without_the_certificate_keeps_the_library_decisions():
    """``ConflictSearch(certificate=False)`` (the batch's) makes one solve less and, where the
    two-pass method was not run to the end, takes the library's decisions (oracle: the library
    run on the same book); it never loses to enumeration by more than the library does."""
    from optimizer.wash_sale import ConflictSearch

    compared = 0
    for program, data, library, skipped in library_and(ConflictSearch(certificate=False)):
        again = resolve_conflicts(program, data)          # the block ended: the library's search again
        assert [step for step, _ in again.history] == [step for step, _ in library.history]
        assert all(step != "two-pass" for step, _ in skipped.history)
        two_pass_steps = sum(step == "two-pass" for step, _ in library.history)
        if two_pass_steps == 1 and not any(d.how == "two-pass" for d in library.decisions):
            compared += 1
            assert skipped.solves == library.solves - 1
            assert [(d.group, d.keep) for d in skipped.decisions] == [(d.group, d.keep) for d in library.decisions]
            assert skipped.objective_bps == pytest.approx(library.objective_bps, rel=1e-7, abs=1e-7)
    assert compared >= len(SMALL_BOOK_SEEDS) // 2     # not vacuous: most books make the certificate solve


def test_search_without_the_closest_call_is_a_prefix_of_the_library_search():
    """``ConflictSearch(closest_call=False)`` stops where the library would try a flip predicted
    not to gain: its solves are the library's first ones (oracle: the library's run)."""
    from optimizer.wash_sale import ConflictSearch

    shorter = 0
    for _, _, library, stopped in library_and(ConflictSearch(closest_call=False)):
        steps = [step for step, _ in stopped.history]
        assert steps == [step for step, _ in library.history][:len(steps)]
        assert stopped.objective_bps >= library.objective_bps - 1e-7 * max(1.0, abs(library.objective_bps))
        shorter += stopped.solves < library.solves
    assert shorter >= 1     # not vacuous: some library searches end on a closest call
