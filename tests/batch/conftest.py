"""Shared fixtures of the batch tests: small books and one Dask cluster for the whole folder."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(scope="session")
def batch_client():
    """Two single-threaded worker processes, shared by every batch test (start-up costs seconds)."""
    from distributed import Client, LocalCluster

    from optimizer.batch.runner import LOCAL_ONLY

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           silence_logs=logging.ERROR, **LOCAL_ONLY)
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()
