"""``kubelab up / down / status / kubeconfig`` as a user runs them, in real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kubelab.cluster import kubectl_binary
from kubelab.process import pid_alive


def kubelab(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "kubelab", *args], capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(f"kubelab {' '.join(args)} exited {result.returncode}:\n{result.stderr}{result.stdout}")
    return result


def kubectl(kubeconfig: str, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [kubectl_binary(), *args], capture_output=True, text=True, input=input, timeout=60,
        env=dict(os.environ, KUBECONFIG=kubeconfig),
    )


def test_up_detach_status_down_and_objects_survive_a_restart_with_etcd():
    kubelab("up", "--name", "persist", "--detach")
    try:
        config = kubelab("kubeconfig", "--name", "persist").stdout.strip()
        assert kubelab("kubeconfig", "--name", "persist", "--export").stdout.strip() == f"export KUBECONFIG={config}"
        created = kubectl(config, "create", "configmap", "keep-me", "--from-literal=a=1")
        assert created.returncode == 0, created.stderr
        status = kubelab("status").stdout
        assert "persist: running at https://127.0.0.1:" in status
        assert "apiserver" in status and "etcd" in status
        again = kubelab("up", "--name", "persist", "--detach", check=False)
        assert again.returncode == 1 and "already running" in again.stderr
    finally:
        kubelab("down", "--name", "persist")
    assert "persist: stopped" in kubelab("status").stdout

    kubelab("up", "--name", "persist", "--detach")
    try:
        config = kubelab("kubeconfig", "--name", "persist").stdout.strip()
        got = kubectl(config, "get", "configmap", "keep-me", "-o", "jsonpath={.data.a}")
        assert got.returncode == 0, got.stderr
        assert got.stdout == "1"
    finally:
        kubelab("down", "--name", "persist")


def _state(name: str) -> dict:
    return json.loads((Path(os.environ["KUBELAB_HOME"]) / "clusters" / name / "state.json").read_text())


def _running(pids: list[int]) -> list[int]:
    return [pid for pid in pids if pid_alive(pid)]


def _wait_gone(pids: list[int], timeout: float = 10) -> list[int]:
    deadline = time.monotonic() + timeout
    while _running(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _running(pids)


def test_down_leaves_no_process_behind():
    kubelab("up", "--name", "tidy", "--store", "memory", "--detach")
    state = _state("tidy")
    pids = [state["supervisor"], *state["processes"].values()]
    assert _running(pids) == pids
    kubelab("down", "--name", "tidy")
    assert _wait_gone(pids) == []


def _processes_running(marker: str) -> list[int]:
    """The processes whose command line holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
        except OSError:
            continue
    return [pid for pid in found if pid_alive(pid)]


def test_killing_the_supervisor_takes_its_processes_and_its_pods_containers_with_it():
    kubelab("up", "--name", "crash", "--store", "etcd", "--detach")
    state = _state("crash")
    marker = f"sleep {3000 + os.getpid() % 1000}"
    containers: list[int] = []
    try:
        config = kubelab("kubeconfig", "--name", "crash").stdout.strip()
        run = kubectl(config, "run", "sleeper", "--image=busybox", "--", "sh", "-c", marker)
        assert run.returncode == 0, run.stderr
        ready = kubectl(config, "wait", "--for=condition=Ready", "pod/sleeper", "--timeout=60s")
        assert ready.returncode == 0, ready.stderr
        containers = _processes_running(marker)
        assert containers, "the pod's container is not running"
    finally:
        os.kill(state["supervisor"], signal.SIGKILL)
    assert _wait_gone(list(state["processes"].values()) + containers) == []
    assert "crash: stopped" in kubelab("status").stdout


@pytest.mark.parametrize("args, message", [
    (["up", "--name", "Bad_Name"], "invalid cluster name"),
    (["kubeconfig", "--name", "never-started"], "has no kubeconfig yet"),
    (["frobnicate"], "unknown command"),
])
def test_bad_invocations_say_what_is_wrong(args, message):
    result = kubelab(*args, check=False)
    assert result.returncode != 0
    assert message in result.stderr
