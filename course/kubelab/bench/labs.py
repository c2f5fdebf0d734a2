"""``kubelab bench labs``: how long each lab's solution takes to run, and to autograde.

Targets (issue 5) on a 2-core machine: a solution notebook runs top to bottom in a fresh
kernel in ≤ 3 min; autograding one submission of one lab (``kubelab grade``, sandboxed)
takes ≤ 60 s. The notebook runs as a learner runs it (nbclient, in its lab's directory);
the autograde grades that solution alone, on a copy of the course, and its time covers
every step of :func:`~kubelab.autograde.pipeline.grade_class` (feedback aside).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import nbformat

from kubelab.autograde.bite import copy_course
from kubelab.autograde.course import Course, CourseError
from kubelab.autograde.pipeline import grade_class
from kubelab.autograde.release import build, write_notebook
from kubelab.bench import print_table

NOTEBOOK_TARGET = 180.0
AUTOGRADE_TARGET = 60.0


def run_notebook(path: Path, cell_timeout: float = 300.0) -> tuple[float, list[str]]:
    """Run the notebook at ``path`` top to bottom in a fresh kernel: its seconds, and the cells that failed."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    started = time.monotonic()
    client.execute()
    seconds = time.monotonic() - started
    failed = []
    for index, cell in enumerate(nb.cells):
        if any(output.output_type == "error" for output in cell.get("outputs", [])):
            failed.append(cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index}")
    return seconds, failed


def autograde_solution(course: Course, lab: str) -> tuple[float, float, float]:
    """Autograde the lab's solution as the only submission: ``(seconds, score, max_score)``."""
    with tempfile.TemporaryDirectory(prefix="kubelab-bench-labs-") as tmp:
        work = copy_course(course, Path(tmp) / "course")
        build(work, [lab])
        solution = next((work.source / lab).glob("*.ipynb"))
        write_notebook(nbformat.read(solution, as_version=4), Path(tmp) / "submissions" / "solution.ipynb")
        report = grade_class(work, lab, Path(tmp) / "submissions", jobs=1, feedback=False)
    (result,) = report.students
    if result.error:
        raise CourseError(f"{lab}: autograding the solution failed: {result.error}")
    return report.seconds, result.score, result.max_score


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kubelab bench labs", description=__doc__.splitlines()[0])
    parser.add_argument("labs", nargs="*", help="the labs to measure (default: every lab in solutions/)")
    parser.add_argument("--course", type=Path, help="the course directory (default: the one around this directory)")
    args = parser.parse_args(argv)
    course = Course(args.course.resolve()) if args.course else Course.find()
    rows = []
    for lab in [course.lab(name) for name in args.labs] or course.labs():
        notebook = next((course.source / lab).glob("*.ipynb"))
        run_seconds, failed = run_notebook(notebook)
        grade_seconds, score, max_score = autograde_solution(course, lab)
        met = run_seconds <= NOTEBOOK_TARGET and grade_seconds <= AUTOGRADE_TARGET and not failed
        rows.append([lab, run_seconds, f"≤ {NOTEBOOK_TARGET:.0f}", grade_seconds, f"≤ {AUTOGRADE_TARGET:.0f}",
                     f"{score:g}/{max_score:g}", ", ".join(failed) or "-", "ok" if met else "MISSED",
                     f"{os.getloadavg()[0]:.1f}"])
    print_table(["lab", "notebook (s)", "target", "autograde (s)", "target", "score", "failed cells", "", "load avg"],
                rows, "Each lab's solution: run top to bottom in a fresh kernel, then autograded alone")
    return 0
