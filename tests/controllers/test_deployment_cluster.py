"""The Deployment controller on a real embedded cluster, driven by the real kubectl."""

from __future__ import annotations

import threading

import pytest

from kubelab.controllers.deployment_util import (
    DESIRED_REPLICAS_ANNOTATION,
    MAX_REPLICAS_ANNOTATION,
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
)
from kubelab.controllers.ref_manager import controller_of
from waiting import eventually

pytestmark = pytest.mark.usefixtures("manager")


def deployment(name, replicas=3, image="nginx:1", **spec):
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "app", "image": image}]}}, **spec},
    }


def replicasets_of(client, namespace, name):
    d = client.resource("apps/v1", "deployments").get(name, namespace)
    items = client.resource("apps/v1", "replicasets").list(namespace)["items"]
    owned = [rs for rs in items if (controller_of(rs) or {}).get("uid") == d["metadata"]["uid"]]
    return sorted(owned, key=lambda rs: int(rs["metadata"]["annotations"].get(REVISION_ANNOTATION, 0)))


def events_of(client, namespace, name):
    items = client.resource("v1", "events").list(namespace)["items"]
    return [(e["reason"], e["message"]) for e in items if e["involvedObject"].get("name") == name]


def rolled_out(cluster, namespace, name, timeout="60s"):
    return cluster.kubectl("rollout", "status", f"deployment/{name}", "-n", namespace, f"--timeout={timeout}").stdout


def test_create_deployment_rolls_out_one_replica_set(cluster, client, namespace):
    cluster.kubectl("create", "deployment", "web", "--image=nginx:1", "--replicas=3", "-n", namespace)
    out = rolled_out(cluster, namespace, "web")
    assert out.splitlines()[-1] == 'deployment "web" successfully rolled out'

    (rs,) = replicasets_of(client, namespace, "web")
    hash = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{hash}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": hash}
    assert rs["metadata"]["annotations"] == {REVISION_ANNOTATION: "1", DESIRED_REPLICAS_ANNOTATION: "3",
                                             MAX_REPLICAS_ANNOTATION: "4"}
    d = client.resource("apps/v1", "deployments").get("web", namespace)
    assert d["metadata"]["annotations"][REVISION_ANNOTATION] == "1"
    status = d["status"]
    assert {k: status.get(k) for k in ("observedGeneration", "replicas", "updatedReplicas", "readyReplicas",
                                       "availableReplicas")} == {"observedGeneration": 1, "replicas": 3,
                                                                 "updatedReplicas": 3, "readyReplicas": 3,
                                                                 "availableReplicas": 3}
    conditions = {c["type"]: c for c in status["conditions"]}
    assert (conditions["Available"]["status"], conditions["Available"]["reason"],
            conditions["Available"]["message"]) == ("True", "MinimumReplicasAvailable",
                                                    "Deployment has minimum availability.")
    assert (conditions["Progressing"]["status"], conditions["Progressing"]["reason"],
            conditions["Progressing"]["message"]) == ("True", "NewReplicaSetAvailable",
                                                      f'ReplicaSet "web-{hash}" has successfully progressed.')
    assert ("ScalingReplicaSet", f"Scaled up replica set web-{hash} from 0 to 3") in events_of(client, namespace, "web")
    pods = client.resource("v1", "pods").list(namespace, label_selector=f"pod-template-hash={hash}")["items"]
    assert len(pods) == 3
    get = cluster.kubectl("get", "deployment", "web", "-n", namespace).stdout.splitlines()
    assert get[1].split()[:4] == ["web", "3/3", "3", "3"]


def test_scale_resizes_the_replica_set(cluster, client, namespace):
    client.resource("apps/v1", "deployments").create(deployment("web", 2), namespace)
    rolled_out(cluster, namespace, "web")
    cluster.kubectl("scale", "deployment/web", "--replicas=5", "-n", namespace)
    rolled_out(cluster, namespace, "web")
    (rs,) = replicasets_of(client, namespace, "web")
    assert rs["spec"]["replicas"] == 5 and rs["status"]["readyReplicas"] == 5
    assert rs["metadata"]["annotations"][DESIRED_REPLICAS_ANNOTATION] == "5"
    name = rs["metadata"]["name"]
    assert ("ScalingReplicaSet", f"Scaled up replica set {name} from 2 to 5") in events_of(client, namespace, "web")
    cluster.kubectl("scale", "deployment/web", "--replicas=1", "-n", namespace)
    rolled_out(cluster, namespace, "web")
    assert ("ScalingReplicaSet", f"Scaled down replica set {name} from 5 to 1") in events_of(client, namespace, "web")


def test_set_image_history_and_undo(cluster, client, namespace):
    client.resource("apps/v1", "deployments").create(deployment("web", 3, image="nginx:1"), namespace)
    rolled_out(cluster, namespace, "web")
    cluster.kubectl("set", "image", "deployment/web", "app=nginx:2", "-n", namespace)
    rolled_out(cluster, namespace, "web")
    first, second = replicasets_of(client, namespace, "web")
    assert (first["spec"]["replicas"], second["spec"]["replicas"]) == (0, 3)
    assert second["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:2"
    assert second["metadata"]["annotations"][REVISION_ANNOTATION] == "2"
    pods = client.resource("v1", "pods").list(namespace)["items"]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    assert {p["spec"]["containers"][0]["image"] for p in live} == {"nginx:2"}

    history = cluster.kubectl("rollout", "history", "deployment/web", "-n", namespace).stdout.split()
    assert history[:5] == ["deployment.apps/web", "REVISION", "CHANGE-CAUSE", "1", "<none>"]
    assert history[5:] == ["2", "<none>"]

    out = cluster.kubectl("rollout", "undo", "deployment/web", "-n", namespace).stdout
    assert out.strip() == "deployment.apps/web rolled back"
    rolled_out(cluster, namespace, "web")
    rss = replicasets_of(client, namespace, "web")
    assert [rs["metadata"]["name"] for rs in rss] == [second["metadata"]["name"], first["metadata"]["name"]]
    back = rss[1]
    assert back["metadata"]["annotations"][REVISION_ANNOTATION] == "3"
    assert back["metadata"]["annotations"][REVISION_HISTORY_ANNOTATION] == "1"
    assert back["spec"]["replicas"] == 3 and rss[0]["spec"]["replicas"] == 0
    d = client.resource("apps/v1", "deployments").get("web", namespace)
    assert d["metadata"]["annotations"][REVISION_ANNOTATION] == "3"
    history = cluster.kubectl("rollout", "history", "deployment/web", "-n", namespace).stdout.split()
    assert history[3:] == ["2", "<none>", "3", "<none>"]


def test_pause_holds_a_rollout_until_resume(cluster, client, namespace):
    client.resource("apps/v1", "deployments").create(deployment("web", 2), namespace)
    rolled_out(cluster, namespace, "web")
    cluster.kubectl("rollout", "pause", "deployment/web", "-n", namespace)
    cluster.kubectl("set", "image", "deployment/web", "app=nginx:2", "-n", namespace)

    def paused_and_observed():
        d = client.resource("apps/v1", "deployments").get("web", namespace)
        cond = next(c for c in d["status"]["conditions"] if c["type"] == "Progressing")
        return (cond["status"], cond["reason"], cond["message"]) == ("Unknown", "DeploymentPaused",
                                                                    "Deployment is paused") \
            and d["status"]["observedGeneration"] == d["metadata"]["generation"] == 3
    eventually(paused_and_observed)
    assert len(replicasets_of(client, namespace, "web")) == 1, "no rollout while paused"

    cluster.kubectl("rollout", "resume", "deployment/web", "-n", namespace)
    rolled_out(cluster, namespace, "web")
    assert [rs["spec"]["replicas"] for rs in replicasets_of(client, namespace, "web")] == [0, 2]


def test_rollout_restart_makes_a_new_replica_set(cluster, client, namespace):
    client.resource("apps/v1", "deployments").create(deployment("web", 2), namespace)
    rolled_out(cluster, namespace, "web")
    cluster.kubectl("rollout", "restart", "deployment/web", "-n", namespace)
    rolled_out(cluster, namespace, "web")
    old, new = replicasets_of(client, namespace, "web")
    assert "kubectl.kubernetes.io/restartedAt" in new["spec"]["template"]["metadata"]["annotations"]
    assert (old["spec"]["replicas"], new["spec"]["replicas"]) == (0, 2)


def test_revision_history_limit_deletes_the_oldest_replica_sets(cluster, client, namespace):
    client.resource("apps/v1", "deployments").create(deployment("web", 1, revisionHistoryLimit=1), namespace)
    for version in range(2, 5):
        rolled_out(cluster, namespace, "web")
        cluster.kubectl("set", "image", "deployment/web", f"app=nginx:{version}", "-n", namespace)
    rolled_out(cluster, namespace, "web")
    eventually(lambda: len(replicasets_of(client, namespace, "web")) == 2)
    kept = replicasets_of(client, namespace, "web")
    assert [rs["metadata"]["annotations"][REVISION_ANNOTATION] for rs in kept] == ["3", "4"]


def test_recreate_removes_old_pods_before_creating_new_ones(cluster, client, namespace):
    pods_api = client.resource("v1", "pods")
    client.resource("apps/v1", "deployments").create(deployment("web", 3, strategy={"type": "Recreate"}), namespace)
    rolled_out(cluster, namespace, "web")
    watch = pods_api.watch(namespace, resource_version=pods_api.list(namespace)["metadata"]["resourceVersion"])
    transitions: list[tuple[str, dict]] = []
    reader = threading.Thread(target=lambda: transitions.extend(watch))
    reader.start()
    cluster.kubectl("set", "image", "deployment/web", "app=nginx:2", "-n", namespace)
    rolled_out(cluster, namespace, "web")
    watch.stop()
    reader.join(5)
    alive: dict[str, str] = {}
    for type, pod in transitions:
        name, image = pod["metadata"]["name"], pod["spec"]["containers"][0]["image"]
        if type == "DELETED":
            alive.pop(name, None)
        else:
            alive[name] = image
        if type == "ADDED" and image == "nginx:2":
            old_left = {n for n, i in alive.items() if i == "nginx:1"}
            assert not old_left, f"a new pod was created while old pods still existed: {old_left}"
    assert sorted(alive.values()) == ["nginx:2"] * 3


def test_a_stuck_rollout_exceeds_its_progress_deadline(cluster, client, namespace):
    client.resource("apps/v1", "deployments").create(deployment("web", 2, progressDeadlineSeconds=2), namespace)
    rolled_out(cluster, namespace, "web")
    cluster.kubectl("set", "image", "deployment/web", "app=never-ready", "-n", namespace)
    result = cluster.kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=30s", check=False)
    assert result.returncode == 1
    assert 'error: deployment "web" exceeded its progress deadline' in result.stderr
    d = client.resource("apps/v1", "deployments").get("web", namespace)
    new = replicasets_of(client, namespace, "web")[-1]["metadata"]["name"]
    cond = next(c for c in d["status"]["conditions"] if c["type"] == "Progressing")
    assert (cond["status"], cond["reason"], cond["message"]) == (
        "False", "ProgressDeadlineExceeded", f'ReplicaSet "{new}" has timed out progressing.')
    available = next(c for c in d["status"]["conditions"] if c["type"] == "Available")
    assert available["status"] == "True", "maxUnavailable kept old pods serving"
    assert d["status"]["availableReplicas"] == 2


def test_delete_removes_the_deployment(cluster, client, namespace):
    client.resource("apps/v1", "deployments").create(deployment("web", 1), namespace)
    rolled_out(cluster, namespace, "web")
    out = cluster.kubectl("delete", "deployment", "web", "-n", namespace).stdout
    assert out.strip() == 'deployment.apps "web" deleted'
    names = [d["metadata"]["name"] for d in client.resource("apps/v1", "deployments").list(namespace)["items"]]
    assert "web" not in names
