"""Plain, validated input data. Everything is checked once, here, and named when it is wrong."""

from optimizer.model.case import Case
from optimizer.model.market import Market, RiskModel
from optimizer.model.overlay import OverlayInstrument
from optimizer.model.portfolio import Portfolio
from optimizer.model.restrictions import Restrictions
from optimizer.model.settings import Settings
from optimizer.model.targets import Targets
from optimizer.model.tax import TaxRules

__all__ = ["Case", "Market", "OverlayInstrument", "Portfolio", "Restrictions", "RiskModel", "Settings", "Targets", "TaxRules"]
