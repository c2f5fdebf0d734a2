"""A whole cluster — control plane and two nodes, each a process — as a learner uses it."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import kubernetes
import pytest
from kubernetes.stream import portforward

from kubelab.cluster import CONTROL_PLANE, FULL, Cluster
from kubelab.network import host_port
from kubelab.process import pid_alive
from waiting import eventually


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found



@pytest.fixture(scope="module")
def cluster():
    with Cluster(components=FULL, nodes=2, kubelet_options={"backoff_scale": 0.1}) as c:
        yield c


def test_both_nodes_register_ready_with_their_own_addresses(cluster):
    nodes = json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert [n["metadata"]["name"] for n in nodes] == ["node-1", "node-2"]
    addresses = [a["address"] for n in nodes for a in n["status"]["addresses"] if a["type"] == "InternalIP"]
    assert addresses == [cluster.addresses.node_ip(0), cluster.addresses.node_ip(1)]
    cluster.kubectl("wait", "--for=condition=Ready", "node", "--all", "--timeout=30s")


def test_a_deployment_rolls_out_across_the_nodes(cluster):
    cluster.kubectl("create", "deployment", "web", "--image=nginx", "--replicas=4")
    cluster.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    pods = json.loads(cluster.kubectl("get", "pods", "-l", "app=web", "-o", "json").stdout)["items"]
    assert {p["spec"]["nodeName"] for p in pods} == {"node-1", "node-2"}
    assert all(p["status"]["phase"] == "Running" for p in pods)
    assert cluster.kubectl("exec", "deploy/web", "--", "echo", "inside").stdout == "inside\n"


def test_a_crashing_pod_goes_into_crash_loop_back_off_with_its_last_words_kept(cluster):
    cluster.kubectl("run", "crasher", "--image=busybox", "--", "sh", "-c", "echo cannot reach the database; exit 3")
    eventually(lambda: "CrashLoopBackOff" in cluster.kubectl("get", "pod", "crasher").stdout, what="CrashLoopBackOff")
    assert "cannot reach the database" in cluster.kubectl("logs", "crasher", "-p").stdout
    described = cluster.kubectl("describe", "pod", "crasher").stdout
    assert "Back-off restarting failed container" in described
    assert "Exit Code:    3" in described


def test_previous_logs_of_a_container_that_never_restarted_is_a_plain_bad_request(cluster):
    cluster.kubectl("run", "steady", "--image=busybox", "--", "sleep", "3600")
    cluster.kubectl("wait", "--for=condition=Ready", "pod/steady", "--timeout=60s")
    result = cluster.kubectl("logs", "steady", "-p", check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'Error from server (BadRequest): previous terminated container "steady" in pod "steady" not found'
    )


def test_a_killed_kubelet_leaves_its_containers_running_and_a_new_one_adopts_them(cluster):
    runtime = cluster.processes["container-runtime-node-1"].pid
    containers = descendants(runtime)
    assert containers, "node-1 runs no container"
    cluster.kill_component("kubelet-node-1")
    time.sleep(1)
    assert all(pid_alive(pid) for pid in containers)
    cluster.restart_component("kubelet-node-1")
    cluster.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    assert all(pid_alive(pid) for pid in containers)


def test_stopping_the_cluster_leaves_no_process_behind():
    with Cluster(components=CONTROL_PLANE, nodes=1) as c:
        c.kubectl("run", "sleeper", "--image=busybox", "--", "sleep", "3600")
        c.kubectl("wait", "--for=condition=Ready", "pod/sleeper", "--timeout=60s")
        everything = {p.pid for p in c.processes.values()} | {c.apiserver.pid}
        everything |= {pid for p in c.processes.values() for pid in descendants(p.pid)}
    deadline = time.monotonic() + 10
    while any(pid_alive(p) for p in everything) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [p for p in everything if pid_alive(p)] == []


def http_get(url: str, host: str | None = None, timeout: float = 5) -> str:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    with urllib.request.urlopen(request, timeout=timeout) as r:
        return r.read().decode()


def reachable(url: str, host: str | None = None) -> str | None:
    try:
        return http_get(url, host)
    except OSError:
        return None


@pytest.fixture(scope="module")
def backend(cluster):
    """A Deployment of kubelab/web behind a Service called backend-service (port 80 → 8080)."""
    cluster.kubectl("create", "deployment", "backend", "--image=kubelab/web:v1", "--replicas=2", "--port=8080")
    cluster.kubectl("expose", "deployment", "backend", "--name=backend-service", "--port=80", "--target-port=8080")
    cluster.kubectl("rollout", "status", "deployment/backend", "--timeout=60s")
    return json.loads(cluster.kubectl("get", "svc", "backend-service", "-o", "json").stdout)


def test_a_frontend_pod_reaches_the_backend_by_its_service_name(cluster, backend):
    """Scenario S2: service discovery through the cluster DNS and kube-proxy."""
    script = ("import urllib.request; "
              "print(urllib.request.urlopen('http://backend-service/', timeout=5).read().decode())")
    cluster.kubectl("run", "frontend", "--image=python:3.11", "--restart=Never", "--", "python", "-c", script)
    eventually(lambda: cluster.kubectl("get", "pod", "frontend", "-o", "jsonpath={.status.phase}").stdout
               in ("Succeeded", "Failed") or None, what="the frontend pod to finish")
    assert "v1" in cluster.kubectl("logs", "frontend").stdout


def test_the_service_answers_on_its_cluster_ip_and_round_robins_over_both_pods(cluster, backend):
    ip = backend["spec"]["clusterIP"]
    url = f"http://{ip}:{host_port(80)}/"
    eventually(lambda: reachable(url), what="the ClusterIP to answer")
    # kube-proxy may still be learning of the second ready endpoint; once it has, 20 requests reach both.
    eventually(lambda: len({http_get(url) for _ in range(20)}) == 2, what="requests to reach both pods")


def test_a_nodeport_a_load_balancer_and_an_ingress_expose_the_app(cluster, backend):
    """Scenario S3: the three ways to expose an application."""
    cluster.kubectl("create", "service", "nodeport", "web-np", "--tcp=80:8080")
    cluster.kubectl("patch", "svc", "web-np", "-p", '{"spec":{"selector":{"app":"backend"}}}')
    node_port = json.loads(cluster.kubectl("get", "svc", "web-np", "-o", "json").stdout)["spec"]["ports"][0]["nodePort"]
    assert "v1" in eventually(lambda: reachable(f"http://{cluster.addresses.node_ip(1)}:{node_port}/"),
                              what="the NodePort")

    cluster.kubectl("create", "service", "loadbalancer", "web-lb", "--tcp=80:8080")
    cluster.kubectl("patch", "svc", "web-lb", "-p", '{"spec":{"selector":{"app":"backend"}}}')
    lb_ip = eventually(lambda: cluster.kubectl(
        "get", "svc", "web-lb", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}").stdout or None,
        what="an external IP")
    assert lb_ip in [str(a) for a in cluster.addresses.load_balancer_network]
    assert "v1" in eventually(lambda: reachable(f"http://{lb_ip}:{host_port(80)}/"), what="the load balancer")

    cluster.kubectl("create", "ingress", "web", "--rule=www.myapp.com/*=backend-service:80")
    ingress_ip = eventually(lambda: cluster.kubectl(
        "get", "ingress", "web", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}").stdout or None,
        what="the Ingress's address")
    assert "v1" in eventually(lambda: reachable(f"http://{ingress_ip}:{host_port(80)}/", host="www.myapp.com"),
                              what="the Ingress to route www.myapp.com")


def test_the_python_clients_port_forward_reaches_a_pod_and_ends_with_the_connection(cluster, backend):
    pod = json.loads(cluster.kubectl("get", "pods", "-l", "app=backend", "-o", "json").stdout)["items"][0]
    core = kubernetes.client.CoreV1Api(cluster.api_client())
    forward = portforward(core.connect_get_namespaced_pod_portforward, pod["metadata"]["name"], "default",
                          ports="8080")
    sock = forward.socket(8080)
    sock.settimeout(20)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n")
    answer = b""
    while chunk := sock.recv(65536):  # the pod closes the connection: the stream ends, recv sees the end
        answer += chunk
    sock.close()
    forward.close()
    assert answer.startswith(b"HTTP/1.1 200 OK")
    assert f"on pod {pod['metadata']['name']}".encode() in answer
