"""Fixtures shared by the top-level tests; the case factories live in ``case_factories.py``."""

from __future__ import annotations

import pytest


@pytest.fixture
def rebalancer():
    """A fresh :class:`optimizer.Rebalancer` per test."""
    from optimizer import Rebalancer

    return Rebalancer()


#: A whole-suite run that collects fewer tests than this has lost a folder somewhere.
MINIMUM_SUITE_SIZE = 200


def pytest_collection_finish(session):
    """Fail a whole-suite run (``pytest`` with no arguments) that collects too few tests."""
    whole_suite = not session.config.invocation_params.args or session.config.invocation_params.args == ("-q",)
    if whole_suite and len(session.items) < MINIMUM_SUITE_SIZE:
        raise pytest.UsageError(f"only {len(session.items)} tests collected; the suite has at least "
                                f"{MINIMUM_SUITE_SIZE}. A test folder failed to collect or was skipped.")
