"""Probe cells that catch a submission tampering with how its own tests report.

Tests run in the student's kernel, so a submission can try to make failing tests look
passed: rebind ``expect_equal``, patch ``kubelab.grading``, install an IPython input or AST
transformer or exception handler that swallows errors. Before the first cell and after every graded
cell, the grader runs a probe with fresh random values whose right outcome only the
grader knows: a failing check must fail, an object whose ``__eq__`` lies must be caught,
the check functions must be the real ones, no transformer or handler may have appeared, and an error must
reach the notebook as an error. A probe that comes out wrong marks the submission as
tampered with; probes are removed before grading.

This raises the bar a long way but is not a proof: code in the kernel runs with the
tests, and a submission written against this module could still tell probes apart.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import nbformat
from nbformat import NotebookNode

import kubelab.grading

PROBE = "kubelab_probe"


@dataclass(frozen=True)
class Probe:
    """One probe cell: the values it was made with and what it must print."""

    token: str
    failing: str
    liar: str
    error: str

    def source(self) -> str:
        a, b = int(self.token[:6], 16), int(self.token[6:12], 16) + 1
        t = self.token
        return f'''def _probe_{t}():
    import hashlib as _hashlib
    import sys as _sys
    import kubelab.grading as _g
    report = []
    try:
        _g.expect_equal({a}, {a + b}, what="value {t}")
    except AssertionError as e:
        report.append("{self.failing}" if "value {t}" in str(e) else "message-lost")
    else:
        report.append("failing-check-passed")

    class _Liar(int):
        def __eq__(self, other):
            return True

        __hash__ = int.__hash__

    try:
        _g.expect_equal(_Liar({a}), {a + b})
    except AssertionError:
        report.append("{self.liar}")
    else:
        report.append("liar-passed")
    names = get_ipython().user_ns
    report += ["rebound:" + n for n in _g.__all__ if n in names and names[n] is not getattr(_g, n)]
    code = b"".join(getattr(_g, n).__code__.co_code for n in sorted(_g.__all__) if hasattr(getattr(_g, n), "__code__"))
    report.append("code:" + _hashlib.sha256(code).hexdigest()[:16])
    ip = get_ipython()
    hooks = [
        len(ip.input_transformers_post),
        len(ip.input_transformer_manager.cleanup_transforms),
        len(ip.input_transformer_manager.line_transforms),
        len(ip.ast_transformers),
        repr(ip.custom_exceptions),
        sorted(k for k, v in vars(ip).items() if callable(v)),
        _sys.gettrace() is None,
        _sys.getprofile() is None,
    ]
    report.append("hooks:" + _hashlib.sha256(repr(hooks).encode()).hexdigest()[:16])
    print(" ".join(report))


_probe_{t}()
del _probe_{t}
raise RuntimeError("{self.error}")
'''


def _grading_digest() -> str:
    g = kubelab.grading
    code = b"".join(
        getattr(g, n).__code__.co_code for n in sorted(g.__all__) if hasattr(getattr(g, n), "__code__")
    )
    return hashlib.sha256(code).hexdigest()[:16]


def _new_probe() -> Probe:
    return Probe(secrets.token_hex(8), secrets.token_hex(8), secrets.token_hex(8), secrets.token_hex(8))


def _probe_cell(probe: Probe) -> NotebookNode:
    cell = nbformat.v4.new_code_cell(probe.source())
    cell.metadata[PROBE] = {"failing": probe.failing, "liar": probe.liar, "error": probe.error}
    return cell


def _is_grade(cell: NotebookNode) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get("grade")) and cell.cell_type == "code"


def insert_probes(nb: NotebookNode) -> NotebookNode:
    """``nb`` with a probe before its first cell and after each graded code cell."""
    cells = [_probe_cell(_new_probe())]
    for cell in nb.cells:
        cells.append(cell)
        if _is_grade(cell):
            cells.append(_probe_cell(_new_probe()))
    nb.cells = cells
    return nb


def _check(cell: NotebookNode, baseline: str | None) -> tuple[list[str], str | None]:
    expected = cell.metadata[PROBE]
    stdout = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == "stdout").split()
    errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
    problems = []
    if not cell.get("outputs"):
        return ["a probe did not run"], baseline
    if expected["failing"] not in stdout:
        problems.append("a failing check did not fail")
    if expected["liar"] not in stdout:
        problems.append("an object whose __eq__ lies passed a check")
    problems += [f"the name {w.split(':', 1)[1]} no longer refers to kubelab.grading's" for w in stdout if w.startswith("rebound:")]
    if f"code:{_grading_digest()}" not in stdout:
        problems.append("kubelab.grading's functions were replaced")
    hooks = next((w for w in stdout if w.startswith("hooks:")), None)
    if hooks is None or (baseline is not None and hooks != baseline):
        problems.append("IPython hooks, transformers, exception handlers or tracing were changed")
    if not any(e.get("ename") == "RuntimeError" and e.get("evalue") == expected["error"] for e in errors):
        problems.append("an error raised in a cell did not reach the notebook")
    return problems, baseline if baseline is not None else hooks


class ProbeError(RuntimeError):
    """The first probe, run before any student code, failed: the grading kernel itself is broken."""


def verify_and_remove(nb: NotebookNode) -> list[str]:
    """Check every probe's outputs, remove the probes from ``nb``; return what tampering was seen.

    Probes that never ran (the kernel died or stopped first) are not counted as tampering.
    Raises :class:`ProbeError` when the first probe, which runs before any student code, failed.
    """
    problems: list[str] = []
    baseline: str | None = None
    kept = []
    first = True
    broken: str | None = None
    for cell in nb.cells:
        if PROBE not in cell.metadata:
            kept.append(cell)
            continue
        if cell.get("outputs"):
            found, baseline = _check(cell, baseline)
            if first and found:
                errors = [f"{o.get('ename')}: {o.get('evalue')}" for o in cell.outputs if o.output_type == "error"]
                broken = "the grading kernel failed its first check: " + "; ".join(found + errors)
            problems += [p for p in found if p not in problems]
        first = False
    nb.cells = kept
    if broken:
        raise ProbeError(broken)
    return problems
