"""Fixtures for controller tests on a real embedded cluster: the cluster, a namespace, a scheduler."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from kubelab.client import Client
from kubelab.cluster import Cluster
from kubelab.scheduler.scheduler import Scheduler


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with Cluster() as c:
        yield c


@pytest.fixture
def client(cluster: Cluster) -> Iterator[Client]:
    with Client(cluster.api_client()) as c:
        yield c


@pytest.fixture
def namespace(client: Client) -> str:
    """A fresh namespace for one test (the cluster is shared by a module's tests)."""
    name = "t-" + secrets.token_hex(4)
    client.resource("v1", "namespaces").create({"metadata": {"name": name}})
    return name


@pytest.fixture(scope="module")
def scheduler(cluster: Cluster) -> Iterator[Scheduler]:
    """The real scheduler, binding the module's pods (DaemonSet pods too, through their node affinity)."""
    s = Scheduler(seed=1)
    s.start(cluster.api_client())
    yield s
    s.stop()
