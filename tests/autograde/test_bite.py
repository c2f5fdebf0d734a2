"""Every lab's tests bite: run over each lab in solutions/ and over the sample lab."""

from __future__ import annotations

from pathlib import Path

import pytest
from autograde_sample import LAB, REPO, make_course

from kubelab.autograde.bite import check_bites, load_bugs
from kubelab.autograde.course import Course, CourseError

pytestmark = pytest.mark.slow

REPO_LABS = Course(REPO).labs()


def test_the_sample_lab_bites(tmp_path: Path) -> None:
    course = make_course(tmp_path / "course")
    result = check_bites(course, LAB, cell_timeout=20)
    assert result.problems == []
    assert result.plain_score == (9.0, 9.0)
    assert len(result.report.students) == 2 + len(load_bugs(course, LAB))


def test_a_bug_no_test_catches_is_reported(tmp_path: Path) -> None:
    course = make_course(tmp_path / "course")
    bugs = course.source / LAB / "bugs.yaml"
    bugs.write_text(bugs.read_text().replace("replace: 'max(fitting)[1]'", "replace: 'min(fitting)[1] '"))
    result = check_bites(course, LAB, cell_timeout=20)
    assert result.problems == ["bug-pick_node-1: no test of task 'pick_node' catches it (find 'min(fitting)[1]')"]


def test_bug_specs_are_checked(tmp_path: Path) -> None:
    course = make_course(tmp_path / "course")
    bugs = course.source / LAB / "bugs.yaml"
    bugs.write_text("pick_node:\n  find: 'not in the cell'\n  replace: 'x'\n")
    with pytest.raises(CourseError, match="its 'find' text occurs 0 times"):
        load_bugs(course, LAB)
    bugs.write_text("pick_node:\n  find: 'min(fitting)[1]'\n  replace: 'x'\n")
    with pytest.raises(CourseError, match="plants no bug in parse_quantity, selector_matches, fetch"):
        load_bugs(course, LAB)


# Each lab runs its notebook once per planted bug, every run with a cluster of its own.
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("lab", REPO_LABS)
def test_repository_lab_bites(lab: str) -> None:
    result = check_bites(Course(REPO), lab)
    assert result.problems == [], "\n".join(result.problems)
