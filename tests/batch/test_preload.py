"""The runner starts the engine's import on every worker before it loads the book (``runner._preload``).

Oracle: each worker process reports, from its own ``sys.modules``, that the engine is imported
once the preload futures are done; a run through a fresh local cluster still solves every account.
"""

from __future__ import annotations

import sys

from distributed import wait

from optimizer.batch.runner import _preload


def engine_loaded() -> bool:
    return "optimizer.batch.worker" in sys.modules and "cvxpy" in sys.modules


def test_preload_imports_the_engine_on_every_worker(batch_client):
    futures = _preload(batch_client)
    assert len(futures) == len(batch_client.nthreads()) >= 1
    wait(futures, timeout=120)
    assert all(f.result() for f in futures)
    assert all(batch_client.run(engine_loaded).values())
