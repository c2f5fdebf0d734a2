"""``kubelab controller-manager`` as its own process, as ``kubelab up`` runs it."""

from __future__ import annotations

import signal
import sys

import pytest

from kubelab.process import ManagedProcess
from waiting import eventually

pytestmark = pytest.mark.usefixtures("nodes")


def test_the_process_runs_the_chosen_controllers_and_stops_on_sigterm(cluster, client, namespace, tmp_path):
    log = tmp_path / "controller-manager.log"
    process = ManagedProcess(
        "controller-manager",
        [sys.executable, "-m", "kubelab", "controller-manager", "--kubeconfig", str(cluster.kubeconfig),
         "--controllers", "*,-deployment"],
        log,
    )
    assert process.start()["component"] == "controller-manager"
    try:
        labels = {"app": "web"}
        client.resource("apps/v1", "replicasets").create({
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
            "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "app", "image": "nginx"}]}}},
        }, namespace)
        client.resource("apps/v1", "deployments").create({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "off"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "off"}},
                     "template": {"metadata": {"labels": {"app": "off"}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx"}]}}},
        }, namespace)
        eventually(lambda: (client.resource("apps/v1", "replicasets").get("web", namespace).get("status") or {})
                   .get("readyReplicas") == 2, what="the replicaset controller runs")
        replicasets = client.resource("apps/v1", "replicasets").list(namespace)["items"]
        assert [rs["metadata"]["name"] for rs in replicasets] == ["web"], "the deployment controller is disabled"
    finally:
        process.signal(signal.SIGTERM)
        code = process.stop(grace=10)
    assert code == 0, log.read_text()
