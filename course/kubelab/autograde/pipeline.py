"""Grade a whole class: ``kubelab grade LAB SUBMISSIONS [--jobs N]``, or :func:`grade_class`.

For each student, in this order:

1. **collect** (serial): read the notebook, repair its nbgrader cells
   (:mod:`kubelab.autograde.submission`), store it in ``submitted/<student>/<lab>/``;
2. **sanitize** (serial): nbgrader's own sanitizing preprocessors put the locked and test
   cells, hidden tests included, back from the gradebook;
3. **execute** (in parallel, ``--jobs`` at a time): a worker process per submission runs it
   in a sandboxed kernel (:mod:`kubelab.autograde.execute`, :mod:`kubelab.autograde.sandbox`)
   in a throw-away directory; no worker opens the gradebook, no kernel can read it;
4. **score** (serial, as each worker ends): nbgrader's ``autograde`` with the executed
   notebook replayed in place of its ``Execute`` step, so the scores come from nbgrader's
   own ``SaveAutoGrades``, computed outside the kernel, written by one process at a time;
5. **feedback**: nbgrader's ``generate_feedback`` with hidden tests and their output removed.

Then a CSV of every student's score, per task, with what went wrong where it did.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode
from traitlets import Dict

from kubelab.autograde import settings
from kubelab.autograde.course import Course, CourseError, nbgrader_environment
from kubelab.autograde.release import generate
from kubelab.autograde.sandbox import Limits, Policy, choose_uid, readable_paths, remove_cgroup
from kubelab.autograde.submission import SubmissionError, read, repair
from kubelab.autograde.tasks import tasks

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
DEFAULT_SUBMISSION_TIMEOUT = 600


@dataclass
class StudentResult:
    """One student's grade for one lab, and anything that went wrong on the way."""

    student: str
    score: float = 0.0
    max_score: float = 0.0
    tasks: dict[str, float] = field(default_factory=dict)
    cells: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    tampering: list[str] = field(default_factory=list)
    sandbox: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0
    window: tuple[float, float] = (0.0, 0.0)  # when its run started and ended (time.monotonic)
    feedback: Path | None = None

    @property
    def status(self) -> str:
        if self.tampering:
            return "tampered"
        return "error" if self.error else "ok"


@dataclass
class ClassReport:
    """The grades of one lab for a class."""

    lab: str
    students: list[StudentResult]
    max_tasks: dict[str, float]
    seconds: float
    csv: Path | None = None

    def by_student(self) -> dict[str, StudentResult]:
        return {s.student: s for s in self.students}

    def write_csv(self, path: Path) -> Path:
        """One row per student: total, each task's score, status and what went wrong."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["student", "score", "max_score", *self.max_tasks, "status", "error", "seconds"])
            writer.writerow(["(max)", "", sum(self.max_tasks.values()), *self.max_tasks.values(), "", "", ""])
            for s in self.students:
                problem = "; ".join(filter(None, [s.error, *s.tampering]))
                writer.writerow(
                    [s.student, s.score, s.max_score, *(s.tasks.get(t, 0.0) for t in self.max_tasks), s.status, problem, s.seconds]
                )
        self.csv = path
        return path


@dataclass
class _Job:
    student: str
    notebook: str
    directory: Path
    deadline: float = 0.0
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    finished: bool = False
    ended: float = 0.0

    @property
    def cgroup(self) -> str:
        return f"kubelab-{self.directory.parent.name}-{self.directory.name}"

    @property
    def job_dir(self) -> Path:
        return self.directory / "job"


def _replay_class() -> type:
    """nbgrader's ``Execute`` step replaced: put in the outputs of the sandboxed run.

    ``executed`` maps ``student/notebook`` to the executed notebook, ``failures`` to why there
    is none (then every code cell gets an error output, so every test cell scores zero).
    """
    from nbgrader.preprocessors import NbGraderPreprocessor

    class Replay(NbGraderPreprocessor):
        executed = Dict(help="student/notebook -> executed notebook path").tag(config=True)
        failures = Dict(help="student/notebook -> why it was not executed").tag(config=True)

        def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
            key = f"{resources['nbgrader']['student']}/{resources['nbgrader']['notebook']}"
            path = self.executed.get(key)
            if path is None or not Path(path).is_file():
                reason = self.failures.get(key, "it was not executed")
                for cell in nb.cells:
                    if cell.cell_type == "code":
                        cell.outputs = [_error_output("NotRun", reason)]
                return nb, resources
            ran = nbformat.read(path, as_version=4)
            if [c.source for c in ran.cells] != [c.source for c in nb.cells]:
                reason = "the executed notebook does not match the sanitized one"
                for cell in nb.cells:
                    if cell.cell_type == "code":
                        cell.outputs = [_error_output("NotRun", reason)]
                return nb, resources
            for cell, done in zip(nb.cells, ran.cells, strict=True):
                if cell.cell_type == "code":
                    cell.outputs = done.outputs
                    cell.execution_count = done.execution_count
                    if cell.metadata.get("nbgrader", {}).get("grade"):
                        # Test cells pass or fail: a value shown by the cell (which a student's
                        # display hook could forge) is not read as partial credit.
                        cell.outputs = [o for o in cell.outputs if o.output_type != "execute_result"]
            return nb, resources

    return Replay


def _error_output(ename: str, evalue: str) -> NotebookNode:
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def _sanitize(config: Any, course: Course, lab: str, student: str, path: Path) -> NotebookNode:
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearOutput,
        DeduplicateIds,
        OverwriteCells,
        OverwriteKernelspec,
    )

    nb = nbformat.read(path, as_version=4)
    resources = {
        "nbgrader": {
            "db_url": f"sqlite:///{course.gradebook}",
            "assignment": lab,
            "notebook": path.stem,
            "student": student,
        }
    }
    for preprocessor in (ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata):
        nb, resources = preprocessor(config=config).preprocess(nb, resources)
    return nb


def _find_submissions(submissions: Path, lab: str, notebooks: list[str]) -> dict[str, dict[str, Path | None]]:
    """``{student: {notebook: path or None}}`` from ``<student>/[<lab>/]*.ipynb`` or ``<student>.ipynb``."""
    found: dict[str, dict[str, Path | None]] = {}
    if not submissions.is_dir():
        raise CourseError(f"{submissions} is not a directory of submissions")
    for entry in sorted(submissions.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and entry.suffix == ".ipynb":
            student, files = entry.stem, [entry]
        elif entry.is_dir():
            student = entry.name
            inner = entry / lab if (entry / lab).is_dir() else entry
            files = sorted(inner.glob("*.ipynb"))
        else:
            continue
        if not STUDENT_ID.match(student):
            raise CourseError(f"{entry.name!r} is not a usable student id: use letters, digits, '.', '_', '-' or '@'")
        chosen: dict[str, Path | None] = {}
        for name in notebooks:
            exact = [f for f in files if f.stem == name]
            chosen[name] = exact[0] if exact else (files[0] if len(files) == 1 and len(notebooks) == 1 else None)
        found[student] = chosen
    return found


def _prepare_gradebook(course: Course, lab: str) -> list[str]:
    """Put ``lab`` (with its hidden tests) into the gradebook; return its notebooks' names."""
    course.gradebook.touch(mode=0o600, exist_ok=True)
    course.gradebook.chmod(0o600)
    with tempfile.TemporaryDirectory(prefix="kubelab-release-") as tmp:
        released = generate(course, lab, Path(tmp), gradebook=course.gradebook)
        return sorted(p.stem for p in released.glob("*.ipynb"))


def _secrets(course: Course, workspace: Path) -> list[Path]:
    root = course.root
    return [
        course.gradebook,
        course.source,
        root / settings.SUBMITTED,
        root / settings.AUTOGRADED,
        root / settings.FEEDBACK,
        root / "autograder",
        workspace,
    ]


def _start(job: _Job, timeout: float) -> None:
    log = (job.job_dir / "worker.log").open("wb")
    job.process = subprocess.Popen(
        [sys.executable, "-m", "kubelab.autograde.execute", str(job.job_dir)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=_worker_env(),
    )
    log.close()
    job.started = time.monotonic()
    job.deadline = job.started + timeout


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def _kernel_env(home: Path) -> dict[str, str]:
    env = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(home),
        "TMPDIR": str(home / "tmp"),
        "IPYTHONDIR": str(home / ".ipython"),
        "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
        "JUPYTER_DATA_DIR": str(home / ".local/share/jupyter"),
        "KUBELAB_HOME": str(home / ".kubelab"),
        # Embedded clusters hold an address slot; the sandbox has its own loopback, so its own slots.
        "KUBELAB_SLOT_DIR": str(home / ".kubelab" / "slots"),
        "MPLCONFIGDIR": str(home / ".matplotlib"),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "NBGRADER_EXECUTION": "autograde",
    }
    # Extra tool locations (kubectl) the instructor's PATH has.
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if directory and directory not in env["PATH"].split(os.pathsep):
            env["PATH"] += os.pathsep + directory
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def _setup_job(
    job: _Job, nb: NotebookNode, course: Course, lab: str, config: Any, limits: Limits, readable: list[str]
) -> None:
    for sub in ("job", "home", "runtime", "seed"):
        (job.directory / sub).mkdir(parents=True)
    nbformat.write(nb, job.job_dir / "input.ipynb")
    release = course.release / lab
    if release.is_dir():
        for item in release.iterdir():
            if item.suffix != ".ipynb" and not item.name.startswith("."):
                (shutil.copytree if item.is_dir() else shutil.copy2)(item, job.directory / "seed" / item.name)
    home = job.directory / "home"
    uid, uid_note = choose_uid()
    policy = Policy(
        home=str(home),
        runtime=str(job.directory / "runtime"),
        seed=str(job.directory / "seed"),
        read=readable,
        env=_kernel_env(home),
        limits=limits,
        uid=uid,
        uid_note=uid_note,
        cgroup=job.cgroup,
    )
    policy_file = job.directory / "runtime" / "policy.json"
    policy.save(policy_file)
    if uid is not None:
        for sub in ("home", "runtime", "seed"):
            for path in [job.directory / sub, *(job.directory / sub).rglob("*")]:
                os.chown(path, uid, uid, follow_symlinks=False)
        job.directory.chmod(0o711)
    (job.job_dir / "job.json").write_text(
        json.dumps(
            {
                "config": {"Execute": dict(config.Execute)},
                "policy": str(policy_file),
                "runtime": str(job.directory / "runtime"),
                "home": str(home),
            }
        )
    )


def _finish(job: _Job) -> tuple[dict[str, Any] | None, str | None]:
    result_file = job.job_dir / "result.json"
    if result_file.is_file():
        return json.loads(result_file.read_text()), None
    log = (job.job_dir / "worker.log").read_text(errors="replace").strip().splitlines()
    return None, "the grading worker failed: " + (log[-1] if log else f"exit code {job.process.returncode if job.process else '?'}")


def _kill(job: _Job) -> None:
    if job.process and job.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.process.pid, signal.SIGKILL)
        job.process.wait()
    if job.process and os.geteuid() == 0:
        remove_cgroup(job.cgroup)


def grade_class(
    course: Course,
    lab: str,
    submissions: Path,
    *,
    jobs: int = 2,
    cell_timeout: int | None = None,
    submission_timeout: float = DEFAULT_SUBMISSION_TIMEOUT,
    limits: Limits | None = None,
    feedback: bool = True,
    csv_path: Path | None = None,
    log: Callable[[str], None] = lambda message: None,
    keep_workspace: bool = False,
) -> ClassReport:
    """Grade every submission of ``lab`` in ``submissions``; see the module docstring for the steps.

    ``submissions`` holds ``<student>.ipynb`` files or ``<student>/`` directories (with the
    notebooks directly inside or in ``<student>/<lab>/``). ``jobs`` submissions run at once;
    each may use ``submission_timeout`` seconds and each cell ``cell_timeout`` (default: the
    config's ``Execute.timeout``).
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    started = time.monotonic()
    lab = course.lab(lab)
    limits = limits or Limits()
    extra: dict[str, Any] = {"Execute": {"timeout": cell_timeout}} if cell_timeout else {}
    config = course.config(**extra)
    with nbgrader_environment():
        notebooks = _prepare_gradebook(course, lab)
    released = {name: nbformat.read(course.release / lab / f"{name}.ipynb", as_version=4) for name in notebooks}
    lab_tasks = tasks(released[notebooks[0]]) if len(notebooks) == 1 else {}
    found = _find_submissions(submissions, lab, notebooks)
    results = {student: StudentResult(student) for student in found}

    workspace = Path(tempfile.mkdtemp(prefix="kubelab-grade-"))
    workspace.chmod(0o711)
    readable = readable_paths(_secrets(course, workspace))
    executed: dict[str, str] = {}
    failures: dict[str, str] = {}
    pending: list[_Job] = []
    try:
        for index, (student, chosen) in enumerate(found.items()):
            target = course.root / settings.SUBMITTED / student / lab
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            for name, path in chosen.items():
                key = f"{student}/{name}"
                if path is None:
                    failures[key] = results[student].error = f"no notebook {name}.ipynb was submitted"
                    continue
                if path.name != f"{name}.ipynb":
                    results[student].notes.append(f"graded {path.name} as {name}.ipynb")
                try:
                    repaired = repair(read(path), released[name])
                except SubmissionError as e:
                    results[student].error = str(e)
                    failures[key] = str(e)
                    continue
                results[student].notes += repaired.notes
                nbformat.write(repaired.notebook, target / f"{name}.ipynb")
                with nbgrader_environment():
                    sanitized = _sanitize(config, course, lab, student, target / f"{name}.ipynb")
                job = _Job(student, name, workspace / f"{index}-{name[:20]}")
                _setup_job(job, sanitized, course, lab, config, limits, readable)
                pending.append(job)
            timestamp = (path.parent / "timestamp.txt") if path is not None else None
            if timestamp is not None and timestamp.is_file():
                shutil.copy2(timestamp, target / "timestamp.txt")

        replay = _replay_class()
        by_student: dict[str, list[_Job]] = {student: [] for student in found}
        for job in pending:
            by_student[job.student].append(job)

        def score(student: str) -> None:
            for job in by_student[student]:
                key = f"{job.student}/{job.notebook}"
                outcome, failure = _finish(job) if key not in failures else (None, failures[key])
                if outcome is None:
                    failures[key] = failure or "it was not executed"
                    results[student].error = failures[key]
                    continue
                executed[key] = str(job.job_dir / "executed.ipynb")
                results[student].error = results[student].error or outcome["error"]
                results[student].tampering += outcome["tampering"]
                results[student].sandbox = outcome["sandbox"]
                results[student].seconds += round(job.ended - job.started, 2)
                results[student].window = (job.started, job.ended)
            merged = course.config(**extra)
            merged.Autograde.autograde_preprocessors = _autograde_preprocessors(replay)
            merged.Replay.executed = dict(executed)
            merged.Replay.failures = dict(failures)
            with nbgrader_environment():
                api = NbGraderAPI(coursedir=CourseDirectory(config=merged), config=merged)
                outcome = api.autograde(lab, student, force=True, create=True)
                if not outcome["success"]:
                    results[student].error = results[student].error or _last_line(outcome.get("error") or outcome["log"])
                elif feedback and api.generate_feedback(lab, student, force=True)["success"]:
                    results[student].feedback = course.root / settings.FEEDBACK / student / lab
            result = results[student]
            log(f"{student}: {result.status}" + (f" ({result.error})" if result.error else ""))

        log(f"grading {len(found)} submissions of {lab}, {jobs} at a time")
        for student, student_jobs in by_student.items():
            if not student_jobs:
                score(student)
        queue = list(pending)
        running: list[_Job] = []
        while queue or running:
            while queue and len(running) < max(1, jobs):
                running.append(queue.pop(0))
                _start(running[-1], submission_timeout)
            time.sleep(0.05)
            for job in list(running):
                assert job.process is not None
                if job.process.poll() is None:
                    if time.monotonic() < job.deadline:
                        continue
                    _kill(job)
                    failures[f"{job.student}/{job.notebook}"] = (
                        f"the submission ran past its time limit of {submission_timeout:g} s and was stopped"
                    )
                running.remove(job)
                job.ended = time.monotonic()
                _kill(job)
                job.finished = True
                if all(j.finished for j in by_student[job.student]):
                    score(job.student)
    finally:
        for job in pending:
            _kill(job)
        if keep_workspace:
            log(f"grading workspace kept in {workspace}")
        else:
            shutil.rmtree(workspace, ignore_errors=True)

    _collect_scores(course, lab, results, lab_tasks)
    report = ClassReport(lab, list(results.values()), _max_tasks(released, lab_tasks), round(time.monotonic() - started, 2))
    report.write_csv(csv_path or course.root / "grades" / f"{lab}.csv")
    return report


def _autograde_preprocessors(replay: type) -> list[Any]:
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        IgnorePattern,
        LimitOutput,
        SaveAutoGrades,
    )

    return [replay, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]


def _last_line(text: str) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "nbgrader failed without a message"


def _collect_scores(course: Course, lab: str, results: dict[str, StudentResult], lab_tasks: dict[str, list[str]]) -> None:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{course.gradebook}") as gb:
        for student, result in results.items():
            try:
                submission = gb.find_submission(lab, student)
            except MissingEntry:
                continue
            result.score = float(submission.score)
            result.max_score = float(submission.max_score)
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    if grade.cell_type == "code" or grade.max_score:
                        result.cells[grade.name] = float(grade.score or 0.0)
            owner = {cell: task for task, cells in lab_tasks.items() for cell in cells}
            for cell, value in result.cells.items():
                task = owner.get(cell, cell)
                result.tasks[task] = result.tasks.get(task, 0.0) + value


def _max_tasks(released: dict[str, NotebookNode], lab_tasks: dict[str, list[str]]) -> dict[str, float]:
    points = {
        cell.metadata["nbgrader"]["grade_id"]: float(cell.metadata["nbgrader"].get("points", 0))
        for nb in released.values()
        for cell in nb.cells
        if cell.metadata.get("nbgrader", {}).get("grade")
    }
    owner = {cell: task for task, cells in lab_tasks.items() for cell in cells}
    totals: dict[str, float] = {}
    for cell, value in points.items():
        totals[owner.get(cell, cell)] = totals.get(owner.get(cell, cell), 0.0) + value
    return totals


def main(argv: list[str] | None = None) -> int:
    """``kubelab grade LAB SUBMISSIONS [--jobs N] [--course DIR] ...``"""
    parser = argparse.ArgumentParser(prog="kubelab grade", description="Autograde a class's submissions of one lab.")
    parser.add_argument("lab", help="the lab, e.g. 03-scheduler")
    parser.add_argument("submissions", type=Path, help="a directory of <student>.ipynb files or <student>/ directories")
    parser.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 2, help="submissions graded at once")
    parser.add_argument("--course", type=Path, help="the course directory (default: the one around this directory)")
    parser.add_argument("--cell-timeout", type=int, help="seconds each cell may run (default: the config's)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_SUBMISSION_TIMEOUT, help="seconds each submission may run")
    parser.add_argument("--csv", type=Path, help="where to write the grades (default: grades/LAB.csv)")
    parser.add_argument("--no-feedback", action="store_true", help="do not generate feedback HTML")
    parser.add_argument("--keep", action="store_true", help="keep the grading workspace (kernel logs) to debug")
    args = parser.parse_args(argv)
    try:
        course = Course(args.course.resolve()) if args.course else Course.find()
        report = grade_class(
            course,
            args.lab,
            args.submissions.resolve(),
            jobs=args.jobs,
            cell_timeout=args.cell_timeout,
            submission_timeout=args.timeout,
            feedback=not args.no_feedback,
            csv_path=args.csv,
            log=print,
            keep_workspace=args.keep,
        )
    except CourseError as e:
        print(f"kubelab grade: {e}", file=sys.stderr)
        return 1
    for line in _sandbox_summary(report):
        print(line)
    print(f"{len(report.students)} submissions graded in {report.seconds:.1f} s; grades in {report.csv}")
    return 0


def _sandbox_summary(report: ClassReport) -> list[str]:
    sample = next((s.sandbox for s in report.students if s.sandbox), None)
    if not sample:
        return []
    lines = ["sandbox: " + item for item in sample.get("applied", [])]
    lines += ["sandbox MISSING: " + item for item in sample.get("missing", [])]
    return lines
