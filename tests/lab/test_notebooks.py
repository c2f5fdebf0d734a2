"""The labs' solution notebooks run on another cluster too: lab 00 under the kubeconfig backend."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from kubelab.cluster import FULL, Cluster

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def failed_cells(path: Path) -> dict[str, str]:
    """Run the notebook at ``path`` in a fresh kernel; each cell that raised or wrote to stderr, with what it said."""
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    failed = {}
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error" or (output.output_type == "stream" and output.name == "stderr"):
                name = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index}"
                failed[name] = output.get("evalue") or output.get("text", "")
    return failed


@pytest.mark.timeout(600)
def test_lab_00_runs_on_a_cluster_reached_through_kubeconfig(monkeypatch):
    with Cluster(components=FULL, nodes=2) as real:
        monkeypatch.setenv("KUBELAB_BACKEND", "kubeconfig")
        monkeypatch.setenv("KUBECONFIG", str(real.kubeconfig))
        assert failed_cells(REPO / "solutions" / "00-orientation" / "00-orientation.ipynb") == {}
        # The lab worked in a namespace of its own and took it away when it closed.
        phases = real.kubectl("get", "ns", "-l", "kubelab.io/lab=00-orientation",
                              "-o", "jsonpath={.items[*].status.phase}").stdout.split()
        assert set(phases) <= {"Terminating"}
