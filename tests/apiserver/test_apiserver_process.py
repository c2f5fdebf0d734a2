"""The API server as its own process, as ``kubelab up`` and ``Cluster`` run it."""

from __future__ import annotations

import json

import kubernetes.client

from kubelab.cluster import Cluster


def test_cluster_process_serves_kubectl_and_the_client_and_stops():
    with Cluster(store="memory") as cluster:
        status, body = cluster.get("/readyz")
        assert (status, body) == (200, b"ok")
        out = cluster.kubectl("get", "ns", "-o", "name").stdout.split()
        assert "namespace/default" in out
        core = kubernetes.client.CoreV1Api(cluster.api_client())
        assert core.read_namespace("kube-system").metadata.name == "kube-system"
        status, body = cluster.get("/version")
        assert status == 200 and json.loads(body)["major"] == "1"
        process = cluster.apiserver
        assert process is not None and process.alive()
    assert not process.alive()
