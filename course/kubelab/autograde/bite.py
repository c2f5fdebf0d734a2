"""Prove that a lab's tests bite: the solution passes, the released lab fails, each planted bug is caught.

For a lab in ``solutions/LAB/``:

a. the solution notebook scores full marks under a plain ``nbgrader autograde``, and
   under :func:`kubelab.autograde.pipeline.grade_class`;
b. the released notebook, unsolved, scores zero on every graded cell;
c. for each planted bug in ``solutions/LAB/bugs.yaml``, the solution with that one bug
   loses points in its own task and in no other.

``bugs.yaml`` maps each task (the ``grade_id`` of its solution cell) to a bug, or a list of
bugs; a bug is a ``find`` text that occurs exactly once in that solution cell and the
``replace`` text put in its place::

    parse_quantity:
      find: "return int(number) * UNITS[suffix]"
      replace: "return int(number) * 1000"

Every task must have at least one bug. Everything runs on a copy of the course.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml
from nbformat import NotebookNode

from kubelab.autograde import settings
from kubelab.autograde.course import Course, CourseError, nbgrader_environment
from kubelab.autograde.pipeline import ClassReport, grade_class
from kubelab.autograde.release import build, write_notebook
from kubelab.autograde.tasks import tasks


@dataclass(frozen=True)
class Bug:
    """One planted bug: ``find`` replaced by ``replace`` in the solution cell of ``task``."""

    task: str
    find: str
    replace: str
    number: int = 1

    @property
    def name(self) -> str:
        return f"bug-{self.task}-{self.number}"


def load_bugs(course: Course, lab: str) -> list[Bug]:
    """The bugs declared in ``solutions/LAB/bugs.yaml``, checked against the lab's tasks."""
    path = course.source / lab / settings.BUGS_FILE
    if not path.is_file():
        raise CourseError(f"{lab}: {path} is missing; every lab declares one planted bug per task there")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise CourseError(f"{lab}: {path.name} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise CourseError(f"{lab}: {path.name} must map each task's grade_id to a bug")
    solution = _solution(course, lab)
    cells = _solution_cells(solution)
    lab_tasks = tasks(solution)
    bugs: list[Bug] = []
    for task, entries in data.items():
        if task not in lab_tasks:
            raise CourseError(f"{lab}: {path.name} names {task!r}, which is not a task; the tasks are {', '.join(lab_tasks)}")
        for number, entry in enumerate(entries if isinstance(entries, list) else [entries], 1):
            if not isinstance(entry, dict) or not isinstance(entry.get("find"), str) or not isinstance(entry.get("replace"), str):
                raise CourseError(f"{lab}: bug {number} of {task!r} needs a 'find' and a 'replace' text")
            count = cells[task].source.count(entry["find"])
            if count != 1:
                raise CourseError(
                    f"{lab}: bug {number} of {task!r}: its 'find' text occurs {count} times in the solution cell, not once"
                )
            bugs.append(Bug(task, entry["find"], entry["replace"], number))
    missing = [task for task in lab_tasks if task not in data]
    if missing:
        raise CourseError(f"{lab}: {path.name} plants no bug in {', '.join(missing)}")
    return bugs


def _solution(course: Course, lab: str) -> NotebookNode:
    notebooks = sorted((course.source / lab).glob("*.ipynb"))
    if len(notebooks) != 1:
        raise CourseError(f"{lab}: a lab is one notebook, found {len(notebooks)}")
    return nbformat.read(notebooks[0], as_version=4)


def _solution_cells(nb: NotebookNode) -> dict[str, NotebookNode]:
    return {
        c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")
    }


def planted(nb: NotebookNode, bug: Bug) -> NotebookNode:
    """A copy of the solution ``nb`` with ``bug`` in it."""
    copy = nbformat.from_dict(nb)
    cell = _solution_cells(copy)[bug.task]
    cell.source = cell.source.replace(bug.find, bug.replace, 1)
    return copy


def copy_course(course: Course, destination: Path) -> Course:
    """A copy of the course's sources, released labs and config in ``destination``."""
    for name in (settings.SOURCE, settings.RELEASE, "autograder"):
        if (course.root / name).is_dir():
            shutil.copytree(course.root / name, destination / name, ignore=shutil.ignore_patterns("gradebook.db"))
    return Course(destination)


def plain_nbgrader_score(course: Course, lab: str, notebook: NotebookNode) -> tuple[float, float]:
    """``(score, max_score)`` of ``notebook`` under an unmodified ``nbgrader autograde``."""
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from kubelab.autograde.release import generate

    name = next((course.source / lab).glob("*.ipynb")).stem
    with tempfile.TemporaryDirectory(prefix="kubelab-release-") as tmp:
        generate(course, lab, Path(tmp), gradebook=course.gradebook)
    write_notebook(notebook, course.root / settings.SUBMITTED / "plain-nbgrader" / lab / f"{name}.ipynb")
    config = course.config()
    with nbgrader_environment():
        api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
        result = api.autograde(lab, "plain-nbgrader", force=True, create=True)
        if not result["success"]:
            raise AssertionError(f"{lab}: nbgrader autograde failed on the solution:\n{result.get('error') or result['log']}")
    with Gradebook(f"sqlite:///{course.gradebook}") as gb:
        submission = gb.find_submission(lab, "plain-nbgrader")
        return float(submission.score), float(submission.max_score)


@dataclass
class BiteReport:
    """What the three checks found; ``problems`` is empty when the lab's tests bite."""

    lab: str
    problems: list[str]
    plain_score: tuple[float, float]
    report: ClassReport


def check_bites(course: Course, lab: str, *, jobs: int = 2, cell_timeout: int | None = None) -> BiteReport:
    """Run checks a, b and c on a copy of ``course`` and say what failed."""
    bugs = load_bugs(course, lab)
    solution = _solution(course, lab)
    with tempfile.TemporaryDirectory(prefix="kubelab-bite-") as tmp:
        work = copy_course(course, Path(tmp) / "course")
        build(work, [lab])
        name = next((work.source / lab).glob("*.ipynb")).stem
        released = nbformat.read(work.release / lab / f"{name}.ipynb", as_version=4)
        plain = plain_nbgrader_score(work, lab, solution)
        submissions = Path(tmp) / "submissions"
        write_notebook(solution, submissions / "solution.ipynb")
        write_notebook(released, submissions / "released.ipynb")
        for bug in bugs:
            write_notebook(planted(solution, bug), submissions / f"{bug.name}.ipynb")
        report = grade_class(work, lab, submissions, jobs=jobs, cell_timeout=cell_timeout, feedback=False)
    problems: list[str] = []
    if plain[0] != plain[1]:
        problems.append(f"the solution scores {plain[0]:g} of {plain[1]:g} under plain nbgrader autograde")
    results = report.by_student()
    for student in results.values():
        if student.error or student.tampering:
            problems.append(f"{student.student}: {student.error or student.tampering}")
    good = results["solution"]
    if good.score != good.max_score:
        problems.append(f"the solution scores {good.score:g} of {good.max_score:g}: {good.cells}")
    scored = {cell: value for cell, value in results["released"].cells.items() if value}
    if scored:
        problems.append(f"the released notebook, unsolved, scores points in {scored}")
    for bug in bugs:
        buggy = results[bug.name]
        if buggy.tasks.get(bug.task, 0.0) >= report.max_tasks[bug.task]:
            problems.append(f"{bug.name}: no test of task {bug.task!r} catches it (find {bug.find!r})")
        hurt = {t: v for t, v in buggy.tasks.items() if t != bug.task and v < report.max_tasks[t]}
        if hurt:
            problems.append(f"{bug.name}: it also costs points in other tasks: {hurt}")
    return BiteReport(lab, problems, plain, report)
