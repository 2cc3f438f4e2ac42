"""The solver chain on a reused program: every solver's re-solves must be real answers.

Regression: OSQP's in-place update failed when only bounds changed (the wash-sale second
pass) and cvxpy returned the previous solution as optimal; verification caught it, but
every account failed. Each solver alone, on one Rebalancer across several accounts, must
agree with Clarabel.
"""

from __future__ import annotations

import pytest

from optimizer import Rebalancer, Settings, solve_case
from problems.synthetic import synthetic_case


@pytest.mark.parametrize("solver", ["OSQP", "PIQP", "CLARABEL"])
def test_reused_program_with_one_solver_matches_clarabel(solver):
    rebalancer = Rebalancer()
    for seed in range(4):
        case = synthetic_case(12, 3, 4, seed=seed, settings=Settings(solvers=(solver,)))
        ours = solve_case(case, rebalancer)
        reference = solve_case(synthetic_case(12, 3, 4, seed=seed, settings=Settings(solvers=("CLARABEL",))))
        assert ours.solver == solver
        assert ours.wash_sale_fixes == reference.wash_sale_fixes
        assert ours.objective_bps == pytest.approx(reference.objective_bps, rel=1e-5, abs=1e-5)
    assert rebalancer.builds == 1
