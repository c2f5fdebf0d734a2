"""kubelab grade, end to end with real nbgrader: a class of good, partial, broken and hostile submissions.

One class is graded once (in parallel, two at a time) and each test reads what its
submission got. Limits are small so that the hostile ones are quick to stop.
"""

from __future__ import annotations

import copy
import html
from pathlib import Path

import nbformat
import pytest
from autograde_sample import LAB, make_course

from kubelab.autograde.course import Course
from kubelab.autograde.feedback import hidden_lines
from kubelab.autograde.pipeline import ClassReport, StudentResult, grade_class
from kubelab.autograde.release import write_notebook
from kubelab.autograde.sandbox import Limits, MiB

pytestmark = pytest.mark.slow

GOOD = {"parse_quantity": 3.0, "selector_matches": 2.0, "pick_node": 3.0, "fetch": 1.0}


def _cell(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _with(solution: nbformat.NotebookNode, grade_id: str, source: str) -> nbformat.NotebookNode:
    nb = copy.deepcopy(solution)
    _cell(nb, grade_id).source = source
    return nb


def _prepend(solution: nbformat.NotebookNode, grade_id: str, code: str) -> nbformat.NotebookNode:
    nb = copy.deepcopy(solution)
    cell = _cell(nb, grade_id)
    cell.source = code + "\n" + cell.source
    return nb


def _class(course: Course, submissions: Path) -> dict[str, object]:
    solution = nbformat.read(course.source / LAB / f"{LAB}.ipynb", as_version=4)
    released = nbformat.read(course.release / LAB / f"{LAB}.ipynb", as_version=4)
    root = course.root
    snoop = f'''
import os, sqlite3
for path in ["{root}/gradebook.db", "{root}/solutions/{LAB}/{LAB}.ipynb", "{root}/submitted/good/{LAB}/{LAB}.ipynb"]:
    try:
        open(path).read(100)
        print("READ", path)
    except OSError as e:
        print("DENIED read", os.path.basename(path), type(e).__name__)
try:
    print("LISTED", os.listdir("{root}/submitted"))
except OSError as e:
    print("DENIED list submitted", type(e).__name__)
try:
    db = sqlite3.connect("file:{root}/gradebook.db?mode=rw", uri=True)
    db.execute("update grade set auto_score = 100")
    db.commit()
    print("WROTE gradebook")
except Exception as e:
    print("DENIED write gradebook", type(e).__name__)
print("interfaces", [name for _, name in __import__("socket").if_nameindex()])
print("processes", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
'''
    liar = '''class Liar(str):
    def __eq__(self, other):
        return True
    __hash__ = str.__hash__


def pick_node(nodes, cpu):
    return Liar("nowhere")'''
    fork_bomb = '''import os, time
kids = 0
try:
    while kids < 3000:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        kids += 1
except OSError:
    pass
print("forks:", kids)'''
    filler = '''written = 0
try:
    with open("big", "wb") as f:
        while written < 2048:
            f.write(b"x" * MiB)
            f.flush()
            written += 1
except OSError as e:
    print("stopped after", written, "MiB:", type(e).__name__)'''.replace("MiB", str(MiB)).replace(f"{MiB}:", "MiB:")
    kinds: dict[str, object] = {
        "good": solution,
        "partial": _with(solution, "pick_node", "def pick_node(nodes, cpu):\n    return None"),
        "unsolved": released,
        "snoop": _prepend(solution, "parse_quantity", snoop),
        "monkeypatch": _with(
            solution,
            "pick_node",
            "import kubelab.grading\n\ndef pick_node(nodes, cpu):\n    return 'wrong'\n\n"
            "expect_equal = lambda *a, **k: None\nkubelab.grading.expect_equal = expect_equal",
        ),
        "liar": _with(solution, "pick_node", liar),
        "killer": _prepend(solution, "pick_node", "import os\nos.kill(os.getpid(), 9)  # pid 1 of its namespace: ignored\nos._exit(3)"),
        "forkbomb": _prepend(solution, "fetch", fork_bomb),
        "filler": _prepend(solution, "fetch", filler),
        "stderr": _with(
            solution,
            "selector_matches",
            "import sys\n\ndef selector_matches(selector, labels):\n    sys.stderr.write('look at me\\n')\n"
            "    return all(labels.get(k) == v for k, v in selector.items())",
        ),
        "endless": _prepend(solution, "pick_node", "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"),
        "loop": _with(solution, "pick_node", "def pick_node(nodes, cpu):\n    while True:\n        pass"),
        "broken": b'{"cells": [{"cell_type": "code", "source": "x = 1"',
    }
    duplicated = copy.deepcopy(solution)
    duplicated.cells.append(copy.deepcopy(_cell(duplicated, "pick_node")))
    duplicated.cells = [c for c in duplicated.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_fetch"]
    kinds["duplicated"] = duplicated
    renamed = copy.deepcopy(solution)
    _cell(renamed, "selector_matches").metadata.nbgrader["grade_id"] = "selector_matches_v2"
    kinds["renamed"] = renamed
    for name, nb in kinds.items():
        if isinstance(nb, bytes):
            (submissions / f"{name}.ipynb").write_bytes(nb)
        else:
            write_notebook(nb, submissions / name / LAB / f"{LAB}.ipynb")
    return kinds


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Course, ClassReport]:
    root = tmp_path_factory.mktemp("class")
    course = make_course(root / "course")
    submissions = root / "submissions"
    submissions.mkdir()
    _class(course, submissions)
    limits = Limits(processes=96, disk=64 * MiB, file_size=256 * MiB)
    report = grade_class(course, LAB, submissions, jobs=2, cell_timeout=8, submission_timeout=120, limits=limits)
    return course, report


def student(graded: tuple[Course, ClassReport], name: str) -> StudentResult:
    return graded[1].by_student()[name]


def outputs(graded: tuple[Course, ClassReport], name: str) -> str:
    course, _ = graded
    nb = nbformat.read(course.root / "autograded" / name / LAB / f"{LAB}.ipynb", as_version=4)
    return "\n".join(o.get("text", "") + o.get("evalue", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_good_scores_full_marks_per_task(graded: tuple[Course, ClassReport]) -> None:
    good = student(graded, "good")
    assert (good.score, good.max_score, good.status) == (9.0, 9.0, "ok")
    assert good.tasks == GOOD
    assert good.seconds < 60


def test_partial_and_unsolved(graded: tuple[Course, ClassReport]) -> None:
    assert student(graded, "partial").tasks == {**GOOD, "pick_node": 0.0}
    unsolved = student(graded, "unsolved")
    assert unsolved.score == 0.0 and set(unsolved.cells.values()) == {0.0}


def test_a_submission_cannot_read_or_write_the_gradebook_or_others(graded: tuple[Course, ClassReport]) -> None:
    text = outputs(graded, "snoop")
    for what in ("read gradebook.db", f"read {LAB}.ipynb", "list submitted", "write gradebook"):
        assert f"DENIED {what}" in text
    assert "READ " not in text and "LISTED" not in text and "WROTE" not in text
    assert "interfaces ['lo']" in text and "processes [1" in text
    assert student(graded, "snoop").score == 9.0
    assert student(graded, "good").score == 9.0
    assert all(s.score <= s.max_score for s in graded[1].students)


def test_tampering_with_the_checks_scores_zero(graded: tuple[Course, ClassReport]) -> None:
    cheat = student(graded, "monkeypatch")
    assert cheat.status == "tampered" and cheat.score == 0.0
    assert any("a failing check did not fail" in t or "no longer refers" in t for t in cheat.tampering)


def test_an_object_with_a_lying_eq_fails_its_task_only(graded: tuple[Course, ClassReport]) -> None:
    assert student(graded, "liar").tasks == {**GOOD, "pick_node": 0.0}


def test_a_kernel_that_kills_itself_keeps_what_ran_before(graded: tuple[Course, ClassReport]) -> None:
    killer = student(graded, "killer")
    assert killer.tasks == {**GOOD, "pick_node": 0.0, "fetch": 0.0}
    assert killer.error and "pick_node" in killer.error and "DeadKernelError" in killer.error


def test_a_fork_bomb_is_stopped_by_the_process_limit(graded: tuple[Course, ClassReport]) -> None:
    forks = int(outputs(graded, "forkbomb").split("forks:")[1].split()[0])
    assert forks < 96
    bomb = student(graded, "forkbomb")
    assert {t: bomb.tasks[t] for t in ("parse_quantity", "selector_matches", "pick_node")} == {
        t: GOOD[t] for t in ("parse_quantity", "selector_matches", "pick_node")
    }


def test_filling_the_disk_stops_at_the_sandbox_size(graded: tuple[Course, ClassReport]) -> None:
    text = outputs(graded, "filler")
    written = int(text.split("stopped after")[1].split()[0])
    assert written <= 64
    filler = student(graded, "filler")
    assert {t: filler.tasks[t] for t in ("parse_quantity", "selector_matches", "pick_node")} == {
        t: GOOD[t] for t in ("parse_quantity", "selector_matches", "pick_node")
    }


def test_writing_to_stderr_costs_the_cells_that_did(graded: tuple[Course, ClassReport]) -> None:
    assert student(graded, "stderr").tasks == {**GOOD, "selector_matches": 0.0}


def test_endless_cells_are_stopped(graded: tuple[Course, ClassReport]) -> None:
    endless = student(graded, "endless")
    assert endless.tasks == {**GOOD, "pick_node": 0.0, "fetch": 0.0}
    assert endless.error and "execution stopped at" in endless.error
    assert student(graded, "loop").tasks == {**GOOD, "pick_node": 0.0}


def test_broken_notebooks_get_a_clear_error(graded: tuple[Course, ClassReport]) -> None:
    broken = student(graded, "broken")
    assert broken.score == 0.0 and broken.error and "is not valid notebook JSON" in broken.error
    duplicated = student(graded, "duplicated")
    assert duplicated.score == 9.0 and any("second copy" in n for n in duplicated.notes)
    assert any("test_fetch" in n for n in duplicated.notes)
    renamed = student(graded, "renamed")
    assert renamed.score == 9.0 and any("selector_matches_v2" in n for n in renamed.notes)


def test_submissions_ran_in_parallel(graded: tuple[Course, ClassReport]) -> None:
    windows = sorted(s.window for s in graded[1].students if s.window[1])
    assert any(b[0] < a[1] for a, b in zip(windows, windows[1:], strict=False))


def test_feedback_shows_no_hidden_test(graded: tuple[Course, ClassReport]) -> None:
    course, report = graded
    source = nbformat.read(course.source / LAB / f"{LAB}.ipynb", as_version=4)
    secrets = [line for cell in source.cells for line in hidden_lines(cell.source) if len(line) >= 12]
    assert secrets
    pages = list((course.root / "feedback").rglob("*.html"))
    assert len(pages) >= 10
    for page in pages:
        text = html.unescape(page.read_text())
        leaked = [line for line in secrets if line in text]
        assert not leaked, f"{page} shows hidden tests: {leaked[:3]}"


def test_csv_has_one_row_per_student_and_task_columns(graded: tuple[Course, ClassReport]) -> None:
    _, report = graded
    assert report.csv is not None
    rows = report.csv.read_text().splitlines()
    assert rows[0].startswith("student,score,max_score,parse_quantity,selector_matches,pick_node,fetch,status")
    assert any(r.startswith("good,9.0,9.0,3.0,2.0,3.0,1.0,ok") for r in rows)
    assert len(rows) == 2 + len(report.students)
