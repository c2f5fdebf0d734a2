"""Fixtures for the kubelet tests: a started ProcessRuntime on its own pod CIDR, and a pod in it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_helpers import Node
from kubelet_helpers import Pod, test_cidr

from kubelab.client import Client
from kubelab.cluster import Cluster
from kubelab.kubelet.process_runtime import ProcessRuntime


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[ProcessRuntime]:
    rt = ProcessRuntime(tmp_path / "node", pod_cidr=test_cidr()).start()
    yield rt
    rt.shutdown(grace=0.5)


@pytest.fixture
def pod(runtime: ProcessRuntime) -> Pod:
    return Pod(runtime)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with Cluster() as c:
        yield c


@pytest.fixture(scope="module")
def node(cluster: Cluster) -> Iterator[Node]:
    n = Node(cluster, "node-1", 0)
    yield n
    n.stop()


@pytest.fixture(scope="module")
def client(cluster: Cluster) -> Client:
    return Client(cluster.api_client())
