"""Shared fixtures: every test runs with its own KUBELAB_HOME, so no test touches ~/.kubelab."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kubelab.client import Client
from kubelab.cluster import Cluster


def pytest_configure(config: pytest.Config) -> None:
    """Refuse to run when two test modules share a file name: pytest imports them as one module."""
    seen: dict[str, Path] = {}
    for path in sorted(Path(__file__).parent.rglob("test_*.py")):
        if path.name in seen:
            raise pytest.UsageError(f"two test modules are called {path.name}: {seen[path.name]} and {path}; "
                                    "rename one (the tests directories are not packages)")
        seen[path.name] = path


@pytest.fixture(autouse=True)
def kubelab_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "kubelab-home"
    monkeypatch.setenv("KUBELAB_HOME", str(home))
    return home


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A bare embedded cluster (API server only) shared by a module's tests; modules needing more define their own."""
    with Cluster() as c:
        yield c


@pytest.fixture(scope="module")
def client(cluster: Cluster) -> Client:
    return Client(cluster.api_client())
