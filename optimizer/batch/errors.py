"""Errors of a whole batch run (as opposed to one account's, which are recorded, not raised).

Exit codes of ``rebalance batch``: 2 for :class:`~optimizer.errors.InputError` (including
:class:`BookChangedError`), 3 for :class:`BatchRunError` and its subclasses, 1 when the
run finished but some accounts failed.
"""

from __future__ import annotations

from optimizer.errors import InputError, RebalanceError


class BatchRunError(RebalanceError):
    """The run as a whole could not go on (no cluster, output not writable, scheduler lost).

    What finished before is kept in ``_parts/`` (and, where it could be written, a manifest
    with ``"aborted"``); ``--resume`` picks up from there.
    """


class OutputError(BatchRunError):
    """The output folder cannot be written (read-only, full, not visible from a worker)."""


class BookChangedError(InputError):
    """``--resume`` found results made from other inputs than the book being run now."""

    def __init__(self, message: str):
        super().__init__("resume", message)

    def __reduce__(self):
        return (type(self), (str(self).split(": ", 1)[1],))


__all__ = ["BatchRunError", "BookChangedError", "OutputError"]
