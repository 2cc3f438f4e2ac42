"""Covariance estimators that do not jitter: Ledoit-Wolf shrinkage toward a scaled identity.

The sample covariance of ``T`` returns on ``n`` assets is noisy when ``T`` is not much
larger than ``n``; an optimizer that re-estimates it on a moving window then trades on
the noise. Ledoit and Wolf (2004), "A well-conditioned estimator for large-dimensional
covariance matrices", J. Multivariate Analysis 88, shrink it toward ``mu * I``
(``mu`` the average variance) with the intensity that minimises the expected Frobenius
loss::

    S      = X'X / T                      (X: demeaned returns, T x n)
    mu     = trace(S) / n
    d2     = ||S - mu I||_F^2 / n
    b2_bar = sum_t ||x_t x_t' - S||_F^2 / (n T^2),   b2 = min(b2_bar, d2)
    Sigma  = (b2 / d2) mu I + (1 - b2 / d2) S

(the same estimator as scikit-learn's ``LedoitWolf``, written out so the package does
not need scikit-learn).
"""

from __future__ import annotations

import numpy as np

from optimizer.errors import InputError


def ledoit_wolf(returns: np.ndarray) -> tuple[np.ndarray, float]:
    """Shrunk covariance per period (n x n) and the shrinkage intensity in [0, 1].

    Parameters
    ----------
    returns:
        Returns per period (rows dates, columns assets), finite, at least two rows.
    """
    x = np.asarray(returns, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2:
        raise InputError("returns", "needs at least two rows of returns to estimate a covariance")
    if not np.all(np.isfinite(x)):
        raise InputError("returns", "has NaN or infinite values")
    T, n = x.shape
    x = x - x.mean(axis=0)
    sample = x.T @ x / T
    mu = np.trace(sample) / n
    d2 = float(np.sum((sample - mu * np.eye(n)) ** 2)) / n
    if d2 <= 0.0:
        return sample, 0.0
    row_norms = np.sum(x ** 2, axis=1)
    b2_bar = float(np.sum(row_norms ** 2) - T * np.sum(sample ** 2)) / (n * T ** 2)
    shrinkage = min(max(b2_bar, 0.0), d2) / d2
    return shrinkage * mu * np.eye(n) + (1.0 - shrinkage) * sample, shrinkage
