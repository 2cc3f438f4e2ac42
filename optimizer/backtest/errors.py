"""Typed errors of the backtester; all are :class:`optimizer.errors.RebalanceError` subclasses."""

from __future__ import annotations

from optimizer.errors import InputError, RebalanceError


class PriceDataError(InputError):
    """The price history has a gap (NaN), a non-positive price or a bad calendar.

    ``date`` names the first offending date when there is one.
    """

    def __init__(self, field: str, message: str, *, asset: str | None = None, date=None):
        self.date = date
        where = f" on {date.date()}" if date is not None and hasattr(date, "date") else ""
        super().__init__(field, message + where, asset=asset)


class CalendarError(PriceDataError):
    """Two inputs that must share a calendar do not (unsorted, duplicated or missing dates)."""


class CashShortfallError(RebalanceError):
    """Cash would go negative and the simulator was told to raise rather than fund it."""

    def __init__(self, date, cash_usd: float, reason: str):
        self.date = date
        self.cash_usd = cash_usd
        super().__init__(f"cash would be {cash_usd:,.2f} on {getattr(date, 'date', lambda: date)()} ({reason}); "
                         "pass on_shortfall='fund' to sell pro rata instead")


class CheckpointError(RebalanceError):
    """A checkpoint file does not belong to this run (other data, policy or settings)."""
