"""Reading and repairing submissions: broken notebooks get a clear error, messed-up cells are put right."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat
import pytest
from autograde_sample import LAB

from kubelab.autograde.course import Course
from kubelab.autograde.submission import SubmissionError, grade_ids, read, repair


@pytest.fixture(scope="module")
def released(built_course: Course) -> nbformat.NotebookNode:
    return nbformat.read(built_course.release / LAB / f"{LAB}.ipynb", as_version=4)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"cells": [', "is not valid notebook JSON: Expecting value at line 1, column 12"),
        (b"\xff\xfe", "is not text (UTF-8)"),
        (b'{"hello": 1}', "is JSON but not a Jupyter notebook"),
        (b'{"cells": [{"cell_type": "video"}]}', "cell 1 is not a notebook cell"),
    ],
)
def test_unreadable_notebooks_get_a_plain_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "s.ipynb"
    path.write_bytes(content)
    with pytest.raises(SubmissionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read(path)


def test_duplicated_cells_keep_the_first_graded_copy(released: nbformat.NotebookNode) -> None:
    nb = copy.deepcopy(released)
    solution = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "pick_node")
    nb.cells.append(copy.deepcopy(solution))
    fixed = repair(nb, released)
    assert [c.metadata.get("nbgrader", {}).get("grade_id") for c in fixed.notebook.cells].count("pick_node") == 1
    assert "nbgrader" not in fixed.notebook.cells[-1].metadata
    assert any("second copy of cell 'pick_node'" in n for n in fixed.notes)


def test_invented_and_inflated_cells_get_the_released_metadata(released: nbformat.NotebookNode) -> None:
    nb = copy.deepcopy(released)
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_pick_node")
    test.metadata.nbgrader["points"] = 100
    bonus = nbformat.v4.new_code_cell("pass", metadata={"nbgrader": {"grade": True, "grade_id": "bonus", "points": 50}})
    nb.cells.append(bonus)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_fetch"]
    fixed = repair(nb, released)
    ids = grade_ids(fixed.notebook)
    assert ids["test_pick_node"].metadata.nbgrader["points"] == 3
    assert "bonus" not in ids
    assert any("'bonus', which the lab does not have" in n for n in fixed.notes)
    assert any("missing graded cells put back: test_fetch" in n for n in fixed.notes)


def test_a_cell_turned_into_markdown_is_turned_back(released: nbformat.NotebookNode, tmp_path: Path) -> None:
    data = json.loads(nbformat.writes(released))
    cell = next(c for c in data["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "pick_node")
    cell["cell_type"] = "markdown"
    del cell["outputs"], cell["execution_count"]
    path = tmp_path / "s.ipynb"
    path.write_text(json.dumps(data))
    fixed = repair(read(path), released)
    assert grade_ids(fixed.notebook)["pick_node"].cell_type == "code"
    nbformat.validate(fixed.notebook)
