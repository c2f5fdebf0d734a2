"""Generate ``labs/`` from ``solutions/`` with nbgrader, byte-for-byte the same on every run.

A released notebook keeps no outputs, no execution counts and no run-dependent metadata,
so ``labs/`` diffs show only what an author changed. :func:`check` says which labs are out
of date or hold outputs.
"""

from __future__ import annotations

import filecmp
import shutil
import tempfile
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from kubelab.autograde.course import Course, CourseError, nbgrader_environment

NOTEBOOK_METADATA_KEPT = ("kernelspec", "language_info")


def normalized(nb: NotebookNode) -> NotebookNode:
    """``nb`` without outputs, execution counts or run-dependent metadata."""
    nb.metadata = {k: nb.metadata[k] for k in NOTEBOOK_METADATA_KEPT if k in nb.metadata}
    if "language_info" in nb.metadata:
        nb.metadata["language_info"] = {"name": nb.metadata["language_info"].get("name", "python")}
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


def write_notebook(nb: NotebookNode, path: Path) -> None:
    """Write ``nb`` the one way this project writes notebooks: nbformat's JSON plus a final newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nbformat.writes(nb) + "\n")


def generate(course: Course, lab: str, destination: Path, gradebook: Path | None = None) -> Path:
    """Run ``nbgrader generate_assignment`` for ``lab`` into ``destination/lab``, normalized; return that dir.

    The lab is recorded in ``gradebook`` (default: a throw-away one).
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    with tempfile.TemporaryDirectory(prefix="kubelab-build-") as scratch:
        db = gradebook or Path(scratch) / "gradebook.db"
        config = course.config(CourseDirectory={"release_directory": str(destination), "db_url": f"sqlite:///{db}"})
        with nbgrader_environment():
            api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
            result = api.generate_assignment(lab, force=True, create=True)
    if not result["success"]:
        raise CourseError(f"nbgrader could not generate lab {lab}:\n{result.get('error') or result.get('log')}")
    out = destination / lab
    for path in sorted(out.glob("*.ipynb")):
        write_notebook(normalized(nbformat.read(path, as_version=4)), path)
    return out


def build(course: Course, labs: list[str] | None = None) -> list[str]:
    """Regenerate ``labs/<lab>/`` for each of ``labs`` (default: all); return the labs whose files changed."""
    changed = []
    for lab in [course.lab(name) for name in labs] if labs else course.labs():
        with tempfile.TemporaryDirectory(prefix="kubelab-release-") as tmp:
            fresh = generate(course, lab, Path(tmp))
            target = course.release / lab
            if _differences(fresh, target):
                changed.append(lab)
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(fresh, target)
    return changed


def _differences(fresh: Path, committed: Path) -> list[str]:
    if not committed.is_dir():
        return [f"{committed} is missing"]
    comparison = filecmp.dircmp(fresh, committed, ignore=[])
    problems: list[str] = []

    def walk(cmp: filecmp.dircmp[str], prefix: str) -> None:
        problems.extend(f"{prefix}{name} is missing" for name in cmp.left_only)
        problems.extend(f"{prefix}{name} should not be there" for name in cmp.right_only)
        _, mismatch, errors = filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files, shallow=False)
        problems.extend(f"{prefix}{name} differs" for name in mismatch + errors)
        for name, sub in cmp.subdirs.items():
            walk(sub, f"{prefix}{name}/")

    walk(comparison, "")
    return problems


def _outputs(path: Path) -> list[str]:
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as e:  # noqa: BLE001 - any unreadable notebook is reported, not raised
        return [f"{path.name} is not a readable notebook: {e}"]
    problems = []
    for number, cell in enumerate(nb.cells, 1):
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None):
            problems.append(f"{path.name} cell {number} has outputs or an execution count")
    return problems


def check(course: Course, labs: list[str] | None = None) -> dict[str, list[str]]:
    """What is wrong with each lab: ``{lab: [problem, ...]}``, empty when ``labs/`` is up to date."""
    report: dict[str, list[str]] = {}
    names = [course.lab(name) for name in labs] if labs else course.labs()
    for lab in names:
        problems = [f"solutions: {p}" for path in sorted((course.source / lab).glob("*.ipynb")) for p in _outputs(path)]
        with tempfile.TemporaryDirectory(prefix="kubelab-check-") as tmp:
            fresh = generate(course, lab, Path(tmp))
            problems += [f"labs: {p}" for p in _differences(fresh, course.release / lab)]
        if problems:
            report[lab] = problems
    if not labs and course.release.is_dir():
        for orphan in sorted(set(p.name for p in course.release.iterdir() if p.is_dir()) - set(names)):
            report[orphan] = [f"labs/{orphan} has no source in {course.source.name}/"]
    return report
