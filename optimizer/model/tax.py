"""Capital-gains tax rules applied lot by lot."""

from __future__ import annotations

from dataclasses import dataclass

from optimizer.errors import InputError
from optimizer.model._checks import finite_number


@dataclass(frozen=True)
class TaxRules:
    """Short- and long-term capital-gains rates, and the holding period that separates them.

    A lot held more than ``long_term_days`` on the decision date is long-term. Losses
    are taxed at the same rates with the opposite sign (a benefit), which assumes other
    gains to offset. ``wash_sale_days`` is the window in which a buy and a loss sale of
    the same asset may not meet. ``ordinary_offset_usd`` is the most of a year's net
    capital loss that may offset ordinary income (dollars per tax year; US: 3000); the
    offset is valued at ``short_term_rate`` (the ordinary-income rate) by the backtest
    ledger.
    """

    short_term_rate: float = 0.37
    long_term_rate: float = 0.20
    long_term_days: int = 365
    wash_sale_days: int = 30
    ordinary_offset_usd: float = 3000.0

    def __post_init__(self) -> None:
        for name in ("short_term_rate", "long_term_rate"):
            rate = finite_number(getattr(self, name), f"tax.{name}", minimum=0.0)
            if rate > 1:
                raise InputError(f"tax.{name}", f"is {rate!r}; a rate is a fraction between 0 and 1")
        finite_number(self.long_term_days, "tax.long_term_days", minimum=0)
        finite_number(self.wash_sale_days, "tax.wash_sale_days", minimum=0)
        finite_number(self.ordinary_offset_usd, "tax.ordinary_offset_usd", minimum=0.0)

    @classmethod
    def none(cls) -> "TaxRules":
        """A tax-exempt account (pension, endowment)."""
        return cls(short_term_rate=0.0, long_term_rate=0.0)
