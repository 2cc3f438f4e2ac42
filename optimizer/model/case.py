"""A whole rebalance question in one object: who, against what, on which market, under which rules."""

from __future__ import annotations

from dataclasses import dataclass, field

from optimizer.errors import InputError
from optimizer.model.market import Market
from optimizer.model.overlay import OverlayInstrument
from optimizer.model.portfolio import Portfolio, check_lots_dated_by
from optimizer.model.restrictions import Restrictions
from optimizer.model.settings import Settings
from optimizer.model.targets import Targets
from optimizer.model.tax import TaxRules


@dataclass(frozen=True)
class Case:
    """Inputs of one decision, as loaded from a case file or made by ``problems``.

    Solve it with :func:`optimizer.solve_case` (the model layer never imports the engine).
    """

    portfolio: Portfolio
    targets: Targets
    market: Market
    settings: Settings = Settings()
    tax: TaxRules = TaxRules()
    overlays: tuple[OverlayInstrument, ...] = ()
    restrictions: Restrictions = field(default_factory=Restrictions)
    name: str = "case"

    def __post_init__(self) -> None:
        for name, kind in (("portfolio", Portfolio), ("targets", Targets), ("market", Market),
                           ("settings", Settings), ("tax", TaxRules), ("restrictions", Restrictions)):
            if not isinstance(getattr(self, name), kind):
                raise InputError(name, f"expected {kind.__name__}, got {type(getattr(self, name)).__name__}")
        check_lots_dated_by(self.portfolio.lots, self.market.date)

    def options(self) -> dict:
        """Keyword options for :func:`optimizer.rebalance` / :meth:`Rebalancer.rebalance`."""
        return {"tax": self.tax, "overlays": self.overlays, "restrictions": self.restrictions}
