"""Fixtures for the Dask executor tests: one real LocalCluster per test module.

A `LocalCluster(processes=True)` takes a second or two to start on a busy machine, so each
module shares one (two single-threaded worker processes, as on a small laptop).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[Any]:
    """A real two-worker `LocalCluster(processes=True)` declaring CPU=1 and GPU=1 each."""
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        host="127.0.0.1",
        # Declared resources: cpu and gpu requests become Dask resources, memory does not.
        resources={"CPU": 1, "GPU": 1},
    )
    try:
        yield cluster
    finally:
        cluster.close(timeout=20)


@pytest.fixture(scope="module")
def dask_client(dask_cluster: Any) -> Iterator[Any]:
    """A `distributed.Client` on the module's cluster."""
    client = distributed.Client(dask_cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close(timeout=20)
