"""Shared fixtures: every test runs with its own KUBELAB_HOME, so no test touches ~/.kubelab."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def kubelab_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "kubelab-home"
    monkeypatch.setenv("KUBELAB_HOME", str(home))
    return home
