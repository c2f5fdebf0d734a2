"""A real embedded cluster for controller tests: API server, controller-manager, stand-in binder and kubelet.

One cluster per test module (starting one takes about a second); each test works in its
own namespace.
"""

from __future__ import annotations

import itertools

import pytest

from kubelab.client import Client
from kubelab.cluster import Cluster
from kubelab.controllers.manager import ControllerManager
from stand_ins import MinimalKubelet, TinyBinder

_namespaces = itertools.count()



@pytest.fixture(scope="module")
def cluster():
    with Cluster() as c:
        yield c


@pytest.fixture(scope="module")
def client(cluster):
    c = Client(cluster.api_client())
    yield c
    c.close()


@pytest.fixture(scope="module")
def nodes(client):
    """Three nodes, with a binder and a kubelet standing in for the scheduler and the real kubelets."""
    kubelet = MinimalKubelet(client, never_ready=frozenset({"never-ready"}))
    kubelet.start()
    binder = TinyBinder(client)
    binder.start()
    yield
    binder.stop()
    kubelet.stop()


@pytest.fixture(scope="module")
def manager(cluster, nodes):
    """The controller-manager, in this process."""
    m = ControllerManager()
    m.start(cluster.api_client())
    assert m.wait_for_sync(30)
    yield m
    m.stop()


@pytest.fixture
def namespace(client):
    name = f"test-{next(_namespaces)}"
    client.resource("v1", "namespaces").create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name
