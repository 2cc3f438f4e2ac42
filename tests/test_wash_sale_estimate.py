"""The one-asset minimisation behind the wash-sale estimate (``optimizer.wash_sale._least_along_trade``).

Oracles: a dense grid of the net trade with the objective written apart from the engine
(tracking and impact quadratic, band penalty, linear cost, lots sold cheapest tax first),
and scoring both options in one stacked pass equal, bit for bit, to scoring each alone.
"""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.wash_sale import _least_along_trade

PENALTY = 0.5


def random_rows(rng: np.random.Generator, n: int, slots: int = 3) -> tuple[dict, np.ndarray, np.ndarray]:
    rows = {
        "u0": rng.normal(0.0, 0.01, n),
        "quad": rng.uniform(0.0, 2.0, n),
        "slope": rng.normal(0.0, 0.05, n),
        "impact": rng.uniform(0.0, 0.5, n),
        "linear": rng.uniform(0.0, 0.003, n),
        "room_below": -rng.uniform(0.0, 0.02, n),
        "room_above": rng.uniform(0.0, 0.02, n),
        "lot_cost": rng.normal(0.0, 0.05, (n, slots)),
    }
    buy_max = rng.uniform(0.0, 0.05, n) * (rng.random(n) > 0.2)
    sellable = rng.uniform(0.0, 0.02, (n, slots)) * (rng.random((n, slots)) > 0.3)
    return rows, buy_max, sellable


def objective_on_grid(rows: dict, i: int, buy_max: float, sellable: np.ndarray, points: int = 200_001) -> float:
    """The least objective over a dense grid of the net trade, kinks included (written apart from the engine)."""
    low = -sellable.sum()
    kinks = [0.0, rows["u0"][i] + rows["room_below"][i], rows["u0"][i] + rows["room_above"][i],
             *(-np.cumsum(sellable[np.argsort(rows["lot_cost"][i])]))]
    u = np.concatenate([np.linspace(low, buy_max, points), np.clip(kinks, low, buy_max)])
    du = u - rows["u0"][i]
    value = rows["quad"][i] * du ** 2 + rows["slope"][i] * du + rows["impact"][i] * u ** 2
    value += PENALTY * (np.maximum(rows["room_below"][i] - du, 0.0) + np.maximum(du - rows["room_above"][i], 0.0))
    value += np.where(u > 0, rows["linear"][i] * u, 0.0)
    remaining = np.maximum(-u, 0.0)  # amount sold, taken from the cheapest lots first
    for j in np.argsort(rows["lot_cost"][i]):
        taken = np.minimum(remaining, sellable[j])
        value += taken * (rows["lot_cost"][i, j] + rows["linear"][i])
        remaining = remaining - taken
    return float(value.min() - rows["impact"][i] * rows["u0"][i] ** 2)


@pytest.mark.parametrize("seed", range(3))
def test_least_along_trade_matches_a_dense_grid(seed):
    rng = np.random.default_rng(seed)
    rows, buy_max, sellable = random_rows(rng, 8)
    best = _least_along_trade(rows, buy_max, sellable, PENALTY)
    for i in range(8):
        grid = objective_on_grid(rows, i, buy_max[i], sellable[i])
        assert best[i] <= grid + 1e-12          # the exact minimum is no higher than any grid point
        assert best[i] >= grid - 1e-11          # and the grid (kinks included) comes within its spacing


def test_stacked_options_equal_each_option_alone():
    """``options`` scores "keep the buy" and "keep the loss sale" as stacked rows: same bits as apart."""
    rng = np.random.default_rng(7)
    rows, buy_max, sellable = random_rows(rng, 50)
    loss = rng.random(sellable.shape) > 0.5
    first = _least_along_trade(rows, buy_max, np.where(loss, 0.0, sellable), PENALTY)
    second = _least_along_trade(rows, np.zeros_like(buy_max), sellable, PENALTY)
    twice = {name: np.concatenate([value, value]) for name, value in rows.items()}
    stacked = _least_along_trade(twice, np.concatenate([buy_max, np.zeros_like(buy_max)]),
                                 np.concatenate([np.where(loss, 0.0, sellable), sellable]), PENALTY)
    assert np.array_equal(stacked, np.concatenate([first, second]))
