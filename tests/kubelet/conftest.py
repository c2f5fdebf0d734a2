"""Fixtures for the kubelet tests: a started ProcessRuntime on its own pod CIDR, and a pod in it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubelet_helpers import Pod, test_cidr

from kubelab.kubelet.process_runtime import ProcessRuntime


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[ProcessRuntime]:
    rt = ProcessRuntime(tmp_path / "node", pod_cidr=test_cidr()).start()
    yield rt
    rt.shutdown(grace=0.5)


@pytest.fixture
def pod(runtime: ProcessRuntime) -> Pod:
    return Pod(runtime)
