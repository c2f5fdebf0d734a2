"""The kubelet on a real embedded cluster: probes, volumes, deletion, and its node's registration and heartbeat."""

from __future__ import annotations

import json
import os
import time
import urllib.request

from cluster_helpers import container_status, events, kubelet_get, pod_manifest, reasons, wait_for
from kubelet_helpers import pid_alive

from kubelab.api.meta import parse_time


def _pods(client):
    return client.resource("v1", "pods")


def _ready(client, name) -> bool:
    return bool(container_status(client, name).get("ready"))


def test_the_node_registers_with_its_facts(node, client):
    n = client.resource("v1", "nodes").get(node.name)
    labels = n["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == node.name and labels["kubernetes.io/os"] == "linux"
    assert n["spec"]["podCIDR"] == node.kubelet.pod_cidr
    status = n["status"]
    assert {"type": "InternalIP", "address": node.kubelet.node_ip} in status["addresses"]
    assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] == node.kubelet.server.port
    assert status["nodeInfo"]["kubeletVersion"].startswith("v1.")
    assert status["nodeInfo"]["containerRuntimeVersion"].startswith("kubelab://")
    assert int(status["capacity"]["cpu"]) >= 1 and status["capacity"]["pods"] == "110"
    assert status["allocatable"]["memory"].endswith("Ki")
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    assert conditions["Ready"]["reason"] == "KubeletReady"
    assert conditions["Ready"]["message"] == "kubelet is posting ready status"
    assert conditions["MemoryPressure"]["reason"] == "KubeletHasSufficientMemory"
    assert conditions["DiskPressure"]["reason"] == "KubeletHasNoDiskPressure"
    assert conditions["PIDPressure"]["reason"] == "KubeletHasSufficientPID"


def test_the_lease_is_renewed(node, client):
    leases = client.resource("coordination.k8s.io/v1", "leases")
    first = leases.get(node.name, "kube-node-lease")["spec"]
    assert first["holderIdentity"] == node.name and first["leaseDurationSeconds"] == 40
    wait_for(lambda: leases.get(node.name, "kube-node-lease")["spec"]["renewTime"] != first["renewTime"],
             what="a renewed lease")


def test_paused_heartbeats_leave_the_lease_stale_and_the_pods_running(node, client):
    _pods(client).create(pod_manifest("steady", [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]))
    wait_for(lambda: _ready(client, "steady"))
    leases = client.resource("coordination.k8s.io/v1", "leases")
    node.kubelet.pause_heartbeats()
    try:
        time.sleep(1.5)
        before = leases.get(node.name, "kube-node-lease")["spec"]["renewTime"]
        time.sleep(2.5)
        assert leases.get(node.name, "kube-node-lease")["spec"]["renewTime"] == before
        assert _ready(client, "steady")
    finally:
        node.kubelet.resume_heartbeats()
    wait_for(lambda: leases.get(node.name, "kube-node-lease")["spec"]["renewTime"] != before)


def test_a_readiness_probe_flips_readiness(node, cluster, client):
    script = "touch /tmp/ready; sleep 3; rm /tmp/ready; sleep 3600"
    probe = {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1, "failureThreshold": 1}
    _pods(client).create(pod_manifest("flipper", [{"name": "c", "image": "busybox", "command": ["sh", "-c", script],
                                                   "readinessProbe": probe}]))
    wait_for(lambda: _ready(client, "flipper"), what="ready")
    assert "1/1" in cluster.kubectl("get", "pod", "flipper").stdout
    wait_for(lambda: not _ready(client, "flipper"), what="unready once the file is gone")
    pod = _pods(client).get("flipper", "default")
    ready = {c["type"]: c for c in pod["status"]["conditions"]}["Ready"]
    assert ready["status"] == "False" and ready["message"] == "containers with unready status: [c]"
    assert container_status(client, "flipper")["restartCount"] == 0
    wait_for(lambda: any(e["reason"] == "Unhealthy" and e["message"].startswith("Readiness probe failed: cat: ")
                         for e in events(client, "flipper")), what="an Unhealthy event")


def test_a_failed_liveness_probe_restarts_the_container(node, client):
    probe = {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1, "failureThreshold": 1}
    _pods(client).create(pod_manifest("alive", [{"name": "c", "image": "registry.k8s.io/e2e-test-images/agnhost:2.40",
                                                 "args": ["liveness"], "livenessProbe": probe}]))
    wait_for(lambda: container_status(client, "alive").get("restartCount", 0) >= 1, timeout=40,
             what="a restart after /healthz fails")
    for expected in (("Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500"),
                     ("Killing", "Container c failed liveness probe, will be restarted")):
        wait_for(lambda e=expected: e in [(e["reason"], e["message"]) for e in events(client, "alive")], what=str(expected))


def test_a_startup_probe_holds_back_readiness(node, client):
    startup = {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1, "failureThreshold": 30}
    _pods(client).create(pod_manifest("slowpoke", [{"name": "c", "image": "kubelab/slow",
                                                    "env": [{"name": "STARTUP_SECONDS", "value": "2"}],
                                                    "startupProbe": startup}]))
    wait_for(lambda: "running" in (container_status(client, "slowpoke").get("state") or {}))
    assert container_status(client, "slowpoke")["started"] is False
    wait_for(lambda: container_status(client, "slowpoke").get("started"), what="started after the startup probe")
    assert _ready(client, "slowpoke")


def test_deleting_a_pod_stops_it_gracefully_and_removes_it(node, client):
    _pods(client).create(pod_manifest("leaving", [{"name": "web", "image": "kubelab/web:v1"}]))
    wait_for(lambda: _ready(client, "leaving"))
    wait_for(lambda: "listening" in kubelet_get(node, "/containerLogs/default/leaving/web")[1])
    pid = node.kubelet.runtime.container_status(container_status(client, "leaving")["containerID"]
                                                 .removeprefix("kubelab://")).pid
    started = time.monotonic()
    _pods(client).delete("leaving", "default")
    wait_for(lambda: not _pods(client).list("default", field_selector="metadata.name=leaving")["items"],
             what="the pod gone from the API")
    wait_for(lambda: not pid_alive(pid), what="the container stopped")
    # Well within the 30 s grace period: the app exited on SIGTERM, nothing had to SIGKILL it.
    assert time.monotonic() - started < 5
    wait_for(lambda: ("Normal", "Killing", "Stopping container web") in
             [(e["type"], e["reason"], e["message"]) for e in events(client, "leaving")])


def test_a_process_ignoring_sigterm_is_killed_after_the_grace_period(node, client):
    _pods(client).create(pod_manifest("stubborn", [{"name": "c", "image": "kubelab/hang"}],
                                      terminationGracePeriodSeconds=2))
    wait_for(lambda: _ready(client, "stubborn"))
    wait_for(lambda: "starting up" in kubelet_get(node, "/containerLogs/default/stubborn/c")[1])
    pid = node.kubelet.runtime.container_status(container_status(client, "stubborn")["containerID"]
                                                 .removeprefix("kubelab://")).pid
    started = time.monotonic()
    _pods(client).delete("stubborn", "default")
    wait_for(lambda: not pid_alive(pid), interval=0.02)
    assert 1.8 < time.monotonic() - started < 10


def test_a_pre_stop_hook_runs_before_the_container_stops(node, client, tmp_path):
    hook = {"preStop": {"exec": {"command": ["sh", "-c", "echo bye > /out/prestop"]}}}
    _pods(client).create(pod_manifest(
        "polite", [{"name": "c", "image": "busybox", "command": ["sleep", "3600"], "lifecycle": hook,
                    "volumeMounts": [{"name": "out", "mountPath": "/out"}]}],
        terminationGracePeriodSeconds=5, volumes=[{"name": "out", "hostPath": {"path": str(tmp_path)}}]))
    wait_for(lambda: _ready(client, "polite"))
    _pods(client).delete("polite", "default")
    assert wait_for(lambda: (tmp_path / "prestop").exists() and (tmp_path / "prestop").read_text()) == "bye\n"


def test_a_force_deleted_pods_containers_are_killed_anyway(node, client):
    _pods(client).create(pod_manifest("forced", [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]))
    wait_for(lambda: _ready(client, "forced"))
    pid = node.kubelet.runtime.container_status(container_status(client, "forced")["containerID"]
                                                 .removeprefix("kubelab://")).pid
    _pods(client).delete("forced", "default", grace_period_seconds=0)
    wait_for(lambda: not pid_alive(pid), what="the orphaned container killed")


def test_config_map_volumes_show_their_keys_and_follow_changes(node, client):
    config_maps = client.resource("v1", "configmaps")
    config_maps.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "site"},
                        "data": {"index.html": "version one"}})
    _pods(client).create(pod_manifest(
        "site", [{"name": "nginx", "image": "nginx", "volumeMounts": [{"name": "html",
                                                                      "mountPath": "/usr/share/nginx/html"}]}],
        volumes=[{"name": "html", "configMap": {"name": "site"}}]))
    wait_for(lambda: _ready(client, "site"))
    ip = _pods(client).get("site", "default")["status"]["podIP"]
    from kubelab.network import host_port

    def page() -> str | None:
        try:
            with urllib.request.urlopen(f"http://{ip}:{host_port(80)}/", timeout=2) as r:
                return r.read().decode()
        except OSError:
            return None

    assert wait_for(page) == "version one"
    cm = config_maps.get("site", "default")
    cm["data"]["index.html"] = "version two"
    config_maps.update(cm)
    node.kubelet.controller.queue.add("default/site")
    wait_for(lambda: page() == "version two", what="the new content")


def test_downward_api_volume(node, client):
    _pods(client).create({**pod_manifest(
        "downward", [{"name": "c", "image": "busybox", "command": ["cat", "/etc/podinfo/labels", "/etc/podinfo/name"],
                      "volumeMounts": [{"name": "podinfo", "mountPath": "/etc/podinfo"}]}],
        restartPolicy="Never",
        volumes=[{"name": "podinfo", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}}]),
        "metadata": {"name": "downward", "labels": {"app": "demo", "tier": "web"}}})
    wait_for(lambda: _pods(client).get("downward", "default")["status"].get("phase") == "Succeeded")
    text = kubelet_get(node, "/containerLogs/default/downward/c")[1]
    # The file has no trailing newline; a log line always ends with one, as on a real node.
    assert text == 'app="demo"\ntier="web"downward\n'


def test_a_claim_is_provisioned_on_the_node_and_outlives_its_pod(node, client):
    client.resource("v1", "persistentvolumeclaims").create({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "kv-data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    manifest = pod_manifest("kv", [{"name": "kv", "image": "kubelab/kv",
                                    "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                            volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "kv-data"}}])
    _pods(client).create(manifest)
    wait_for(lambda: _ready(client, "kv"))
    ip = _pods(client).get("kv", "default")["status"]["podIP"]
    request = urllib.request.Request(f"http://{ip}:8080/keys/answer", data=b"42", method="PUT")
    wait_for(lambda: _put(request))
    claim = client.resource("v1", "persistentvolumeclaims").get("kv-data", "default")
    assert claim["status"]["phase"] == "Bound" and claim["spec"]["volumeName"].startswith("pvc-")
    volume = client.resource("v1", "persistentvolumes").get(claim["spec"]["volumeName"])
    assert volume["spec"]["claimRef"]["name"] == "kv-data"
    _pods(client).delete("kv", "default")
    wait_for(lambda: not _pods(client).list("default", field_selector="metadata.name=kv")["items"])
    _pods(client).create(manifest)
    wait_for(lambda: _ready(client, "kv"))
    ip = _pods(client).get("kv", "default")["status"]["podIP"]
    assert wait_for(lambda: _read(f"http://{ip}:8080/keys/answer")) == "42"


def _put(request: urllib.request.Request) -> bool:
    try:
        with urllib.request.urlopen(request, timeout=2) as r:
            return r.status == 201
    except OSError:
        return False


def _read(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.read().decode()
    except OSError:
        return None


def test_logs_options(node, client):
    _pods(client).create(pod_manifest("counter", [{"name": "c", "image": "busybox",
                                                   "command": ["sh", "-c", "for i in 1 2 3 4 5; do echo line $i; done"]}],
                                      restartPolicy="Never"))
    wait_for(lambda: _pods(client).get("counter", "default")["status"].get("phase") == "Succeeded")
    assert kubelet_get(node, "/containerLogs/default/counter/c?tailLines=2")[1] == "line 4\nline 5\n"
    stamped = kubelet_get(node, "/containerLogs/default/counter/c?timestamps=true&tailLines=1")[1]
    stamp, _, text = stamped.partition(" ")
    assert text == "line 5\n" and abs(parse_time(stamp[:19] + "Z") - time.time()) < 60
    assert kubelet_get(node, "/containerLogs/default/counter/c?limitBytes=6")[1] == "line 1"
    assert kubelet_get(node, "/containerLogs/default/counter/c?sinceSeconds=3600")[1].count("line") == 5
    code, text = kubelet_get(node, "/containerLogs/default/counter/c?previous=true")
    assert code == 400 and text == 'previous terminated container "c" in pod "counter" not found'
    code, text = kubelet_get(node, "/containerLogs/default/counter/nope")
    assert code == 400 and text == "container nope is not valid for pod counter"


def test_the_kubelet_rejects_requests_without_the_token(node):
    import ssl
    import urllib.error

    url = f"https://{node.kubelet.node_ip}:{node.kubelet.server.port}/pods"
    context = ssl.create_default_context(cafile=str(node.cluster.dir.ca_cert))
    try:
        urllib.request.urlopen(url, context=context, timeout=5)
        raise AssertionError("expected 401")
    except urllib.error.HTTPError as e:
        assert e.code == 401
    code, body = kubelet_get(node, "/pods")
    assert code == 200 and json.loads(body)["kind"] == "PodList"


def test_killing_the_kubelet_leaves_its_containers_running_and_a_new_one_adopts_them(node, client):
    _pods(client).create(pod_manifest("survivor", [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]))
    wait_for(lambda: _ready(client, "survivor"))
    before = container_status(client, "survivor")
    pid = node.kubelet.runtime.container_status(before["containerID"].removeprefix("kubelab://")).pid
    node.kubelet.stop()
    leases = client.resource("coordination.k8s.io/v1", "leases")
    renewed = leases.get(node.name, "kube-node-lease")["spec"]["renewTime"]
    time.sleep(2.5)
    assert leases.get(node.name, "kube-node-lease")["spec"]["renewTime"] == renewed
    assert pid_alive(pid)
    node.restart_kubelet()
    wait_for(lambda: leases.get(node.name, "kube-node-lease")["spec"]["renewTime"] != renewed)
    time.sleep(1)
    after = container_status(client, "survivor")
    assert after["containerID"] == before["containerID"] and after["restartCount"] == 0 and after["ready"]
    assert pid_alive(pid) and os.getpgid(pid) == pid
    assert "Killing" not in reasons(client, "survivor")
