"""Feedback preprocessing: hidden tests leave neither output nor copies behind."""

from __future__ import annotations

import nbformat

from kubelab.autograde.feedback import HIDDEN_NOTE, REDACTED, ClearHiddenOutputs


def test_hidden_cells_lose_their_output_and_leaked_lines_are_blanked() -> None:
    hidden = nbformat.v4.new_code_cell("visible()\n### BEGIN HIDDEN TESTS\nsecret_check(41, 'zebra')\n### END HIDDEN TESTS")
    hidden.outputs = [
        nbformat.v4.new_output("error", ename="AssertionError", evalue="x", traceback=["secret_check(41, 'zebra')"])
    ]
    leaky = nbformat.v4.new_code_cell("print(stolen)")
    leaky.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ok\nsecret_check(41, 'zebra')\nbye\n")]
    nb = nbformat.v4.new_notebook(cells=[hidden, leaky])
    nb, _ = ClearHiddenOutputs().preprocess(nb, {})
    assert nb.cells[0].outputs[0].text == HIDDEN_NOTE
    assert nb.cells[1].outputs[0].text == f"ok\n{REDACTED}\nbye\n"
    assert all("zebra" not in str(cell.outputs) for cell in nb.cells)
