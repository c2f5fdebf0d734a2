"""Helpers for the kubelet tests: waiting, checking processes, running containers in a runtime."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from pathlib import Path

from kubelab.kubelet.process_runtime import ProcessRuntime
from kubelab.kubelet.runtime import (
    ContainerConfig,
    ContainerMetadata,
    ContainerState,
    ImageSpec,
    PodSandboxConfig,
    PodSandboxMetadata,
)


def test_cidr() -> str:
    """A pod CIDR of its own for each test, outside every cluster's address plan (tests run in parallel)."""
    return f"127.200.{random.randint(0, 255)}.0/24"


test_cidr.__test__ = False  # type: ignore[attr-defined]


def wait_for(condition: Callable[[], object], timeout: float = 10.0, interval: float = 0.02) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class Pod:
    """A sandbox in a runtime, and a way to run containers in it."""

    def __init__(self, runtime: ProcessRuntime, name: str = "pod", uid: str = "uid-1") -> None:
        self.runtime = runtime
        self.config = PodSandboxConfig(
            PodSandboxMetadata(name, uid, "default"),
            hostname=name,
            log_directory=str(runtime.node_dir / "pods" / uid / "logs"),
        )
        self.id = runtime.run_pod_sandbox(self.config)
        self.ip = runtime.pod_sandbox_status(self.id).ip

    def run(self, name: str, image: str, *, start: bool = True, attempt: int = 0, **config: object) -> str:
        self.runtime.pull_image(image)
        container = ContainerConfig(
            ContainerMetadata(name, attempt), ImageSpec(image), log_path=f"{name}/{attempt}.log",
            **config,  # type: ignore[arg-type]
        )
        container_id = self.runtime.create_container(self.id, container, self.config)
        if start:
            self.runtime.start_container(container_id)
        return container_id

    def log(self, name: str, attempt: int = 0) -> str:
        path = Path(self.config.log_directory) / name / f"{attempt}.log"
        return path.read_text() if path.exists() else ""

    def wait_exited(self, container_id: str, timeout: float = 10.0) -> object:
        return wait_for(
            lambda: self.runtime.container_status(container_id).state == ContainerState.EXITED, timeout
        )
