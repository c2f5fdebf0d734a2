"""kubelab grade on a lab that starts its own cluster: the cluster starts inside the sandbox and dies with it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from autograde_sample import REPO

from kubelab.autograde.course import Course
from kubelab.autograde.release import build, write_notebook

pytestmark = pytest.mark.slow

LAB = "99-cluster"


def _cell(source: str, **nbgrader: object) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    if nbgrader:
        cell.metadata["nbgrader"] = {"schema_version": 3, "locked": False, "solution": False, "grade": False, **nbgrader}
    return cell


def _lab() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        _cell("from kubelab import lab\ncluster = lab.start('99-cluster', components=(), nodes=0, backend_name='embedded')\n"
              "print('cluster dir', cluster.cluster.dir.root)"),
        _cell('def configmap_name() -> str:\n    """The name to give the ConfigMap."""\n    ### BEGIN SOLUTION\n'
              '    return "hello"\n    ### END SOLUTION', grade_id="configmap_name", solution=True),
        _cell('cluster.kubectl(f"create configmap {configmap_name()} --from-literal=k=v")\n'
              'assert cluster.kubectl("get cm -o name").split() == ["configmap/hello"]',
              grade_id="test_configmap_name", grade=True, locked=True, points=2),
    ]
    return nb


def test_a_submission_that_starts_a_cluster_is_graded_and_leaves_no_process(tmp_path: Path) -> None:
    root = tmp_path / "course"
    (root / "solutions" / LAB).mkdir(parents=True)
    shutil.copytree(REPO / "autograder", root / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    nbformat.write(_lab(), root / "solutions" / LAB / f"{LAB}.ipynb")
    course = Course(root)
    build(course, [LAB])
    write_notebook(nbformat.read(root / "solutions" / LAB / f"{LAB}.ipynb", as_version=4),
                   tmp_path / "submissions" / "solved.ipynb")
    write_notebook(nbformat.read(root / "labs" / LAB / f"{LAB}.ipynb", as_version=4),
                   tmp_path / "submissions" / "unsolved.ipynb")
    env = dict(os.environ, PYTHONPATH=str(REPO / "course"), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(
        [sys.executable, "-m", "kubelab", "grade", LAB, str(tmp_path / "submissions"), "--course", str(root),
         "--jobs", "2", "--no-feedback"],
        capture_output=True, text=True, env=env, timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    grades = (root / "grades" / f"{LAB}.csv").read_text().splitlines()
    assert any(line.startswith("solved,2.0,2.0,") for line in grades), grades
    assert any(line.startswith("unsolved,0.0,2.0,") for line in grades), grades
    graded = nbformat.read(root / "autograded" / "solved" / LAB / f"{LAB}.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for o in graded.cells[0].outputs)
    cluster_dir = re.search(r"cluster dir (\S+)", printed).group(1)
    # The sandbox has its own process ids: find the cluster's processes by their command line.
    assert _processes_mentioning(cluster_dir) == [], "the submission's cluster outlived its grading"


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in argv:
            found.append(argv)
    return found
