"""Typed errors raised by the engine.

Every error says *what* is wrong and *where*: the input field, the asset, the lot,
or the constraints that conflict. Callers can catch :class:`RebalanceError` for all of
them, or a subclass for one kind.
"""

from __future__ import annotations

from dataclasses import dataclass


class RebalanceError(Exception):
    """Base class of every error this package raises on purpose."""


class MissingExtraError(RebalanceError, ImportError):
    """An optional part of the package is used without its extra installed.

    Parameters
    ----------
    extra:
        The extra that provides it, e.g. ``"batch"`` or ``"report"``.
    package:
        The missing import, e.g. ``"duckdb"``.
    feature:
        What needs it, e.g. ``"optimizer.batch"``.
    """

    def __init__(self, extra: str, package: str, feature: str):
        self.extra = extra
        self.package = package
        self.feature = feature
        super().__init__(f"{feature} needs {package!r}, which is not installed; install the {extra!r} extra: "
                         f"pip install 'rebalance-optimizer[{extra}]' (or '.[{extra}]' from a checkout)")


class InputError(RebalanceError, ValueError):
    """Bad input data, found at the boundary (``optimizer.model``).

    Parameters
    ----------
    field:
        The input field at fault, e.g. ``"prices"`` or ``"lots.quantity"``.
    message:
        What is wrong with it.
    asset, lot:
        The asset and tax lot concerned, when there is one.
    """

    def __init__(self, field: str, message: str, *, asset: str | None = None, lot: str | None = None):
        self.field = field
        self.asset = asset
        self.lot = lot
        where = field
        if asset is not None:
            where += f" [asset {asset!r}]"
        if lot is not None:
            where += f" [lot {lot!r}]"
        super().__init__(f"{where}: {message}")


class DPPError(RebalanceError):
    """The assembled cvxpy problem is not DPP, so parameter updates would not be cheap."""


@dataclass(frozen=True)
class SolveAttempt:
    """One solver's try at a problem: who, the status it returned, and why it was (not) accepted."""

    solver: str
    status: str
    seconds: float
    accepted: bool
    reason: str = ""
    solver_seconds: float | None = None


class SolverError(RebalanceError):
    """No solver in the chain produced an answer we accept.

    ``attempts`` lists each try with its status and the reason it was rejected.
    """

    def __init__(self, message: str, attempts: list[SolveAttempt]):
        self.attempts = list(attempts)
        trail = "; ".join(f"{a.solver}: {a.status} ({a.reason})" for a in self.attempts)
        super().__init__(f"{message}. Attempts: {trail}")


@dataclass(frozen=True)
class Conflict:
    """One constraint that had to give way in the elastic diagnosis of an infeasible problem.

    ``shortfall`` is in the constraint's own units (NAV fraction for bands, account
    currency for cash), and says how far the constraint would have to move.
    """

    constraint: str
    key: str
    shortfall: float
    unit: str


class InfeasibleError(RebalanceError):
    """The hard constraints cannot all hold; ``conflicts`` says which give way, and by how much."""

    def __init__(self, conflicts: list[Conflict], attempts: list[SolveAttempt] | None = None):
        self.conflicts = list(conflicts)
        self.attempts = list(attempts or [])
        if self.conflicts:
            detail = "; ".join(
                f"{c.constraint} on {c.key!r} short by {c.shortfall:.6g} {c.unit}" for c in self.conflicts
            )
        else:
            detail = "the elastic diagnosis found no single constraint to blame"
        super().__init__(f"rebalance is infeasible: {detail}")
