"""Block-bootstrap intervals: coverage at the nominal rate, degenerate and dependent cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optimizer.backtest.bootstrap import (circular_block_indices, paired_difference_ci,
                                          politis_white_block_length)
from optimizer.errors import InputError


def ar1(n: int, phi: float, rng: np.random.Generator, sigma: float = 1.0) -> np.ndarray:
    """AR(1) with marginal standard deviation ``sigma`` (stationary start)."""
    shocks = rng.standard_normal(n) * sigma * np.sqrt(1 - phi ** 2)
    x = np.empty(n)
    x[0] = rng.standard_normal() * sigma
    for t in range(1, n):
        x[t] = phi * x[t - 1] + shocks[t]
    return x


def test_iid_normal_mean_is_covered_at_the_nominal_rate():
    # 300 independent samples of a paired difference with known mean 0.3: the share of
    # 90% intervals that contain 0.3 must be near 0.90 (binomial sd 1.7 pp; percentile
    # intervals at n=150 under-cover a little).
    rng = np.random.default_rng(7)
    mu, n, trials = 0.3, 150, 300
    hits = 0
    for trial in range(trials):
        a = mu + rng.standard_normal(n)
        b = np.zeros(n)
        ci = paired_difference_ci(a, b, level=0.90, n_resamples=400, seed=trial)
        hits += ci.low <= mu <= ci.high
    coverage = hits / trials
    assert 0.83 <= coverage <= 0.96, coverage


def test_constant_difference_has_zero_width():
    rng = np.random.default_rng(1)
    b = rng.standard_normal(250) * 0.01
    a = b + 0.0002
    ci = paired_difference_ci(a, b, scale=252.0)
    assert ci.low == ci.high == ci.estimate
    assert ci.estimate == pytest.approx(0.0002 * 252)
    assert ci.significant


def test_identical_series_give_zero_difference_and_no_significance():
    x = np.random.default_rng(2).standard_normal(100)
    ci = paired_difference_ci(x, x.copy(), statistic="std")
    assert ci.low == ci.high == ci.estimate == 0.0
    assert not ci.significant


def test_interval_widens_with_autocorrelation():
    # Same marginal variance; AR(1) with phi = 0.7 has long-run sd sqrt((1+phi)/(1-phi)) = 2.38
    # times the iid one, so the interval of its mean must be about that much wider.
    rng = np.random.default_rng(3)
    n, phi = 2000, 0.7
    iid = rng.standard_normal(n)
    dependent = ar1(n, phi, rng)
    zeros = np.zeros(n)
    w_iid = paired_difference_ci(iid, zeros, n_resamples=1000).width
    w_ar = paired_difference_ci(dependent, zeros, n_resamples=1000).width
    ratio = w_ar / w_iid
    assert 1.7 < ratio < 3.2, ratio
    # an iid bootstrap (blocks of one day) misses the dependence: much narrower
    w_naive = paired_difference_ci(dependent, zeros, n_resamples=1000, block_length=1).width
    assert w_naive < 0.6 * w_ar


def test_interval_width_matches_the_normal_theory_for_iid_data():
    # mean of n iid N(0, 1): 95% half-width 1.96 / sqrt(n)
    n = 1000
    x = np.random.default_rng(4).standard_normal(n)
    ci = paired_difference_ci(x, np.zeros(n), n_resamples=2000)
    assert ci.width / 2 == pytest.approx(1.96 / np.sqrt(n), rel=0.12)


def test_block_length_rule_is_small_for_iid_and_grows_with_dependence():
    rng = np.random.default_rng(5)
    n = 2000
    b_iid = politis_white_block_length(rng.standard_normal(n))
    b_weak = politis_white_block_length(ar1(n, 0.3, rng))
    b_strong = politis_white_block_length(ar1(n, 0.8, rng))
    assert b_iid <= 3.0
    assert b_weak < b_strong
    # AR(1): G / g(0) = 2 phi / (1 - phi^2), so b = (3/2)^(1/3) (2 phi/(1-phi^2))^(2/3) n^(1/3) (about 38 at phi=0.8)
    phi = 0.8
    theory = (1.5 * (2 * phi / (1 - phi ** 2)) ** 2) ** (1 / 3) * n ** (1 / 3)
    assert 0.5 * theory < b_strong < 1.6 * theory
    assert politis_white_block_length(np.ones(50)) == 1.0


def test_std_statistic_detects_a_tracking_error_gap():
    rng = np.random.default_rng(6)
    n = 1000
    a = rng.standard_normal(n) * 0.002
    b = rng.standard_normal(n) * 0.001
    ci = paired_difference_ci(a, b, statistic="std", scale=np.sqrt(252))
    assert ci.estimate == pytest.approx((a.std(ddof=1) - b.std(ddof=1)) * np.sqrt(252))
    assert ci.low > 0 and ci.significant


def test_seeded_and_reproducible():
    rng = np.random.default_rng(8)
    a, b = rng.standard_normal(300), rng.standard_normal(300)
    first = paired_difference_ci(a, b, seed=11)
    assert paired_difference_ci(a, b, seed=11) == first
    assert paired_difference_ci(a, b, seed=12) != first


def test_circular_indices_wrap_and_keep_blocks():
    index = circular_block_indices(10, 4, 50, np.random.default_rng(0))
    assert index.shape == (50, 10)
    steps = np.diff(index[:, :4], axis=1) % 10          # the first block is consecutive, mod n
    assert np.all(steps == 1)
    assert index.min() >= 0 and index.max() <= 9


@pytest.mark.parametrize("kwargs", [dict(statistic="median"), dict(level=1.0), dict(n_resamples=10),
                                    dict(block_length=0), dict(scale=-1.0)])
def test_bad_arguments_raise_typed_errors(kwargs):
    x = np.arange(20.0)
    with pytest.raises(InputError):
        paired_difference_ci(x, x[::-1].copy(), **kwargs)


def test_bad_series_raise_typed_errors():
    with pytest.raises(InputError):
        paired_difference_ci(np.arange(5.0), np.arange(6.0))
    with pytest.raises(InputError):
        paired_difference_ci(np.array([1.0, np.nan, 2.0, 3.0]), np.zeros(4))
    a = pd.Series(1.0, index=pd.date_range("2020-01-01", periods=5))
    b = pd.Series(1.0, index=pd.date_range("2020-01-02", periods=5))
    with pytest.raises(InputError):
        paired_difference_ci(a, b)
