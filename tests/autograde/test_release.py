"""kubelab course build|check: labs/ generated deterministically, stale or dirty labs named."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from autograde_sample import LAB, REPO, make_course

from kubelab.autograde.course import Course
from kubelab.autograde.release import build, check
from kubelab.course import main as course_main


@pytest.fixture
def course(tmp_path: Path) -> Course:
    return make_course(tmp_path / "course")


def released(course: Course) -> Path:
    return course.release / LAB / f"{LAB}.ipynb"


def test_build_hides_solutions_and_hidden_tests_and_is_deterministic(course: Course) -> None:
    text = released(course).read_text()
    assert "BEGIN SOLUTION" not in text and "min(fitting)" not in text
    assert "HIDDEN TESTS" not in text and "for_all(_case" not in text
    assert "raise NotImplementedError()" in text
    assert not (course.release / LAB / "bugs.yaml").exists()
    nb = nbformat.read(released(course), as_version=4)
    assert all(c.get("outputs") == [] and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    assert build(course) == []
    assert released(course).read_text() == text


def test_check_passes_on_a_fresh_build(course: Course, capsys: pytest.CaptureFixture[str]) -> None:
    assert check(course) == {}
    assert course_main(["--course", str(course.root), "check"]) == 0
    assert "1 labs up to date" in capsys.readouterr().out


def test_check_names_a_lab_whose_source_changed(course: Course, capsys: pytest.CaptureFixture[str]) -> None:
    source = course.source / LAB / f"{LAB}.ipynb"
    nb = nbformat.read(source, as_version=4)
    nb.cells[0].source += "\nOne more sentence."
    nbformat.write(nb, source)
    assert list(check(course)) == [LAB]
    assert course_main(["--course", str(course.root), "check"]) == 1
    err = capsys.readouterr().err
    assert f"{LAB}: out of date; run 'kubelab course build {LAB}'" in err and f"{LAB}.ipynb differs" in err
    assert course_main(["--course", str(course.root), "build", LAB]) == 0
    assert check(course) == {}


def test_check_names_a_notebook_with_outputs(course: Course) -> None:
    for path in (released(course), course.source / LAB / f"{LAB}.ipynb"):
        data = json.loads(path.read_text())
        code = next(c for c in data["cells"] if c["cell_type"] == "code")
        code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "hi\n"}]
        code["execution_count"] = 1
        path.write_text(json.dumps(data, indent=1))
    problems = check(course)[LAB]
    assert any(p.startswith("solutions:") and "has outputs" in p for p in problems)
    assert any(p.startswith("labs:") and "differs" in p for p in problems)


def test_check_names_a_released_lab_without_source(course: Course) -> None:
    (course.release / "99-orphan").mkdir()
    assert check(course) == {"99-orphan": ["labs/99-orphan has no source in solutions/"]}


def test_unknown_lab_is_a_clear_error(course: Course, capsys: pytest.CaptureFixture[str]) -> None:
    assert course_main(["--course", str(course.root), "build", "42-nope"]) == 1
    assert "no lab '42-nope'" in capsys.readouterr().err


def test_the_repository_labs_are_up_to_date() -> None:
    """The committed labs/ matches solutions/ (this is what 'kubelab course check' guards in CI)."""
    assert check(Course(REPO)) == {}
