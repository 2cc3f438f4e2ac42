"""Market snapshot for one date: prices, liquidity, trading costs and the factor risk model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.model.covariance import ledoit_wolf
from optimizer.model._checks import as_series, covers, finite, is_missing, nonnegative, numeric_frame, positive, str_labels, timestamp


@dataclass(frozen=True)
class RiskModel:
    """Annualised factor risk model on the exposure keys (asset classes, or assets).

    Covariance of exposure returns is ``loadings @ factor_cov @ loadings.T + diag(specific_var)``.
    The program never forms it densely: it uses a Cholesky factor of ``factor_cov``.

    Parameters
    ----------
    loadings:
        Exposure key x factor, dimensionless.
    factor_cov:
        Factor x factor covariance of annual factor returns (fraction^2), symmetric PSD.
    specific_var:
        Annual specific variance per exposure key (fraction^2), >= 0.
    """

    loadings: pd.DataFrame
    factor_cov: pd.DataFrame
    specific_var: pd.Series

    def __post_init__(self) -> None:
        loadings = numeric_frame(self.loadings, "risk.loadings")
        loadings.index = str_labels(loadings.index)
        loadings.columns = str_labels(loadings.columns)
        bad_rows = ~np.isfinite(loadings.to_numpy()).all(axis=1)
        if bad_rows.any():   # name the first bad row and entry, as a row-by-row check would
            first = int(np.argmax(bad_rows))
            finite(loadings.iloc[first], f"risk.loadings[{loadings.index[first]}]")
        cov = numeric_frame(self.factor_cov, "risk.factor_cov")
        cov.index = str_labels(cov.index)
        cov.columns = str_labels(cov.columns)
        if list(cov.index) != list(loadings.columns) or list(cov.columns) != list(loadings.columns):
            raise InputError("risk.factor_cov", "rows and columns must be the loadings' factors, in the same order")
        values = cov.to_numpy()
        if not np.all(np.isfinite(values)):
            raise InputError("risk.factor_cov", "has NaN or infinite entries")
        if not np.allclose(values, values.T, atol=1e-12, rtol=1e-9):
            raise InputError("risk.factor_cov", "is not symmetric")
        if values.size and np.linalg.eigvalsh(values).min() < -1e-10 * max(1.0, np.abs(values).max()):
            raise InputError("risk.factor_cov", "is not positive semidefinite")
        specific = as_series(self.specific_var, "risk.specific_var")
        nonnegative(specific, "risk.specific_var")
        covers(specific, loadings.index, "risk.specific_var")
        object.__setattr__(self, "loadings", loadings)
        object.__setattr__(self, "factor_cov", cov)
        object.__setattr__(self, "specific_var", specific.reindex(loadings.index))

    @property
    def keys(self) -> list[str]:
        return list(self.loadings.index)

    def factor_root(self) -> np.ndarray:
        """``R`` (factors x factors, read-only) with ``R.T @ R == factor_cov``; robust to singular covariances.

        Computed once per model (every decision on this model uses it)."""
        root = self.__dict__.get("_factor_root")
        if root is None:
            eigval, eigvec = np.linalg.eigh(self.factor_cov.to_numpy())
            root = (eigvec * np.sqrt(np.clip(eigval, 0.0, None))).T
            root.setflags(write=False)
            object.__setattr__(self, "_factor_root", root)
        return root

    def covariance(self) -> pd.DataFrame:
        """The dense covariance (for tests, reports and small problems only)."""
        F = self.loadings.to_numpy()
        cov = F @ self.factor_cov.to_numpy() @ F.T + np.diag(self.specific_var.to_numpy())
        return pd.DataFrame(cov, index=self.keys, columns=self.keys)

    @classmethod
    def from_returns(cls, returns: pd.DataFrame, n_factors: int, periods_per_year: float, *,
                     shrink: bool = False) -> "RiskModel":
        """Statistical (PCA) factor model from a returns history (rows dates, columns keys).

        The ``n_factors`` leading principal components of the annualised covariance are the
        factors; each key's specific variance is what they leave of its own variance. With
        ``shrink`` the covariance is first shrunk with :func:`optimizer.model.covariance.ledoit_wolf`,
        which keeps the model steady as the estimation window moves.
        """
        clean = returns.dropna()
        if len(clean) < 2:
            raise InputError("returns", "needs at least two complete rows to estimate a risk model")
        if shrink:
            cov = ledoit_wolf(clean.to_numpy(dtype=float))[0] * periods_per_year
        else:
            cov = clean.cov().to_numpy() * periods_per_year
        return cls.from_covariance(pd.DataFrame(cov, index=returns.columns, columns=returns.columns), n_factors)

    @classmethod
    def from_covariance(cls, covariance: pd.DataFrame, n_factors: int) -> "RiskModel":
        """Factor form of an annualised covariance (keys x keys): its ``n_factors`` leading
        principal components, and what they leave of each key's variance as specific."""
        cov = covariance.to_numpy(dtype=float)
        eigval, eigvec = np.linalg.eigh(cov)
        order = np.argsort(eigval)[::-1][:n_factors]
        loadings = eigvec[:, order]
        factor_cov = np.diag(np.clip(eigval[order], 0.0, None))
        specific = np.clip(np.diag(cov) - np.einsum("ik,k,ik->i", loadings, np.diag(factor_cov), loadings), 0.0, None)
        names = [f"pc{i + 1}" for i in range(len(order))]
        return cls(
            loadings=pd.DataFrame(loadings, index=covariance.index, columns=names),
            factor_cov=pd.DataFrame(factor_cov, index=names, columns=names),
            specific_var=pd.Series(specific, index=covariance.index),
        )


@dataclass(frozen=True)
class Market:
    """Prices and trading conditions on one date, per asset.

    Parameters
    ----------
    date:
        The decision date (sets short/long-term status of lots and wash-sale windows).
    prices:
        Price per share, account currency, > 0.
    asset_class:
        Exposure key each asset belongs to (an asset class, or the asset itself when
        targets are per asset). Every held or targeted asset needs one.
    risk:
        Factor risk model on the exposure keys.
    volatility:
        Daily return volatility per asset (fraction), used by market impact.
    adv_usd:
        Average daily traded value per asset, account currency, > 0.
    half_spread:
        Half the bid/ask spread as a fraction of price (0.0005 = 5 bps).
    commission:
        Commission as a fraction of traded value.
    """

    date: pd.Timestamp
    prices: pd.Series
    asset_class: pd.Series
    risk: RiskModel
    volatility: pd.Series
    adv_usd: pd.Series
    half_spread: pd.Series
    commission: pd.Series

    def __post_init__(self) -> None:
        object.__setattr__(self, "date", timestamp(self.date, "date"))
        prices = as_series(self.prices, "prices")
        positive(prices, "prices")
        object.__setattr__(self, "prices", prices)
        assets = list(prices.index)
        classes = self.asset_class
        if isinstance(classes, dict):
            classes = pd.Series(classes, dtype=object)
        if not isinstance(classes, pd.Series):
            raise InputError("asset_class", f"expected a pandas Series or a dict keyed by asset, got {type(classes).__name__}")
        for name, value in classes.items():
            if is_missing(value) or not isinstance(value, (str, int, np.integer)) or isinstance(value, bool):
                raise InputError("asset_class", f"is {value!r}; expected the name of an exposure key", asset=str(name))
        classes = classes.astype(str)
        classes.index = str_labels(classes.index)
        covers(classes, assets, "asset_class")
        object.__setattr__(self, "asset_class", classes)
        for name in ("volatility", "adv_usd", "half_spread", "commission"):
            values = as_series(getattr(self, name), name)
            covers(values, assets, name)
            values = values.reindex(assets)
            (positive if name == "adv_usd" else nonnegative)(values, name)
            object.__setattr__(self, name, values)
        unknown = sorted(set(classes.reindex(assets)) - set(self.risk.keys))
        if unknown:
            raise InputError("risk.loadings", f"has no row for exposure key {unknown[0]!r}",
                             asset=str(classes[classes == unknown[0]].index[0]))

    @classmethod
    def trusted(cls, *, date: pd.Timestamp, prices: pd.Series, asset_class: pd.Series, risk: RiskModel,
                volatility: pd.Series, adv_usd: pd.Series, half_spread: pd.Series,
                commission: pd.Series) -> "Market":
        """A market snapshot from data already in the form the constructor's checks leave it
        in; nothing is checked or copied.

        For a backtest's own arrays, valid by construction (prices from the price history,
        costs from a checked cost model), where checking every decision's snapshot would cost
        more than the solve of a small book. The caller promises: ``date`` a Timestamp without
        a time zone; ``prices`` positive finite floats indexed by unique text asset names;
        ``asset_class`` text keys indexed by text names, covering those assets, each key a row
        of ``risk``; ``volatility``, ``half_spread``, ``commission`` (finite, >= 0) and
        ``adv_usd`` (finite, > 0) float Series indexed exactly like ``prices``. Data that
        breaks a promise gives wrong answers instead of an :class:`InputError`: use the
        constructor for anything from outside the engine.
        """
        market = object.__new__(cls)
        fields = {"date": date, "prices": prices, "asset_class": asset_class, "risk": risk,
                  "volatility": volatility, "adv_usd": adv_usd, "half_spread": half_spread,
                  "commission": commission}
        for name, value in fields.items():
            object.__setattr__(market, name, value)
        return market

    @property
    def assets(self) -> list[str]:
        return list(self.prices.index)
