"""The sample lab the autograder's tests use: its course, built in a directory of a test's choosing."""

from __future__ import annotations

import shutil
from pathlib import Path

from kubelab.autograde.course import Course
from kubelab.autograde.release import build

FIXTURE = Path(__file__).parent / "fixtures" / "course"
REPO = Path(__file__).resolve().parents[2]
LAB = "00-sample"


def make_course(root: Path) -> Course:
    """A course in ``root``: the sample lab's sources, the repository's nbgrader config, built labs."""
    shutil.copytree(FIXTURE, root)
    shutil.copytree(REPO / "autograder", root / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    course = Course(root)
    build(course)
    return course
