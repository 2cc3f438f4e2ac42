"""Capital-gains tax rules applied lot by lot."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from optimizer.errors import InputError
from optimizer.model._checks import finite_number, whole_number


#: What happens to unrealized gains at the valuation horizon.
AT_HORIZON = ("liquidate", "step_up")


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

    **What a realization is worth** (used by the engine's objective, not by the ledger):
    selling a lot realizes its gain ``g`` now at ``rate_now`` (short- or long-term), but
    the money reinvested gets a new basis, so the tax on ``g`` that would have been paid
    later is avoided. With ``at_horizon="liquidate"`` the book is assumed sold after
    ``horizon_years`` at the long-term rate, discounted at ``discount_rate`` per year::

        cost per dollar of gain = rate_now - long_term_rate * (1 + discount_rate) ** -horizon_years

    so realizing a long-term gain costs only the time value of deferral, and harvesting a
    loss (``g < 0``) is worth a rate difference plus time value, not the full rate. With
    ``at_horizon="step_up"`` (bequest or donation: the gain is never taxed) nothing is
    avoided and the cost is ``rate_now`` in full.

    **Netting within the year** (engine): when the account's realized gain so far this year
    is known (``Portfolio.realized_gain_usd``), a loss is worth its full value only while it
    offsets gains (realized this year, in this trade, or the yearly ordinary-income
    offset); beyond that it can only be carried forward, and keeps ``carry_value`` of its
    value. The default, 0, is what liquidation at the horizon implies: the carried loss
    will offset exactly the extra gain the replacement's lower basis creates there.
    Likewise a gain absorbed by losses already carried costs ``carry_value`` of its price
    (0: realized now or at the horizon, it meets the same carried loss). See
    :mod:`optimizer.terms.tax`.

    **Waiting for long-term** (engine, opt-in with ``wait_for_long_term=True``): a short-term lot at a
    gain that turns long-term in ``d`` days saves ``(short_term_rate - long_term_rate) * g``
    per dollar if its sale waits those days. Waiting costs the tracking error of not
    selling until then, which the program prices per year; so selling it now is charged
    at least ``(short_term_rate - long_term_rate) * g / (d / 365.25)`` per dollar, the
    saving per year of waiting (:meth:`wait_cost`). A lot days from long-term is then
    kept unless its sale is urgent, and another lot or asset is sold instead; one a year
    away is charged its plain cost. Expected drift is not modelled (no return forecast),
    nor netting (the saving is valued at the full rate difference even when carried
    losses would absorb the gain). Off by default because the backtests disagree: it cost
    after-tax wealth on the 20 stocks 2005-2020 at risk aversion 10 ($7.27m against $7.81m
    without it) and on the 100 stocks at 5 ($2.237m against $2.245m), and helped on the
    direct-indexing benchmark (-33.9 against -37.7 bp/yr of tax alpha at 1e3).
    """

    short_term_rate: float = 0.37
    long_term_rate: float = 0.20
    long_term_days: int = 365
    wash_sale_days: int = 30
    ordinary_offset_usd: float = 3000.0
    horizon_years: float = 10.0
    discount_rate: float = 0.05
    at_horizon: str = "liquidate"
    carry_value: float = 0.0
    identical_groups: Mapping[str, str] = field(default_factory=dict)
    wait_for_long_term: bool = False

    def __post_init__(self) -> None:
        groups = self.identical_groups
        if not isinstance(groups, Mapping):
            raise InputError("tax.identical_groups", f"expected a mapping asset -> group name, got {type(groups).__name__}")
        for asset, group in groups.items():
            if not isinstance(group, str) or not group:
                raise InputError("tax.identical_groups", f"maps to {group!r}; a group is a non-empty name",
                                 asset=str(asset))
        object.__setattr__(self, "identical_groups", {str(a): g for a, g in groups.items()})
        for name in ("short_term_rate", "long_term_rate"):
            rate = finite_number(getattr(self, name), f"tax.{name}", minimum=0.0)
            if rate > 1:
                raise InputError(f"tax.{name}", f"is {rate!r}; a rate is a fraction between 0 and 1")
        whole_number(self.long_term_days, "tax.long_term_days", minimum=0)
        whole_number(self.wash_sale_days, "tax.wash_sale_days", minimum=0)
        finite_number(self.ordinary_offset_usd, "tax.ordinary_offset_usd", minimum=0.0)
        finite_number(self.horizon_years, "tax.horizon_years", minimum=0.0)
        finite_number(self.discount_rate, "tax.discount_rate", minimum=0.0)
        if not 0.0 <= finite_number(self.carry_value, "tax.carry_value", minimum=0.0) <= 1.0:
            raise InputError("tax.carry_value", f"is {self.carry_value!r}; a fraction between 0 and 1")
        if not isinstance(self.wait_for_long_term, (bool, np.bool_)):
            raise InputError("tax.wait_for_long_term", f"is {self.wait_for_long_term!r}; use true or false")
        if not isinstance(self.at_horizon, str) or self.at_horizon not in AT_HORIZON:
            raise InputError("tax.at_horizon", f"is {self.at_horizon!r}; use one of {AT_HORIZON}")

    def wash_group(self, asset: str) -> str:
        """The wash-sale group of ``asset``: its ``identical_groups`` entry, else the asset itself."""
        return self.identical_groups.get(asset, asset)

    def __hash__(self) -> int:
        return hash((self.short_term_rate, self.long_term_rate, self.long_term_days, self.wash_sale_days,
                     self.ordinary_offset_usd, self.horizon_years, self.discount_rate, self.at_horizon,
                     self.carry_value, tuple(sorted(self.identical_groups.items())), self.wait_for_long_term))

    @property
    def deferred_rate(self) -> float:
        """Present value, per dollar of gain, of the tax a sale today avoids later (fraction)."""
        if self.at_horizon == "step_up":
            return 0.0
        return self.long_term_rate * (1.0 + self.discount_rate) ** -self.horizon_years

    def realization_cost(self, long_term: np.ndarray) -> np.ndarray:
        """Cost per dollar of gain realized today, per lot (``long_term``: bool per lot).

        Multiply by the gain (negative for a loss) for the value the engine charges.
        """
        return np.where(long_term, self.long_term_rate, self.short_term_rate) - self.deferred_rate

    def wait_cost(self, gain: np.ndarray, held_days: np.ndarray) -> np.ndarray:
        """Per lot, the least charge per dollar sold now for a short-term lot at a gain: the
        tax saved by waiting until it turns long-term, per year of waiting (0 elsewhere, or
        when ``wait_for_long_term`` is off). ``gain`` per dollar sold, ``held_days`` so far."""
        gain = np.asarray(gain, dtype=float)
        held = np.asarray(held_days, dtype=float)
        if not self.wait_for_long_term:
            return np.zeros_like(gain)
        waiting = (held <= self.long_term_days) & (gain > 0) & np.isfinite(held)
        days_left = np.where(waiting, self.long_term_days + 1 - held, 1.0)
        saving = (self.short_term_rate - self.long_term_rate) * gain
        return np.where(waiting, saving / (days_left / 365.25), 0.0)

    @classmethod
    def none(cls) -> "TaxRules":
        """A tax-exempt account (pension, endowment)."""
        return cls(short_term_rate=0.0, long_term_rate=0.0)
