"""What a backtest produced: per-date records, and the metrics computed from them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from optimizer.backtest import audit as _audit
from optimizer.backtest import metrics as _metrics
from optimizer.backtest.derivatives import OverlayRecords
from optimizer.backtest.ledger import WASH_COLUMNS as _WASH_COLUMNS
from optimizer.errors import InputError


@dataclass(frozen=True)
class BacktestResult:
    """Per-date records of one policy's run; amounts in account currency.

    Arrays are indexed by date (rows of ``calendar``) and asset (``assets``).
    ``nav_usd``, ``cash_usd`` and ``holdings_usd`` are end of date, after trading;
    ``traded_usd`` is gross traded value; ``spread_usd``, ``commission_usd``,
    ``impact_usd`` and ``tax_paid_usd`` are paid that date; ``events`` marks dates the
    policy traded and ``forced`` dates the simulator sold to raise missing cash.
    ``liquidation_tax_usd`` is the tax still to settle if every lot were sold on the last
    date and that final tax year closed (negative: a credit; see
    :meth:`optimizer.backtest.ledger.Ledger.liquidation_tax_usd`). ``buys`` logs every buy
    (``date, asset, lot_id, shares, price``; the initial investment included) and
    ``lot_reliefs`` every lot relief (``date, asset, lot_id, shares, price, basis,
    acquired, gain_usd, long_term, bought_lot_id``); prices per share and amounts in dollars.
    ``wash_sales`` logs every wash-sale disallowance of the ledger (columns of
    :meth:`optimizer.backtest.ledger.Ledger.wash_sales_frame`; ``disallowed_usd`` positive
    dollars) and ``identical_groups`` is the run's asset -> group map of substantially
    identical securities (``TaxRules.identical_groups``), which the independent audit reads.
    ``overlay`` holds the derivative side's per-date record when the account held an
    overlay (:class:`optimizer.backtest.derivatives.OverlayRecords`: exposures, gross
    notional, margin calls, roll, trade and financing costs); ``nav_usd`` then includes the
    options' and swaps' value. With ``Simulator(start=...)`` every array starts there.
    """

    policy: str
    calendar: pd.DatetimeIndex
    assets: tuple[str, ...]
    prices: np.ndarray
    target: np.ndarray
    cash_growth: np.ndarray
    nav_usd: np.ndarray
    cash_usd: np.ndarray
    holdings_usd: np.ndarray
    traded_usd: np.ndarray
    spread_usd: np.ndarray
    commission_usd: np.ndarray
    impact_usd: np.ndarray
    tax_paid_usd: np.ndarray
    flows_usd: np.ndarray
    events: np.ndarray
    forced: np.ndarray
    decide_seconds: np.ndarray
    step_seconds: np.ndarray
    realized_short_usd: float
    realized_long_usd: float
    liquidation_tax_usd: float
    periods_per_year: float
    final_lots: pd.DataFrame
    buys: pd.DataFrame
    lot_reliefs: pd.DataFrame
    wash_sales: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_WASH_COLUMNS))
    identical_groups: Mapping[str, str] = field(default_factory=dict)
    overlay: OverlayRecords | None = None

    @property
    def nav(self) -> pd.Series:
        return pd.Series(self.nav_usd, index=self.calendar, name=self.policy)

    def table(self, name: str) -> pd.DataFrame | pd.Series:
        """A recorded array with its labels: a per-date, per-asset field (``holdings_usd``,
        ``traded_usd``, ``spread_usd``, ``commission_usd``, ``impact_usd``, ``prices``) as a
        DataFrame (dates x assets), a per-date one (``nav_usd``, ``cash_usd``,
        ``tax_paid_usd``, ``flows_usd``, ...) as a Series indexed by date."""
        values = getattr(self, name, None)
        if not isinstance(values, np.ndarray) or len(values) != len(self.calendar) or values.ndim > 2:
            raise InputError("field", f"{name!r} is not a per-date array of this result")
        if values.ndim == 2:
            if values.shape[1] != len(self.assets):
                raise InputError("field", f"{name!r} is not a per-asset array of this result")
            return pd.DataFrame(values, index=self.calendar, columns=pd.Index(self.assets, name="asset"))
        return pd.Series(values, index=self.calendar, name=name)

    @property
    def weights(self) -> pd.DataFrame:
        """Holdings as NAV fractions per date and asset."""
        return pd.DataFrame(self.holdings_usd / self.nav_usd[:, None], index=self.calendar, columns=list(self.assets))

    @property
    def after_tax_terminal_usd(self) -> float:
        """Final NAV less the tax of liquidating everything, dollars.

        Every lot is sold on the last date at its price (no trading costs) and the final tax
        year is closed with the ledger's netting: that year's realized gains, the
        liquidation's gains and the loss carry-forward net together, and the year's tax is
        paid, or credited when a net loss offsets ordinary income (tax below zero adds to
        the wealth). Tax of the year already settled during the run is not counted twice.
        """
        return float(self.nav_usd[-1] - self.liquidation_tax_usd)

    def wash_sale_violations(self, window_days: int = 30) -> int:
        """Count of (loss relief, buy of the same wash group) pairs within ``window_days``
        calendar days, found by the independent checker
        :func:`optimizer.backtest.audit.wash_sale_violations`."""
        return len(_audit.wash_sale_violations(self.buys, self.lot_reliefs, window_days, self.identical_groups))

    @property
    def disallowed_loss_usd(self) -> float:
        """Total loss the ledger disallowed under the wash-sale rule (positive dollars)."""
        return float(self.wash_sales["disallowed_usd"].astype(float).sum()) if len(self.wash_sales) else 0.0

    @property
    def exposure(self) -> pd.DataFrame:
        """Holdings plus overlay exposure as NAV fractions per date and asset."""
        exposure = self.holdings_usd if self.overlay is None else self.holdings_usd + self.overlay.exposure_usd
        return pd.DataFrame(exposure / self.nav_usd[:, None], index=self.calendar, columns=list(self.assets))

    def metrics(self) -> dict[str, float]:
        """See :func:`optimizer.backtest.metrics.summarize`."""
        return _metrics.summarize(self)
