"""Run one sanitized submission in a sandboxed kernel: ``python -m kubelab.autograde.execute JOB_DIR``.

The grader starts one such worker per submission, in parallel. A worker never opens the
gradebook. It reads ``JOB_DIR/job.json`` and ``JOB_DIR/input.ipynb`` (which hold the hidden
tests, and which the kernel cannot read), runs the notebook with nbgrader's ``Execute``
preprocessor in a kernel started by :mod:`kubelab.autograde.sandbox`, and writes
``JOB_DIR/executed.ipynb`` and ``JOB_DIR/result.json``.

Every graded cell that did not run to its end gets an error output, so nbgrader scores it
zero instead of taking a missing output for a pass.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbformat import NotebookNode
from traitlets import Unicode
from traitlets.config import Config

from kubelab.autograde import integrity
from kubelab.autograde.sandbox import REPORT, launcher_argv


@dataclass
class Result:
    """What became of one submission's run, as the worker saw it."""

    error: str | None = None  # why the run stopped early, for the student and the instructor
    tampering: list[str] = field(default_factory=list)
    sandbox: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel runs in the sandbox, talking over Unix sockets in ``runtime``."""

    policy_file = Unicode(help="the sandbox policy (see kubelab.autograde.sandbox)").tag(config=True)
    runtime = Unicode(help="directory for the connection file and ZeroMQ sockets").tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # The kernel has its own network namespace, so TCP on 127.0.0.1 would not reach it.
        self.transport = "ipc"
        self.ip = str(Path(self.runtime) / "k")
        self.connection_file = str(Path(self.runtime) / "kernel.json")

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file, *(extra_arguments or [])]
        return launcher_argv(Path(self.policy_file), kernel)


def _not_run(cell: NotebookNode, reason: str) -> None:
    # First, because nbgrader scores a cell by its first error or result output.
    cell.outputs = [
        nbformat.v4.new_output("error", ename="NotRun", evalue=reason, traceback=[f"NotRun: {reason}"])
    ] + list(cell.get("outputs", []))


def _describe(cell: NotebookNode, number: int) -> str:
    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
    return f"cell {number}" + (f" ({grade_id})" if grade_id else "")


def run(job_dir: Path) -> Result:
    """Execute ``job_dir/input.ipynb`` as ``job_dir/job.json`` says; write the executed notebook."""
    from nbgrader.preprocessors import Execute

    job = json.loads((job_dir / "job.json").read_text())
    nb = integrity.insert_probes(nbformat.read(job_dir / "input.ipynb", as_version=4))
    config = Config(job["config"])
    config.SandboxedKernelManager.policy_file = job["policy"]
    config.SandboxedKernelManager.runtime = job["runtime"]
    executed: set[int] = set()

    class Recording(Execute):
        def on_cell_executed(self, **kwargs: Any) -> None:
            super().on_cell_executed(**kwargs)
            executed.add(kwargs["cell_index"])

    result = Result()
    started = time.monotonic()
    try:
        executor = Recording(config=config, kernel_manager_class=SandboxedKernelManager)
        executor.preprocess(nb, {"metadata": {"path": job["home"]}})
    except Exception as e:  # noqa: BLE001 - a dead, stuck or broken kernel is the submission's outcome
        first = min((i for i, c in enumerate(nb.cells) if c.cell_type == "code" and i not in executed), default=None)
        where = _describe(nb.cells[first], first) if first is not None else "the notebook"
        result.error = f"execution stopped at {where}: {type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
    result.seconds = round(time.monotonic() - started, 2)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and index not in executed and integrity.PROBE not in cell.metadata:
            cell.outputs = []
            _not_run(cell, result.error or "this cell did not run")
    try:
        result.tampering = integrity.verify_and_remove(nb)
    except integrity.ProbeError as e:
        result.error = str(e)
        for cell in nb.cells:
            if cell.cell_type == "code":
                _not_run(cell, result.error)
    if result.tampering:
        reason = "the submission tampered with its tests: " + "; ".join(result.tampering)
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
                _not_run(cell, reason)
    report = Path(job["runtime"]) / REPORT
    try:
        result.sandbox = json.loads(report.read_text())
    except (OSError, ValueError):
        result.sandbox = {"applied": [], "missing": ["the sandbox report is missing: the kernel never started"]}
    nbformat.write(nb, job_dir / "executed.ipynb")
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    job_dir = Path(argv[0])
    result = run(job_dir)
    (job_dir / "result.json").write_text(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
