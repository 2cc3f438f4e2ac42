"""The tracking term's diagonal form (one asset per key, no overlay) is the keyed form, written smaller.

Oracle: the keyed form (``sum_squares`` of the specific residual per key, an auxiliary
variable and row per key), built for the same shape by switching the diagonal off; both
solved by Clarabel at tight tolerances must give the same optimum and trade.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from optimizer import Settings
from optimizer.problem_data import ProblemShape
from optimizer.program import Program
from optimizer.terms import tracking
from optimizer.terms.base import Trade
from optimizer.terms.tracking import TrackingError, diagonal_specific
from problems.synthetic import synthetic_case
from case_factories import prepare_case

TIGHT = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}


def solved(data, monkeypatch, diagonal: bool):
    with monkeypatch.context() as patch:
        if not diagonal:
            patch.setattr(tracking, "diagonal_specific", lambda shape: False)
        program = Program(data.shape)
    term = next(t for t in program.terms if isinstance(t, TrackingError))
    assert term.diagonal is diagonal
    program.update(data)
    program.problem.solve(solver="CLARABEL", **TIGHT)
    size = program.problem.get_problem_data("CLARABEL")[0]["param_prob"].x.size
    return program.objective_value(data, Trade.from_variables(program.variables)), Trade.from_variables(program.variables), size


@pytest.mark.parametrize("seed", [0, 1])
def test_the_diagonal_form_has_the_keyed_forms_optimum(seed, monkeypatch):
    data = prepare_case(synthetic_case(15, 3, 4, seed=seed, settings=Settings(wash_sale=False)))
    assert diagonal_specific(data.shape) and not data.shape.overlays
    diagonal, keyed = solved(data, monkeypatch, True), solved(data, monkeypatch, False)
    assert diagonal[0] == pytest.approx(keyed[0], rel=1e-7, abs=1e-7)
    np.testing.assert_allclose(diagonal[1].net(data), keyed[1].net(data), atol=1e-6)
    assert diagonal[2] < keyed[2]   # fewer solver variables: no auxiliary per key


def test_keys_holding_several_assets_or_overlays_keep_the_keyed_form():
    shape = ProblemShape(assets=("A", "B", "C"), asset_keys=("x", "x", "y"), keys=("x", "y"), n_factors=1,
                         lot_slots=1, overlays=(), soft_bands=True)
    assert not diagonal_specific(shape)
    assert diagonal_specific(dataclasses.replace(shape, asset_keys=("x", "y", "z"), keys=("x", "y", "z")))
    with_overlay = prepare_case(synthetic_case(6, 2, 2, seed=3, n_overlays=1, settings=Settings(wash_sale=False)))
    term = next(t for t in Program(with_overlay.shape).terms if isinstance(t, TrackingError))
    assert diagonal_specific(with_overlay.shape) and not term.diagonal
