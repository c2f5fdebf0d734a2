"""Read a student's notebook and put its nbgrader cells back in order before grading.

nbgrader trusts a submission's cell metadata: a copied cell with the same ``grade_id``
fails the whole autograde with a misleading message (nbgrader issue #1083), an invented
``grade_id`` or a changed ``points`` is taken at its word. Here every graded or locked cell
is matched to the released notebook by ``grade_id`` and gets the released metadata back;
copies and unknown ids become ordinary cells (their code still runs, in place); what
cannot be read at all is reported, in plain words, as the submission's error.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

MAX_BYTES = 20 * 1024 * 1024
CELL_TYPES = ("code", "markdown", "raw")


class SubmissionError(ValueError):
    """A submitted notebook cannot be graded at all."""


@dataclass
class Repaired:
    """A submission made gradable, and what had to be changed to get there."""

    notebook: NotebookNode
    notes: list[str] = field(default_factory=list)


def grade_ids(nb: NotebookNode) -> dict[str, NotebookNode]:
    """The cells of ``nb`` that carry nbgrader metadata, by ``grade_id``."""
    return {
        cell.metadata["nbgrader"]["grade_id"]: cell
        for cell in nb.cells
        if isinstance(cell.metadata.get("nbgrader"), dict) and cell.metadata["nbgrader"].get("grade_id")
    }


def read(path: Path) -> NotebookNode:
    """The notebook in ``path``, rebuilt from its cells' type, source and metadata alone."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise SubmissionError(f"{path.name} cannot be read: {e.strerror}") from e
    if len(raw) > MAX_BYTES:
        raise SubmissionError(f"{path.name} is {len(raw) // 1024 // 1024} MiB, more than the {MAX_BYTES // 1024 // 1024} MiB allowed")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise SubmissionError(f"{path.name} is not text (UTF-8): {e.reason} at byte {e.start}") from e
    except json.JSONDecodeError as e:
        raise SubmissionError(f"{path.name} is not valid notebook JSON: {e.msg} at line {e.lineno}, column {e.colno}") from e
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise SubmissionError(f"{path.name} is JSON but not a Jupyter notebook (it has no list of cells)")
    nb = nbformat.v4.new_notebook(metadata=data.get("metadata") if isinstance(data.get("metadata"), dict) else {})
    for number, cell in enumerate(data["cells"], 1):
        if not isinstance(cell, dict) or cell.get("cell_type") not in CELL_TYPES:
            raise SubmissionError(f"{path.name}: cell {number} is not a notebook cell")
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise SubmissionError(f"{path.name}: cell {number} has no readable source")
        metadata = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        new = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell, "raw": nbformat.v4.new_raw_cell}
        nb.cells.append(new[cell["cell_type"]](source=source, metadata=metadata))
    return nb


def repair(nb: NotebookNode, released: NotebookNode) -> Repaired:
    """``nb`` with each released ``grade_id`` at most once and carrying the released metadata."""
    known = grade_ids(released)
    seen: set[str] = set()
    notes: list[str] = []
    for number, cell in enumerate(nb.cells, 1):
        meta = cell.metadata.get("nbgrader")
        if meta is None:
            continue
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if grade_id not in known:
            notes.append(f"cell {number} claims to be nbgrader cell {grade_id!r}, which the lab does not have: graded as an ordinary cell")
            del cell.metadata["nbgrader"]
        elif grade_id in seen:
            notes.append(f"cell {number} is a second copy of cell {grade_id!r}: the first copy is graded, this one runs as an ordinary cell")
            del cell.metadata["nbgrader"]
        else:
            seen.add(grade_id)
            original = known[grade_id]
            if cell.cell_type != original.cell_type:
                notes.append(f"cell {grade_id!r} was changed from {original.cell_type} to {cell.cell_type}: changed back")
                cell.cell_type = original.cell_type
                if cell.cell_type == "code":
                    cell.pop("attachments", None)
                    cell.outputs, cell.execution_count = [], None
                else:
                    cell.pop("outputs", None)
                    cell.pop("execution_count", None)
            cell.metadata["nbgrader"] = copy.deepcopy(original.metadata["nbgrader"])
    missing = [g for g, c in known.items() if g not in seen and c.metadata["nbgrader"].get("grade")]
    if missing:
        notes.append(f"missing graded cells put back: {', '.join(missing)}")
    nb.metadata = copy.deepcopy(released.metadata)
    return Repaired(nb, notes)
