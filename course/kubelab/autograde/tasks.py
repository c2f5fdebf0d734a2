"""A lab's tasks: each solution cell and the test cells that follow it."""

from __future__ import annotations

from nbformat import NotebookNode


def tasks(nb: NotebookNode) -> dict[str, list[str]]:
    """``{task: [test grade_id, ...]}``: a task is named by its solution cell's ``grade_id``.

    A test cell belongs to the closest solution cell above it; a test cell with no
    solution cell above it is a task of its own.
    """
    found: dict[str, list[str]] = {}
    current: str | None = None
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            current = meta["grade_id"]
            found.setdefault(current, [])
        if meta.get("grade") and cell.cell_type == "code":
            found.setdefault(current or meta["grade_id"], []).append(meta["grade_id"])
    return {task: cells for task, cells in found.items() if cells}
