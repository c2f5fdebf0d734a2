"""The runtime as the node's daemon: the CRI over its socket, and no container outliving it."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest
from kubelet_helpers import pid_alive, test_cidr, wait_for

from kubelab.kubelet import runtime_daemon
from kubelab.kubelet.cri_socket import RemoteRuntime, socket_path
from kubelab.kubelet.runtime import (
    ContainerConfig,
    ContainerMetadata,
    ContainerState,
    ImageSpec,
    PodSandboxConfig,
    PodSandboxMetadata,
    RuntimeServiceError,
)
from kubelab.paths import ClusterDir
from kubelab.process import ManagedProcess


@pytest.fixture
def cluster_dir(tmp_path: Path) -> ClusterDir:
    cluster = ClusterDir(tmp_path / "cluster")
    cluster.create()
    return cluster


def start_daemon(cluster: ClusterDir, node: str = "node-1") -> tuple[ManagedProcess, RemoteRuntime]:
    process = ManagedProcess("container-runtime", runtime_daemon.argv(cluster, node, test_cidr()),
                             cluster.log(f"container-runtime-{node}"))
    info = process.start()
    return process, RemoteRuntime(Path(info["socket"]))


def run(runtime: RemoteRuntime, command: list[str], image: str = "busybox", name: str = "c",
        log_directory: Path | None = None) -> tuple[str, PodSandboxConfig]:
    sandbox = PodSandboxConfig(PodSandboxMetadata("pod", "uid-1", "default"), log_directory=str(log_directory or ""))
    sandbox_id = runtime.run_pod_sandbox(sandbox)
    runtime.pull_image(image)
    config = ContainerConfig(ContainerMetadata(name), ImageSpec(image), command=command, log_path=f"{name}/0.log")
    container_id = runtime.create_container(sandbox_id, config, sandbox)
    runtime.start_container(container_id)
    return container_id, sandbox


def test_the_cri_works_over_the_socket(cluster_dir):
    process, runtime = start_daemon(cluster_dir)
    try:
        assert runtime.version().runtime_name == "kubelab"
        container_id, _ = run(runtime, ["sleep", "300"])
        status = runtime.container_status(container_id)
        assert status.state == ContainerState.RUNNING and status.metadata.name == "c"
        assert runtime.exec_sync(container_id, ["echo", "hi"], 5).stdout == "hi\n"
        out_r, out_w = os.pipe()
        assert runtime.exec(container_id, ["sh", "-c", "echo out; exit 3"], tty=False, stdin=None,
                            stdout=out_w, stderr=None) == 3
        os.close(out_w)
        assert os.read(out_r, 100) == b"out\n"
        with pytest.raises(RuntimeServiceError) as e:
            runtime.container_status("nope")
        assert e.value.code == "NotFound"
        assert str(e.value).startswith("rpc error: code = NotFound desc = ")
        with pytest.raises(RuntimeServiceError, match="pull access denied"):
            runtime.pull_image("no-such-image")
    finally:
        process.stop()


def test_an_unreachable_runtime_is_unavailable(tmp_path):
    with pytest.raises(RuntimeServiceError) as e:
        RemoteRuntime(tmp_path / "missing.sock").version()
    assert e.value.code == "Unavailable"
    assert "no such file or directory" in e.value.message


def test_a_long_node_directory_still_gets_a_usable_socket(tmp_path):
    deep = tmp_path / ("x" * 60) / ("y" * 60)
    path = socket_path(deep)
    assert len(str(path)) <= 100
    assert path == socket_path(deep)


def test_sigterm_stops_the_containers_gracefully(cluster_dir, tmp_path):
    process, runtime = start_daemon(cluster_dir)
    container_id, _ = run(runtime, [], image="kubelab/web:v1", log_directory=tmp_path / "logs")
    pid = runtime.container_status(container_id).pid
    wait_for(lambda: "listening" in (tmp_path / "logs" / "c" / "0.log").read_text())
    process.stop()
    assert not pid_alive(pid)
    assert "received SIGTERM, shutting down" in (tmp_path / "logs" / "c" / "0.log").read_text()


def test_a_killed_runtime_takes_its_containers_with_it(cluster_dir):
    process, runtime = start_daemon(cluster_dir)
    container_id, _ = run(runtime, ["sh", "-c", "sleep 300 & sleep 300"])
    pid = runtime.container_status(container_id).pid
    process.kill()
    wait_for(lambda: not pid_alive(pid), timeout=5)


def test_a_process_that_left_its_group_dies_too(cluster_dir):
    process, runtime = start_daemon(cluster_dir)
    escape = textwrap.dedent(
        """
        import os, sys, time
        if os.fork() == 0:
            os.setsid()
            print(os.getpid(), flush=True)
            time.sleep(300)
        time.sleep(300)
        """
    )
    container_id, _ = run(runtime, ["python", "-c", escape], image="python:3.12")
    node = cluster_dir.node("node-1")
    escaped = int(wait_for(lambda: _escaped_pid(runtime, container_id)))
    assert os.getpgid(escaped) != runtime.container_status(container_id).pid
    process.kill()
    wait_for(lambda: not pid_alive(escaped), timeout=5)
    assert node.is_dir()


def _escaped_pid(runtime: RemoteRuntime, container_id: str) -> int | None:
    main = runtime.container_status(container_id).pid
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != main:
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == main and int(fields[3]) == int(entry):
                return int(entry)
    return None


def test_a_killed_reaper_is_replaced(cluster_dir):
    process, runtime = start_daemon(cluster_dir)
    container_id, _ = run(runtime, ["sleep", "300"])
    pid = runtime.container_status(container_id).pid
    reaper = _reaper_of(process.pid)
    os.kill(reaper, signal.SIGKILL)
    wait_for(lambda: _reaper_of(process.pid) not in (None, reaper))
    process.kill()
    wait_for(lambda: not pid_alive(pid), timeout=5)


def _reaper_of(runtime_pid: int | None) -> int | None:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == runtime_pid and any(arg.endswith(b"reaper.py") for arg in cmdline) and pid_alive(int(entry)):
            return int(entry)
    return None


def test_containers_die_when_the_runtimes_supervisor_dies(cluster_dir, tmp_path):
    # A supervisor (as 'kubelab up' or a notebook kernel) starts the runtime, then is SIGKILLed.
    pidfile = tmp_path / "container.pid"
    supervisor = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from kubelab.kubelet import runtime_daemon
        from kubelab.kubelet.cri_socket import RemoteRuntime
        from kubelab.kubelet.runtime import *
        from kubelab.paths import ClusterDir
        from kubelab.process import ManagedProcess, report_ready
        cluster = ClusterDir(Path({str(cluster_dir.root)!r}))
        p = ManagedProcess("rt", runtime_daemon.argv(cluster, "node-1", "{test_cidr()}"), cluster.log("rt"))
        rt = RemoteRuntime(Path(p.start()["socket"]))
        sandbox = PodSandboxConfig(PodSandboxMetadata("pod", "uid-1", "default"))
        sid = rt.run_pod_sandbox(sandbox)
        rt.pull_image("busybox")
        cid = rt.create_container(sid, ContainerConfig(ContainerMetadata("c"), ImageSpec("busybox"),
                                  command=["sleep", "300"]), sandbox)
        rt.start_container(cid)
        Path({str(pidfile)!r}).write_text(str(rt.container_status(cid).pid))
        report_ready()
        import time
        time.sleep(300)
        """
    )
    middle = ManagedProcess("supervisor", [sys.executable, "-c", supervisor], tmp_path / "supervisor.log")
    middle.start()
    container = int(pidfile.read_text())
    assert pid_alive(container)
    middle.kill()
    wait_for(lambda: not pid_alive(container), timeout=5)
