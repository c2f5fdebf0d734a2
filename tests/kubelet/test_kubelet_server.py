"""The kubelet's streaming API, spoken to as the API server speaks to it: exec and port-forward over WebSockets."""

from __future__ import annotations

import json
import ssl
import struct
import time

import pytest
import websocket
from cluster_helpers import container_status, kubelet_get, pod_manifest, wait_for

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


@pytest.fixture(scope="module")
def sleeper(node, client):
    client.resource("v1", "pods").create(pod_manifest("sleeper", [{"name": "c", "image": "busybox",
                                                                   "command": ["sleep", "3600"]}]))
    wait_for(lambda: container_status(client, "sleeper").get("ready"))
    return "sleeper"


def connect(node, path: str, protocol: str = "v5.channel.k8s.io") -> websocket.WebSocket:
    url = f"wss://{node.kubelet.node_ip}:{node.kubelet.server.port}{path}"
    return websocket.create_connection(
        url, header=[f"Authorization: Bearer {node.cluster.token}"], subprotocols=[protocol],
        sslopt={"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": str(node.cluster.dir.ca_cert)}, timeout=10,
    )


def collect(ws: websocket.WebSocket) -> tuple[dict[int, bytes], dict]:
    """Read frames until the error channel carries the Status; return what each channel got, and the Status."""
    channels: dict[int, bytes] = {}
    while True:
        opcode, data = ws.recv_data()
        if opcode == websocket.ABNF.OPCODE_CLOSE or not data:
            raise AssertionError(f"closed before a status; got {channels}")
        channel, payload = data[0], data[1:]
        if channel == ERROR:
            return channels, json.loads(payload)
        channels[channel] = channels.get(channel, b"") + payload


def exec_path(pod: str, command: list[str], **flags: bool) -> str:
    query = "&".join([f"command={c}" for c in command] + [f"{k}=1" for k, v in flags.items() if v])
    return f"/exec/default/{pod}/c?{query}"


def test_exec_returns_output_and_the_exit_code(node, sleeper):
    ws = connect(node, exec_path(sleeper, ["sh", "-c", "echo%20out;%20echo%20err%20>%262;%20exit%203"],
                                 stdout=True, stderr=True))
    assert ws.subprotocol == "v5.channel.k8s.io"
    channels, status = collect(ws)
    assert channels[STDOUT] == b"out\n" and channels[STDERR] == b"err\n"
    assert status["status"] == "Failure" and status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert status["message"].startswith("command terminated with non-zero exit code")


def test_exec_success_is_a_success_status(node, sleeper):
    ws = connect(node, exec_path(sleeper, ["true"], stdout=True))
    assert collect(ws)[1] == {"metadata": {}, "status": "Success"}


def test_exec_reads_stdin_until_it_is_closed(node, sleeper):
    ws = connect(node, exec_path(sleeper, ["cat"], stdin=True, stdout=True, stderr=True))
    ws.send_binary(bytes([STDIN]) + b"hello from stdin\n")
    ws.send_binary(bytes([CLOSE, STDIN]))
    channels, status = collect(ws)
    assert channels[STDOUT] == b"hello from stdin\n" and status["status"] == "Success"


def test_exec_speaks_v4_too(node, sleeper):
    ws = connect(node, exec_path(sleeper, ["echo", "v4"], stdout=True), protocol="v4.channel.k8s.io")
    assert ws.subprotocol == "v4.channel.k8s.io"
    channels, status = collect(ws)
    assert channels[STDOUT] == b"v4\n" and status["status"] == "Success"


def test_exec_with_a_terminal(node, sleeper):
    ws = connect(node, exec_path(sleeper, ["sh"], stdin=True, stdout=True, tty=True))
    ws.send_binary(bytes([RESIZE]) + json.dumps({"Width": 100, "Height": 30}).encode())
    ws.send_binary(bytes([STDIN]) + b"tty; stty size; exit 5\n")
    channels, status = collect(ws)
    output = channels[STDOUT].decode()
    assert "/dev/pts/" in output and "30 100" in output
    assert status["details"]["causes"][0]["message"] == "5"


def test_exec_runs_in_the_containers_view_of_its_volumes(node, client):
    client.resource("v1", "configmaps").create({"apiVersion": "v1", "kind": "ConfigMap",
                                                "metadata": {"name": "exec-cm"}, "data": {"key": "value"}})
    client.resource("v1", "pods").create(pod_manifest(
        "mounted", [{"name": "c", "image": "busybox", "command": ["sleep", "3600"],
                     "volumeMounts": [{"name": "config", "mountPath": "/etc/config"}]}],
        volumes=[{"name": "config", "configMap": {"name": "exec-cm"}}]))
    wait_for(lambda: container_status(client, "mounted").get("ready"))
    ws = connect(node, "/exec/default/mounted/c?command=cat&command=/etc/config/key&stdout=1")
    channels, status = collect(ws)
    assert channels[STDOUT] == b"value" and status["status"] == "Success"


def test_exec_of_a_missing_command_fails_with_the_runtimes_words(node, sleeper):
    ws = connect(node, exec_path(sleeper, ["no-such-command"], stdout=True))
    _, status = collect(ws)
    assert status["status"] == "Failure"
    assert 'exec: "no-such-command": executable file not found in $PATH' in status["message"]


def test_exec_into_a_container_that_is_not_running_is_refused(node, client):
    client.resource("v1", "pods").create(pod_manifest("done", [{"name": "c", "image": "busybox", "command": ["true"]}],
                                                      restartPolicy="Never"))
    wait_for(lambda: client.resource("v1", "pods").get("done", "default")["status"].get("phase") == "Succeeded")
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        connect(node, exec_path("done", ["true"], stdout=True))
    assert e.value.status_code == 404


def test_port_forward_reaches_the_pods_port(node, client):
    client.resource("v1", "pods").create(pod_manifest("forwarded", [{"name": "web", "image": "kubelab/web:v3"}]))
    wait_for(lambda: container_status(client, "forwarded").get("ready"))
    wait_for(lambda: "listening" in kubelet_get(node, "/containerLogs/default/forwarded/web")[1])
    ws = connect(node, "/portforward/default/forwarded?ports=8080", protocol="v4.channel.k8s.io")
    first = [ws.recv_data()[1] for _ in range(2)]
    assert first == [bytes([0]) + struct.pack("<H", 8080), bytes([1]) + struct.pack("<H", 8080)]
    ws.send_binary(bytes([0]) + b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    deadline = time.monotonic() + 10
    response = b""
    while time.monotonic() < deadline and b"Hello" not in response:
        _, data = ws.recv_data()
        response += data[1:]
    assert b"HTTP/1.1 200 OK" in response and b"Hello from kubelab/web v3 on pod forwarded" in response


@pytest.mark.parametrize("version", ["1.30", "1.33"])
def test_kubectl_exec_through_the_api_server(node, cluster, sleeper, version):
    result = cluster.kubectl("exec", sleeper, "--", "sh", "-c", "echo hi; echo oops >&2; exit 3", version=version,
                             check=False)
    assert (result.returncode, result.stdout) == (3, "hi\n")
    assert "oops" in result.stderr and "command terminated with exit code 3" in result.stderr
    piped = cluster.kubectl("exec", "-i", sleeper, "--", "cat", input="piped\n", version=version)
    assert piped.stdout == "piped\n"


def test_the_python_clients_stream(node, cluster, sleeper):
    import kubernetes
    from kubernetes.stream import stream

    api = kubernetes.client.CoreV1Api(cluster.api_client())
    out = stream(api.connect_get_namespaced_pod_exec, sleeper, "default", command=["sh", "-c", "echo $HOSTNAME"],
                 stderr=True, stdin=False, stdout=True, tty=False)
    assert out == f"{sleeper}\n"
