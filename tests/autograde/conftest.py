"""The sample lab's course, built once per test session."""

from __future__ import annotations

import pytest
from autograde_sample import make_course

from kubelab.autograde.course import Course


@pytest.fixture(scope="session")
def built_course(tmp_path_factory: pytest.TempPathFactory) -> Course:
    """A built sample course; tests must not change it (make their own with ``make_course``)."""
    return make_course(tmp_path_factory.mktemp("sample") / "course")
