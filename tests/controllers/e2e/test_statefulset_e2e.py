"""The StatefulSet controller on a real cluster: ordered pods, claims and rollouts."""

from __future__ import annotations

import threading

import pytest
from controller_helpers import kubectl_apply, running, wait_for
from kubelet_double import KubeletDouble

from kubelab.controllers.garbagecollector import GarbageCollector
from kubelab.controllers.statefulset import StatefulSetController
from kubelab.runtime import Informer


@pytest.fixture
def kubelet(client, namespace):
    double = KubeletDouble(client, [f"n-{namespace}"]).start()
    yield double
    double.stop()


MANIFEST = """
apiVersion: v1
kind: Service
metadata: {{name: nginx}}
spec:
  clusterIP: None
  selector: {{app: web}}
  ports: [{{port: 80, name: web}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: web}}
spec:
  serviceName: nginx
  replicas: {replicas}
  podManagementPolicy: {policy}
  updateStrategy: {strategy}
  persistentVolumeClaimRetentionPolicy: {retention}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 0
      containers: [{{name: web, image: "nginx:1.25"}}]
  volumeClaimTemplates:
  - metadata: {{name: www}}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {{requests: {{storage: 1Gi}}}}
"""


def manifest(replicas=3, policy="OrderedReady", strategy="{type: RollingUpdate}",
             retention="{whenDeleted: Retain, whenScaled: Retain}"):
    return MANIFEST.format(replicas=replicas, policy=policy, strategy=strategy, retention=retention)


def pods_of(client, namespace):
    items = client.resource("v1", "pods").list(namespace, label_selector={"app": "web"})["items"]
    return {p["metadata"]["name"]: p for p in items}


def get_set(client, namespace):
    return client.resource("apps/v1", "statefulsets").get("web", namespace)


class Deletions:
    """Records, in order, the pods that begin to be deleted."""

    def __init__(self, client, namespace):
        self.order: list[str] = []
        self.lock = threading.Lock()
        self.informer = Informer(client.resource("v1", "pods"), namespace=namespace)

        def updated(old, new):
            if new["metadata"].get("deletionTimestamp") and not old["metadata"].get("deletionTimestamp"):
                with self.lock:
                    self.order.append(new["metadata"]["name"])

        def deleted(pod):
            with self.lock:
                if pod["metadata"]["name"] not in self.order[-1:]:
                    self.order.append(pod["metadata"]["name"])
        self.informer.add_event_handler(None, updated, deleted)

    def __enter__(self):
        self.informer.start()
        self.informer.wait_for_sync(10)
        return self

    def __exit__(self, *exc):
        self.informer.stop()


def test_ordered_pods_with_claims_and_a_rolling_update_in_reverse_order(cluster, client, namespace, kubelet,
                                                                         scheduler):
    node = kubelet.nodes[0]
    with running(cluster, statefulset=StatefulSetController()):
        kubelet.hang(node)
        kubectl_apply(cluster, namespace, manifest())
        wait_for(lambda: "web-0" in pods_of(client, namespace), what="web-0")
        # web-1 waits for web-0 to be Running and Ready.
        assert wait_for(lambda: pods_of(client, namespace)["web-0"]["spec"].get("nodeName"), what="web-0 bound")
        assert list(pods_of(client, namespace)) == ["web-0"]
        kubelet.recover(node)
        cluster.kubectl("rollout", "status", "statefulset/web", "-n", namespace, "--timeout=60s", timeout=70)

        pods = pods_of(client, namespace)
        set = get_set(client, namespace)
        status = set["status"]
        assert (status["replicas"], status["readyReplicas"], status["currentReplicas"], status["updatedReplicas"]) \
            == (3, 3, 3, 3)
        assert status["currentRevision"] == status["updateRevision"]
        assert [p["metadata"]["labels"]["controller-revision-hash"] for p in pods.values()] == \
            [status["updateRevision"]] * 3
        for name, pod in pods.items():
            assert pod["spec"]["hostname"] == name and pod["spec"]["subdomain"] == "nginx"
            assert pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == name
            claim = next(v for v in pod["spec"]["volumes"] if v["name"] == "www")["persistentVolumeClaim"]
            assert claim["claimName"] == f"www-{name}"
        claims = client.resource("v1", "persistentvolumeclaims").list(namespace)["items"]
        assert sorted(c["metadata"]["name"] for c in claims) == ["www-web-0", "www-web-1", "www-web-2"]
        assert all(c["metadata"]["labels"] == {"app": "web"} for c in claims)
        revisions = client.resource("apps/v1", "controllerrevisions").list(namespace)["items"]
        assert [r["metadata"]["name"] for r in revisions] == [status["updateRevision"]]
        first_revision = status["updateRevision"]

        with Deletions(client, namespace) as deletions:
            cluster.kubectl("set", "image", "statefulset/web", "web=nginx:1.26", "-n", namespace)
            cluster.kubectl("rollout", "status", "statefulset/web", "-n", namespace, "--timeout=60s", timeout=70)
        assert deletions.order == ["web-2", "web-1", "web-0"]
        status = get_set(client, namespace)["status"]
        assert status["updateRevision"] != first_revision
        assert status["currentRevision"] == status["updateRevision"]
        assert {p["spec"]["containers"][0]["image"] for p in pods_of(client, namespace).values()} == {"nginx:1.26"}
        history = cluster.kubectl("rollout", "history", "statefulset/web", "-n", namespace).stdout
        assert "1" in history and "2" in history

        cluster.kubectl("scale", "statefulset/web", "--replicas=1", "-n", namespace)
        wait_for(lambda: list(pods_of(client, namespace)) == ["web-0"], what="scale down to web-0")
        claims = client.resource("v1", "persistentvolumeclaims").list(namespace)["items"]
        assert len(claims) == 3, "claims are retained when scaling down"


def test_a_partition_updates_only_the_pods_at_or_above_it(cluster, client, namespace, kubelet, scheduler):
    with running(cluster, statefulset=StatefulSetController()):
        kubectl_apply(cluster, namespace, manifest(strategy="{type: RollingUpdate, rollingUpdate: {partition: 2}}"))
        cluster.kubectl("rollout", "status", "statefulset/web", "-n", namespace, "--timeout=60s", timeout=70)
        cluster.kubectl("set", "image", "statefulset/web", "web=nginx:1.26", "-n", namespace)
        out = cluster.kubectl("rollout", "status", "statefulset/web", "-n", namespace, "--timeout=60s",
                              timeout=70).stdout
        assert "partitioned roll out complete: 1 new pods have been updated" in out
        images = {n: p["spec"]["containers"][0]["image"] for n, p in pods_of(client, namespace).items()}
        assert images == {"web-0": "nginx:1.25", "web-1": "nginx:1.25", "web-2": "nginx:1.26"}
        status = get_set(client, namespace)["status"]
        assert (status["updatedReplicas"], status["currentReplicas"]) == (1, 2)
        assert status["currentRevision"] != status["updateRevision"]


def test_parallel_pods_on_delete_updates_and_claims_deleted_on_scale_down(cluster, client, namespace, kubelet,
                                                                          scheduler):
    node = kubelet.nodes[0]
    controllers = {"statefulset": StatefulSetController(), "garbagecollector": GarbageCollector()}
    with running(cluster, **controllers):
        kubelet.hang(node)
        kubectl_apply(cluster, namespace, manifest(policy="Parallel", strategy="{type: OnDelete}",
                                                   retention="{whenDeleted: Retain, whenScaled: Delete}"))
        # Parallel: every pod at once, none waiting for another to be ready.
        wait_for(lambda: sorted(pods_of(client, namespace)) == ["web-0", "web-1", "web-2"], what="three pods at once")
        kubelet.recover(node)
        wait_for(lambda: get_set(client, namespace)["status"].get("readyReplicas") == 3, what="three ready pods")

        cluster.kubectl("set", "image", "statefulset/web", "web=nginx:1.26", "-n", namespace)
        wait_for(lambda: get_set(client, namespace)["status"]["updateRevision"]
                 != get_set(client, namespace)["status"]["currentRevision"], what="a new update revision")
        assert {p["spec"]["containers"][0]["image"] for p in pods_of(client, namespace).values()} == {"nginx:1.25"}
        cluster.kubectl("delete", "pod", "web-1", "-n", namespace)
        wait_for(lambda: pods_of(client, namespace).get("web-1", {}).get("spec", {}).get("containers", [{}])[0]
                 .get("image") == "nginx:1.26", what="web-1 recreated at the new revision")

        cluster.kubectl("scale", "statefulset/web", "--replicas=1", "-n", namespace)
        wait_for(lambda: sorted(c["metadata"]["name"] for c in
                                client.resource("v1", "persistentvolumeclaims").list(namespace)["items"])
                 == ["www-web-0"], what="the claims of removed pods to be deleted")
