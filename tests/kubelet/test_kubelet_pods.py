"""The kubelet on a real embedded cluster: pods run, crash, back off, probe, fail to start, and say why."""

from __future__ import annotations

import base64
import urllib.request

from cluster_helpers import (
    container_status,
    events,
    kubelet_get,
    pod_manifest,
    reasons,
    wait_for,
)

from kubelab.kubelet.runtime import ContainerFilter
from kubelab.kubelet.runtime_manager import POD_UID
from kubelab.network import host_port


def _phase(client, name):
    return client.resource("v1", "pods").get(name, "default").get("status", {}).get("phase")


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.read().decode()
    except OSError:
        return None


def test_a_pod_runs_and_reports_its_status(node, client):
    pods = client.resource("v1", "pods")
    pods.create(pod_manifest("web", [{"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]))
    wait_for(lambda: container_status(client, "web").get("ready"), what="nginx ready")
    pod = pods.get("web", "default")
    status = pod["status"]
    assert status["phase"] == "Running"
    assert status["hostIP"] == node.kubelet.node_ip
    assert status["podIP"].startswith(node.kubelet.pod_cidr.rsplit(".", 2)[0] + ".")
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "PodReadyToStartContainers": "True", "Initialized": "True", "Ready": "True", "ContainersReady": "True",
        "PodScheduled": "True",
    }
    cs = status["containerStatuses"][0]
    assert cs["containerID"].startswith("kubelab://")
    assert cs["image"] == "docker.io/library/nginx:1.27"
    assert cs["imageID"].startswith("docker.io/library/nginx@sha256:")
    assert cs["restartCount"] == 0 and cs["started"] is True and "running" in cs["state"]
    assert "Welcome to nginx!" in wait_for(lambda: _get(f"http://{status['podIP']}:{host_port(80)}/"))
    assert {"Pulling", "Pulled", "Created", "Started"} <= set(reasons(client, "web"))
    messages = [e["message"] for e in events(client, "web")]
    assert any(m.startswith('Successfully pulled image "nginx:1.27" in ') and "Image size: " in m for m in messages)
    assert "Created container: nginx" in messages and "Started container nginx" in messages


def test_kubectl_shows_the_pod_and_the_node(node, cluster, client):
    client.resource("v1", "pods").create(pod_manifest("shown", [{"name": "c", "image": "busybox",
                                                                 "command": ["sleep", "3600"]}]))
    wait_for(lambda: container_status(client, "shown").get("ready"))
    wide = cluster.kubectl("get", "pods", "shown", "-o", "wide").stdout
    assert "1/1" in wide and "Running" in wide and node.name in wide
    nodes = cluster.kubectl("get", "nodes", "-o", "wide").stdout
    assert "Ready" in nodes and node.kubelet.node_ip in nodes and "kubelab://" in nodes
    result = cluster.kubectl("wait", "--for=condition=Ready", "pod/shown", "--timeout=20s")
    assert "condition met" in result.stdout


def test_a_crashing_container_goes_into_crash_loop_back_off(node, cluster, client):
    client.resource("v1", "pods").create(pod_manifest("crasher", [{"name": "app", "image": "kubelab/crash"}]))
    cs = wait_for(lambda: (s := container_status(client, "crasher")).get("restartCount", 0) >= 2
                  and (s.get("state") or {}).get("waiting", {}).get("reason") == "CrashLoopBackOff" and s,
                  timeout=30, what="CrashLoopBackOff with 2 restarts")
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert cs["lastState"]["terminated"]["reason"] == "Error"
    assert "back-off" in cs["state"]["waiting"]["message"] and "restarting failed container=app" in \
        cs["state"]["waiting"]["message"]
    shown = cluster.kubectl("get", "pod", "crasher").stdout
    assert "CrashLoopBackOff" in shown
    described = cluster.kubectl("describe", "pod", "crasher").stdout
    assert "Back-off restarting failed container app in pod crasher_default(" in described
    assert "Exit Code:    1" in described
    restarts = cs["restartCount"]
    wait_for(lambda: container_status(client, "crasher")["restartCount"] > restarts, timeout=30,
             what="another restart")
    code, text = kubelet_get(node, "/containerLogs/default/crasher/app?previous=true")
    assert code == 200 and "FATAL: DATABASE_URL is not set" in text
    assert "FATAL: DATABASE_URL is not set" in cluster.kubectl("logs", "-p", "crasher").stdout
    assert "FATAL: DATABASE_URL is not set" in cluster.kubectl("logs", "crasher", "--tail=1").stdout
    # Only the newest two runs are kept: what status and logs --previous need.
    uid = client.resource("v1", "pods").get("crasher", "default")["metadata"]["uid"]
    kept = node.kubelet.runtime.list_containers(ContainerFilter(label_selector={POD_UID: uid}))
    assert 1 <= len(kept) <= 2


def test_a_container_that_completes_under_never_makes_the_pod_succeed(node, client):
    client.resource("v1", "pods").create(pod_manifest(
        "job-ok", [{"name": "c", "image": "busybox", "command": ["sh", "-c", "echo done"]}], restartPolicy="Never"))
    wait_for(lambda: _phase(client, "job-ok") == "Succeeded", what="Succeeded")
    cs = container_status(client, "job-ok")
    assert cs["state"]["terminated"]["reason"] == "Completed"
    conditions = {c["type"]: c for c in client.resource("v1", "pods").get("job-ok", "default")["status"]["conditions"]}
    assert conditions["Ready"]["status"] == "False" and conditions["Ready"]["reason"] == "PodCompleted"


def test_a_failing_container_under_never_fails_the_pod(node, client):
    client.resource("v1", "pods").create(pod_manifest(
        "job-bad", [{"name": "c", "image": "busybox", "command": ["sh", "-c", "exit 4"]}], restartPolicy="Never"))
    wait_for(lambda: _phase(client, "job-bad") == "Failed", what="Failed")
    assert container_status(client, "job-bad")["state"]["terminated"]["exitCode"] == 4
    assert container_status(client, "job-bad")["restartCount"] == 0


def test_on_failure_restarts_until_success(node, client):
    script = "test -e /data/ran && exit 0; touch /data/ran; exit 1"
    client.resource("v1", "pods").create(pod_manifest(
        "retry", [{"name": "c", "image": "busybox", "command": ["sh", "-c", script],
                   "volumeMounts": [{"name": "scratch", "mountPath": "/data"}]}],
        restartPolicy="OnFailure", volumes=[{"name": "scratch", "emptyDir": {}}]))
    wait_for(lambda: _phase(client, "retry") == "Succeeded", what="Succeeded after a retry")
    assert container_status(client, "retry")["restartCount"] == 1


def test_an_unknown_image_is_err_image_pull_then_image_pull_back_off(node, client):
    client.resource("v1", "pods").create(pod_manifest("typo", [{"name": "c", "image": "ngnix:1.27"}]))
    reasons_seen = set()

    def saw_both():
        waiting = (container_status(client, "typo").get("state") or {}).get("waiting") or {}
        reasons_seen.add(waiting.get("reason"))
        return {"ErrImagePull", "ImagePullBackOff"} <= reasons_seen

    wait_for(saw_both, interval=0.01, what="ErrImagePull and ImagePullBackOff")
    messages = [(e["reason"], e["message"]) for e in events(client, "typo")]
    assert ("Failed", "Error: ErrImagePull") in messages
    assert any(r == "Failed" and m.startswith('Failed to pull image "ngnix:1.27": rpc error: code = NotFound desc = ')
               and "pull access denied" in m for r, m in messages)
    assert ("Normal", "BackOff") in [(e["type"], e["reason"]) for e in events(client, "typo")]
    code, text = kubelet_get(node, "/containerLogs/default/typo/c")
    assert code == 400 and 'container "c" in pod "typo" is waiting to start' in text


def test_a_missing_config_map_key_is_create_container_config_error_until_it_exists(node, client):
    config_maps = client.resource("v1", "configmaps")
    config_maps.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-config"},
                        "data": {"other": "x"}})
    env = [{"name": "DATABASE_URL", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "database"}}}]
    client.resource("v1", "pods").create(pod_manifest(
        "configured", [{"name": "c", "image": "busybox", "command": ["sh", "-c", "echo $DATABASE_URL; sleep 3600"],
                        "env": env}]))
    waiting = wait_for(lambda: (container_status(client, "configured").get("state") or {}).get("waiting", {})
                       .get("reason") == "CreateContainerConfigError"
                       and container_status(client, "configured")["state"]["waiting"], what="config error")
    assert waiting["message"] == "couldn't find key database in ConfigMap default/app-config"
    assert any(e["message"] == "Error: couldn't find key database in ConfigMap default/app-config"
               for e in events(client, "configured"))
    cm = config_maps.get("app-config", "default")
    cm["data"]["database"] = "db:5432"
    config_maps.update(cm)
    wait_for(lambda: container_status(client, "configured").get("ready"), what="started once the key exists")
    wait_for(lambda: "db:5432" in kubelet_get(node, "/containerLogs/default/configured/c")[1])


def test_a_missing_secret_is_reported_with_its_name(node, client):
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "token"}}}]
    client.resource("v1", "pods").create(pod_manifest("secretive", [{"name": "c", "image": "busybox", "env": env}]))
    waiting = wait_for(lambda: (container_status(client, "secretive").get("state") or {}).get("waiting", {})
                       .get("message"))
    assert waiting == 'secret "nope" not found'


def test_environment_from_every_source_and_expansion(node, client):
    client.resource("v1", "configmaps").create({"apiVersion": "v1", "kind": "ConfigMap",
                                                "metadata": {"name": "env-cm"}, "data": {"COLOUR": "blue"}})
    client.resource("v1", "secrets").create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "env-s"},
                                             "data": {"pw": base64.b64encode(b"s3cret").decode()}})
    env = [
        {"name": "GREETING", "value": "hello"},
        {"name": "MESSAGE", "value": "$(GREETING) world, $$(ESCAPED) $(UNKNOWN)"},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "env-s", "key": "pw"}}},
        {"name": "MEMORY", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
    ]
    script = "echo $MESSAGE; echo $POD_NAME $NODE $PASSWORD $COLOUR $MEMORY; echo ip=$POD_IP; echo arg=$(GREETING)"
    client.resource("v1", "pods").create(pod_manifest(
        "envy", [{"name": "c", "image": "busybox", "command": ["sh", "-c"], "args": [script], "env": env,
                  "envFrom": [{"configMapRef": {"name": "env-cm"}}],
                  "resources": {"limits": {"memory": "64Mi"}}}], restartPolicy="Never"))
    wait_for(lambda: _phase(client, "envy") == "Succeeded")
    lines = kubelet_get(node, "/containerLogs/default/envy/c")[1].splitlines()
    assert lines[0] == "hello world, $(ESCAPED) $(UNKNOWN)"
    assert lines[1] == f"envy {node.name} s3cret blue 64"
    pod_ip = client.resource("v1", "pods").get("envy", "default")["status"]["podIP"]
    assert lines[2] == f"ip={pod_ip}"
    assert lines[3] == "arg=hello"


def test_service_links_are_in_the_environment(node, client):
    client.resource("v1", "services").create({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "my-db"},
        "spec": {"selector": {"app": "db"},
                 "ports": [{"name": "sql", "port": 5432, "targetPort": 5432}]}})
    # As on a real node, a pod sees only the Services its kubelet knew of when it started.
    wait_for(lambda: node.kubelet.services.cache.get("my-db", "default"))
    client.resource("v1", "pods").create(pod_manifest(
        "linked", [{"name": "c", "image": "busybox", "command": ["sh", "-c", "env | sort"]}], restartPolicy="Never"))
    wait_for(lambda: _phase(client, "linked") == "Succeeded")
    ip = client.resource("v1", "services").get("my-db", "default")["spec"]["clusterIP"]
    env = kubelet_get(node, "/containerLogs/default/linked/c")[1].splitlines()
    assert f"MY_DB_SERVICE_HOST={ip}" in env
    assert "MY_DB_SERVICE_PORT=5432" in env and "MY_DB_SERVICE_PORT_SQL=5432" in env
    assert f"MY_DB_PORT=tcp://{ip}:5432" in env and f"MY_DB_PORT_5432_TCP_ADDR={ip}" in env
    assert any(line.startswith("KUBERNETES_SERVICE_HOST=") for line in env)


def test_init_containers_run_first_and_share_volumes(node, cluster, client):
    client.resource("v1", "pods").create(pod_manifest(
        "initialized",
        [{"name": "main", "image": "busybox", "command": ["sh", "-c", "cat /work/greeting; sleep 3600"],
          "volumeMounts": [{"name": "work", "mountPath": "/work"}]}],
        initContainers=[{"name": "prepare", "image": "busybox",
                         "command": ["sh", "-c", "sleep 1; echo prepared > /work/greeting"],
                         "volumeMounts": [{"name": "work", "mountPath": "/work"}]}],
        volumes=[{"name": "work", "emptyDir": {}}]))
    wait_for(lambda: "Init:0/1" in cluster.kubectl("get", "pod", "initialized").stdout, what="Init:0/1")
    wait_for(lambda: container_status(client, "initialized").get("ready"), what="main running")
    pod = client.resource("v1", "pods").get("initialized", "default")
    assert pod["status"]["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    assert "prepared" in wait_for(lambda: kubelet_get(node, "/containerLogs/default/initialized/main")[1])


def test_a_failing_init_container_blocks_the_pod(node, cluster, client):
    client.resource("v1", "pods").create(pod_manifest(
        "blocked", [{"name": "main", "image": "busybox", "command": ["sleep", "3600"]}],
        initContainers=[{"name": "check", "image": "busybox", "command": ["sh", "-c", "exit 2"]}]))
    wait_for(lambda: "Init:CrashLoopBackOff" in cluster.kubectl("get", "pod", "blocked").stdout, timeout=30)
    assert _phase(client, "blocked") == "Pending"
    assert container_status(client, "blocked")["state"]["waiting"]["reason"] == "PodInitializing"


def test_over_its_memory_limit_a_container_is_oom_killed(node, client):
    client.resource("v1", "pods").create(pod_manifest(
        "hog", [{"name": "stress", "image": "polinux/stress", "resources": {"limits": {"memory": "50Mi"}},
                 "command": ["stress"], "args": ["--vm", "1", "--vm-bytes", "150M", "--vm-hang", "1"]}]))
    cs = wait_for(lambda: (container_status(client, "hog").get("lastState") or {}).get("terminated"),
                  timeout=30, what="an OOM kill")
    assert (cs["reason"], cs["exitCode"]) == ("OOMKilled", 137)


def test_a_command_not_found_is_a_start_error(node, client):
    client.resource("v1", "pods").create(pod_manifest("notfound", [{"name": "c", "image": "busybox",
                                                                    "command": ["no-such-binary"]}]))
    terminated = wait_for(lambda: (container_status(client, "notfound").get("lastState") or {}).get("terminated")
                          or (container_status(client, "notfound").get("state") or {}).get("terminated"))
    assert terminated["reason"] == "StartError" and terminated["exitCode"] == 128
    assert 'exec: "no-such-binary": executable file not found in $PATH' in terminated["message"]


def test_the_termination_message_is_reported(node, client):
    client.resource("v1", "pods").create(pod_manifest(
        "farewell", [{"name": "c", "image": "busybox",
                      "command": ["sh", "-c", "echo 'goodbye cruel world' > /dev/termination-log; exit 3"]}],
        restartPolicy="Never"))
    wait_for(lambda: _phase(client, "farewell") == "Failed")
    assert container_status(client, "farewell")["state"]["terminated"]["message"] == "goodbye cruel world\n"
