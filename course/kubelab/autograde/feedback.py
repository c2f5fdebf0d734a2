"""Feedback that never shows hidden tests: not their source, not their output, not a copy of them.

nbgrader's ``ClearHiddenTests`` removes the hidden source but keeps the cell's outputs,
and a failing hidden assert's traceback quotes the hidden line. :class:`ClearHiddenOutputs`
runs before it in ``GenerateFeedback.preprocessors`` and replaces every output of a cell
that holds hidden tests with one plain note. A submission's own code also sees the hidden
tests while they run (they execute in its kernel), so any line of hidden-test source that
shows up in the output of another cell is blanked out too.
"""

from __future__ import annotations

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor

BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
HIDDEN_NOTE = "This cell holds hidden tests: what it printed is not shown. Its score is above.\n"
REDACTED = "[hidden test text removed]"
MIN_LEAK_LINE = 8


def hidden_lines(source: str) -> list[str]:
    """The stripped lines of ``source`` between the hidden-test markers."""
    lines, inside = [], False
    for line in source.splitlines():
        if BEGIN_HIDDEN in line:
            inside = True
        elif END_HIDDEN in line:
            inside = False
        elif inside and line.strip():
            lines.append(line.strip())
    return lines


def _scrub(text: str, secrets: list[str]) -> str:
    return "\n".join(
        REDACTED if any(secret in line for secret in secrets) else line for line in text.split("\n")
    )


def _scrub_output(output: NotebookNode, secrets: list[str]) -> None:
    if "text" in output:
        output.text = _scrub(output.text, secrets)
    for mime, value in output.get("data", {}).items():
        if isinstance(value, str):
            output.data[mime] = _scrub(value, secrets)
    if "evalue" in output:
        output.evalue = _scrub(output.evalue, secrets)
    if "traceback" in output:
        output.traceback = [_scrub(line, secrets) for line in output.traceback]


class ClearHiddenOutputs(NbGraderPreprocessor):
    """Replace the outputs of hidden-test cells, and blank hidden-test text anywhere else."""

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        secrets = sorted(
            {line for cell in nb.cells for line in hidden_lines(cell.source) if len(line) >= MIN_LEAK_LINE}
        )
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            if BEGIN_HIDDEN in cell.source:
                cell.outputs = [NotebookNode(output_type="stream", name="stdout", text=HIDDEN_NOTE)]
                continue
            for output in cell.outputs:
                _scrub_output(output, secrets)
        return nb, resources
