"""The process runtime on its own: containers are processes with logs, mounts, limits and clean deaths."""

from __future__ import annotations

import os
import re
import urllib.request
from pathlib import Path

import pytest
from kubelet_helpers import Pod, pid_alive, wait_for

from kubelab.kubelet.runtime import (
    ContainerFilter,
    ContainerState,
    KeyValue,
    LinuxContainerConfig,
    LinuxContainerResources,
    Mount,
    PodSandboxState,
    RuntimeServiceError,
)
from kubelab.network import host_port

CRI_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z (stdout|stderr) [FP] ")


def http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=2) as r:
        return r.read().decode()


def test_nginx_serves_its_welcome_page_on_the_pods_own_address(pod: Pod):
    container_id = pod.run("nginx", "nginx:1.27")
    page = wait_for(lambda: _try_get(f"http://{pod.ip}:{host_port(80)}/"))
    assert "<title>Welcome to nginx!</title>" in page
    status = pod.runtime.container_status(container_id)
    assert status.state == ContainerState.RUNNING
    assert status.image.image == "docker.io/library/nginx:1.27"
    assert status.image_ref.startswith("docker.io/library/nginx@sha256:")
    log = wait_for(lambda: "GET / HTTP/1.1" in pod.log("nginx") and pod.log("nginx"))
    assert all(CRI_LINE.match(line) for line in str(log).splitlines())
    assert "stderr F" in str(log) and "[notice]" in str(log)


def _try_get(url: str) -> str | None:
    try:
        return http_get(url)
    except OSError:
        return None


def test_each_pod_gets_its_own_address_from_the_cidr(runtime):
    a, b = Pod(runtime, "a", "uid-a"), Pod(runtime, "b", "uid-b")
    assert a.ip != b.ip
    assert a.ip.rsplit(".", 1)[0] == b.ip.rsplit(".", 1)[0]
    assert not a.ip.endswith(".1")


def test_a_container_that_exits_reports_its_code_and_keeps_its_output_in_the_cri_log(pod: Pod):
    container_id = pod.run("job", "busybox", command=["sh", "-c", "echo hello; echo oops >&2; exit 3"])
    pod.wait_exited(container_id)
    status = pod.runtime.container_status(container_id)
    assert (status.exit_code, status.reason) == (3, "Error")
    assert status.finished_at >= status.started_at > 0
    lines = pod.log("job").splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["stdout F hello", "stderr F oops"]


def test_a_completed_container_says_completed(pod: Pod):
    container_id = pod.run("ok", "busybox", command=["true"])
    pod.wait_exited(container_id)
    assert pod.runtime.container_status(container_id).reason == "Completed"


def test_command_replaces_the_entrypoint_and_args_the_default_arguments(pod: Pod):
    container_id = pod.run("echo", "kubelab/echo:v1", args=["-text=custom", "-listen=:9090"])
    assert wait_for(lambda: _try_get(f"http://{pod.ip}:9090/")) == "custom\n"
    pod.runtime.stop_container(container_id, 5)


def test_environment_reaches_the_process(pod: Pod):
    container_id = pod.run("env", "busybox", command=["sh", "-c", "echo $GREETING $HOSTNAME"],
                           envs=[KeyValue("GREETING", "hi")])
    pod.wait_exited(container_id)
    assert pod.log("env").splitlines()[0].endswith("stdout F hi pod")


def test_mounts_are_seen_at_their_container_path(pod: Pod, tmp_path: Path):
    config = tmp_path / "config"
    config.mkdir()
    (config / "greeting").write_text("from a volume")
    container_id = pod.run("reader", "busybox", command=["cat", "/etc/config/greeting"],
                           mounts=[Mount("/etc/config", str(config), readonly=True)])
    pod.wait_exited(container_id)
    assert pod.log("reader").splitlines()[0].endswith("stdout F from a volume")


def test_tmp_is_private_to_the_container(pod: Pod):
    a = pod.run("a", "busybox", command=["sh", "-c", "echo mine > /tmp/file; cat /tmp/file"])
    b = pod.run("b", "busybox", command=["sh", "-c", "cat /tmp/file || echo missing"])
    pod.wait_exited(a)
    pod.wait_exited(b)
    assert pod.log("a").splitlines()[0].endswith("mine")
    assert "stdout F missing" in pod.log("b")
    assert not Path("/tmp/file").exists() or Path("/tmp/file").read_text() != "mine\n"


def test_an_unknown_command_is_a_start_error_with_exit_code_128(pod: Pod):
    with pytest.raises(RuntimeServiceError, match=r'exec: "no-such-command": executable file not found in \$PATH'):
        pod.run("bad", "busybox", command=["no-such-command"])
    (container,) = pod.runtime.list_containers(ContainerFilter(state=ContainerState.EXITED))
    status = pod.runtime.container_status(container.id)
    assert (status.exit_code, status.reason) == (128, "StartError")


def test_stop_sends_sigterm_to_the_main_process(pod: Pod):
    container_id = pod.run("web", "kubelab/web:v2")
    wait_for(lambda: _try_get(f"http://{pod.ip}:8080/healthz"))
    pod.runtime.stop_container(container_id, 10)
    status = pod.runtime.container_status(container_id)
    assert (status.exit_code, status.reason) == (0, "Completed")
    assert "received SIGTERM" in pod.log("web")


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_period(pod: Pod):
    container_id = pod.run("hang", "kubelab/hang")
    wait_for(lambda: "starting up" in pod.log("hang"))
    pod.runtime.stop_container(container_id, 0.5)
    status = pod.runtime.container_status(container_id)
    assert (status.exit_code, status.reason) == (137, "Error")
    assert "ignoring it" in pod.log("hang")


def test_what_the_main_process_leaves_behind_dies_with_it(pod: Pod):
    container_id = pod.run("parent", "busybox", command=["sh", "-c", "sleep 300 & echo $! > /tmp/child.pid; exit 0"])
    pod.wait_exited(container_id)
    pidfile = pod.runtime.node_dir / "pods" / "uid-1" / "containers" / container_id[:12] / "tmp" / "child.pid"
    child = int(wait_for(lambda: pidfile.exists() and pidfile.read_text().strip()))
    wait_for(lambda: not pid_alive(child), timeout=5)


def test_over_its_memory_limit_a_container_is_oom_killed(pod: Pod):
    limit = LinuxContainerConfig(LinuxContainerResources(memory_limit_in_bytes=60 * 1024 * 1024))
    container_id = pod.run("hog", "polinux/stress", args=["--vm", "1", "--vm-bytes", "150M", "--vm-hang", "1"],
                           linux=limit)
    pod.wait_exited(container_id, timeout=20)
    status = pod.runtime.container_status(container_id)
    assert (status.exit_code, status.reason) == (137, "OOMKilled")


def test_under_its_memory_limit_a_container_runs_on(pod: Pod):
    limit = LinuxContainerConfig(LinuxContainerResources(memory_limit_in_bytes=200 * 1024 * 1024))
    container_id = pod.run("hog", "polinux/stress", args=["--vm", "1", "--vm-bytes", "20M", "--vm-hang", "1"],
                           linux=limit)
    wait_for(lambda: pod.runtime.memory_usage(container_id) > 20 * 1024 * 1024)
    assert pod.runtime.container_status(container_id).state == ContainerState.RUNNING


def test_exec_sync_runs_in_the_containers_view_of_the_filesystem(pod: Pod):
    container_id = pod.run("nginx", "nginx")
    result = pod.runtime.exec_sync(container_id, ["cat", "/usr/share/nginx/html/index.html"], 5)
    assert result.exit_code == 0 and "Welcome to nginx!" in result.stdout
    failed = pod.runtime.exec_sync(container_id, ["sh", "-c", "echo nope >&2; exit 4"], 5)
    assert (failed.exit_code, failed.stderr) == (4, "nope\n")


def test_exec_sync_times_out(pod: Pod):
    container_id = pod.run("sleeper", "busybox", command=["sleep", "300"])
    with pytest.raises(RuntimeServiceError, match="timed out") as e:
        pod.runtime.exec_sync(container_id, ["sleep", "30"], 0.3)
    assert e.value.code == "DeadlineExceeded"


def test_exec_runs_on_the_callers_descriptors(pod: Pod):
    container_id = pod.run("sleeper", "busybox", command=["sleep", "300"])
    stdin_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe()
    os.write(stdin_w, b"ping\n")
    os.close(stdin_w)
    code = pod.runtime.exec(container_id, ["sh", "-c", "read x; echo got $x; exit 7"], tty=False,
                            stdin=stdin_r, stdout=out_w, stderr=out_w)
    os.close(out_w)
    assert code == 7
    assert os.read(out_r, 100) == b"got ping\n"


def test_exec_in_a_stopped_container_fails(pod: Pod):
    container_id = pod.run("once", "busybox", command=["true"])
    pod.wait_exited(container_id)
    with pytest.raises(RuntimeServiceError, match="not running"):
        pod.runtime.exec_sync(container_id, ["true"], 5)


def test_stopping_a_sandbox_stops_its_containers_and_frees_its_address(runtime):
    pod = Pod(runtime)
    container_id = pod.run("sleeper", "busybox", command=["sleep", "300"])
    pid = runtime.container_status(container_id).pid
    runtime.stop_pod_sandbox(pod.id)
    assert runtime.pod_sandbox_status(pod.id).state == PodSandboxState.NOTREADY
    assert not pid_alive(pid)
    runtime.remove_pod_sandbox(pod.id)
    assert runtime.list_containers() == []
    assert runtime.list_pod_sandbox() == []


def test_labels_select_containers(pod: Pod):
    a = pod.run("a", "busybox", command=["true"], labels={"io.kubernetes.container.name": "a"})
    pod.run("b", "busybox", command=["true"], labels={"io.kubernetes.container.name": "b"})
    found = pod.runtime.list_containers(ContainerFilter(label_selector={"io.kubernetes.container.name": "a"}))
    assert [c.id for c in found] == [a]


def test_shutdown_stops_every_container(tmp_path: Path):
    from kubelet_helpers import test_cidr

    from kubelab.kubelet.process_runtime import ProcessRuntime

    rt = ProcessRuntime(tmp_path / "node", pod_cidr=test_cidr()).start()
    pod = Pod(rt)
    pids = [rt.container_status(pod.run(f"c{i}", "busybox", command=["sleep", "300"])).pid for i in range(3)]
    rt.shutdown(grace=0.5)
    assert not any(pid_alive(pid) for pid in pids)


def test_no_pod_network_until_the_pod_cidr_is_known(tmp_path: Path):
    from kubelet_helpers import test_cidr

    from kubelab.kubelet.process_runtime import ProcessRuntime

    rt = ProcessRuntime(tmp_path / "node").start()
    try:
        network = rt.status().condition("NetworkReady")
        assert network is not None and not network.status
        assert network.reason == "NetworkPluginNotReady"
        with pytest.raises(RuntimeServiceError, match="cni plugin not initialized"):
            Pod(rt)
        rt.update_runtime_config(test_cidr())
        assert rt.status().condition("NetworkReady").status  # type: ignore[union-attr]
        assert Pod(rt).ip
    finally:
        rt.shutdown()
