"""Rolling updates and scaling while pods are killed at random: the Deployment converges, within its limits.

Every pod and ReplicaSet transition is recorded from watches, then replayed:

- surge: whenever a ReplicaSet grows, the ReplicaSets' ``spec.replicas`` add up to at most
  ``replicas + maxSurge``, ``replicas`` being the Deployment size it was grown for;
- availability: during a rollout at a fixed size, ready pods never drop below
  ``replicas - maxUnavailable``, except by pods the chaos killed in the last few seconds
  (an involuntary disruption no controller can prevent).
"""

from __future__ import annotations

import random
import threading
import time

import pytest

from kubelab import errors
from kubelab.controllers.deployment_util import DESIRED_REPLICAS_ANNOTATION
from kubelab.controllers.ref_manager import controller_of
from stand_ins import READY_AFTER
from waiting import eventually

pytestmark = pytest.mark.usefixtures("manager")

MAX_SURGE, MAX_UNAVAILABLE = 2, 1
READY_DELAY = 0.3
EXCUSE_WINDOW = 3.0


class Recorder:
    """Collects the listed objects, then every watch event, with their arrival time."""

    def __init__(self, resource, namespace):
        listed = resource.list(namespace)
        self.events: list[tuple[float, str, dict]] = [(time.monotonic(), "ADDED", o) for o in listed["items"]]
        self.watch = resource.watch(namespace, resource_version=listed["metadata"]["resourceVersion"])
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        for type, obj in self.watch:
            self.events.append((time.monotonic(), type, obj))

    def stop(self):
        self.watch.stop()
        self.thread.join(5)


class Chaos:
    """Deletes a random live pod of the namespace every so often."""

    def __init__(self, client, namespace, seed=7):
        self.pods = client.resource("v1", "pods")
        self.namespace = namespace
        self.rng = random.Random(seed)
        self.kills: list[float] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping.wait(self.rng.uniform(0.2, 0.5)):
            live = [p for p in self.pods.list(self.namespace)["items"] if not p["metadata"].get("deletionTimestamp")]
            if not live:
                continue
            victim = self.rng.choice(live)["metadata"]["name"]
            try:
                self.pods.delete(victim, self.namespace)
                self.kills.append(time.monotonic())
            except errors.NotFound:
                pass

    def stop(self):
        self.stopping.set()
        self.thread.join(5)


def test_rollouts_and_scaling_under_random_pod_deletions(cluster, client, namespace):
    deployments = client.resource("apps/v1", "deployments")
    deployments.create({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {
            "replicas": 6, "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": MAX_SURGE, "maxUnavailable": MAX_UNAVAILABLE}},
            "template": {"metadata": {"labels": {"app": "web"}, "annotations": {READY_AFTER: str(READY_DELAY)}},
                         "spec": {"containers": [{"name": "app", "image": "app:1"}]}},
        },
    }, namespace)

    def rollout(*args):
        cluster.kubectl(*args, "-n", namespace)
        cluster.kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=90s", timeout=120)

    cluster.kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=60s")
    pods = Recorder(client.resource("v1", "pods"), namespace)
    replicasets = Recorder(client.resource("apps/v1", "replicasets"), namespace)
    chaos = Chaos(client, namespace)
    rolling_windows: list[tuple[float, float, int]] = []  # (start, end, replicas) of rollouts at a fixed size
    try:
        for image, size in (("app:2", 6), (None, 9), ("app:3", 4), ("app:4", 4)):
            start = time.monotonic()
            if image is not None and size == 4 and image == "app:3":
                # Resize in the middle of a rollout: proportional scaling.
                cluster.kubectl("set", "image", "deployment/web", f"app={image}", "-n", namespace)
                time.sleep(0.4)
                rollout("scale", "deployment/web", f"--replicas={size}")
            elif image is not None:
                rollout("set", "image", "deployment/web", f"app={image}")
                rolling_windows.append((start, time.monotonic(), size))
            else:
                rollout("scale", "deployment/web", f"--replicas={size}")
    finally:
        chaos.stop()

    def converged():
        live = [p for p in client.resource("v1", "pods").list(namespace)["items"]
                if not p["metadata"].get("deletionTimestamp")]
        d = deployments.get("web", namespace)
        status = d["status"]
        return (len(live) == 4 and {p["spec"]["containers"][0]["image"] for p in live} == {"app:4"}
                and all(any(c["type"] == "Ready" and c["status"] == "True"
                        for c in (p.get("status") or {}).get("conditions") or ())
                        for p in live)
                and (status.get("replicas"), status.get("updatedReplicas"), status.get("availableReplicas"))
                == (4, 4, 4) and status.get("observedGeneration") == d["metadata"]["generation"])

    eventually(converged, timeout=60, what="the deployment converges once the chaos stops")
    time.sleep(0.5)
    pods.stop()
    replicasets.stop()
    assert len(chaos.kills) >= 8, "the chaos did kill pods"

    # Surge: replay every ReplicaSet transition. Each time a ReplicaSet grows, all of them
    # together may hold at most the Deployment size it was grown for (its desired-replicas)
    # plus maxSurge. (Shrinking to a new, smaller size passes through larger totals.)
    sizes: dict[str, int] = {}
    images: dict[str, str] = {}
    grown = 0
    for _, type, rs in replicasets.events:
        name = rs["metadata"]["name"]
        if type == "DELETED":
            sizes.pop(name, None)
            continue
        before = sizes.get(name, 0)
        sizes[name] = rs["spec"]["replicas"]
        images[name] = rs["spec"]["template"]["spec"]["containers"][0]["image"]
        if sizes[name] > before:
            grown += 1
            most = int(rs["metadata"]["annotations"][DESIRED_REPLICAS_ANNOTATION]) + MAX_SURGE
            assert sum(sizes.values()) <= most, f"growing {name} surged beyond {most}: {({n: (images[n], sizes[n]) for n in sizes})}"
    assert grown >= 8, "ReplicaSets grew many times"

    # Availability: replay every pod transition during rollouts at a fixed size.
    ready: dict[str, bool] = {}
    checked = 0
    for at, type, pod in pods.events:
        name = pod["metadata"]["name"]
        if type == "DELETED" or pod["metadata"].get("deletionTimestamp"):
            ready.pop(name, None)
        else:
            ready[name] = any(c.get("type") == "Ready" and c.get("status") == "True"
                              for c in (pod.get("status") or {}).get("conditions") or ())
        for start, end, size in rolling_windows:
            if start <= at <= end:
                excused = sum(1 for k in chaos.kills if at - EXCUSE_WINDOW <= k <= at)
                assert sum(ready.values()) >= size - MAX_UNAVAILABLE - excused, (
                    f"only {sum(ready.values())} ready pods at {at - start:.2f}s into a rollout of {size} "
                    f"({excused} recent kills)")
                checked += 1
    assert checked > 20, "availability was checked at many transitions"
    owners = {(controller_of(p) or {}).get("name") for _, _, p in pods.events}
    assert len(owners) >= 4, "pods of several revisions were seen"
