"""A lab's visible checks, one per task, and "check my work" over all of them.

A lab module registers a check for each task; the notebook's visible test cell runs it,
and :meth:`Checks.my_work` runs every one and says, in plain words, which fail and why::

    check = Checks("01-etcd")

    @check.task("span", "MVCC")            # task "span" checks the notebook's MVCC class
    def span(MVCC): ...

    check("span", MVCC)                    # a visible test cell
    check.my_work()                        # the lab's last cell

Only the visible checks are known here; a lab's hidden tests live in its notebook's
hidden test cells, which the learner's copy does not hold.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubelab.grading import CheckFailed
from kubelab.lab.progress import in_notebook

CheckFunction = Callable[..., None]


@dataclass(frozen=True)
class Outcome:
    """How one task's visible check went: ``ok``, and otherwise why not, in plain words."""

    task: str
    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class _Check:
    function: CheckFunction
    needs: tuple[str, ...]
    title: str


class Checks:
    """The visible checks of one lab, by task."""

    def __init__(self, lab: str) -> None:
        self.lab = lab
        self._checks: dict[str, _Check] = {}

    @property
    def tasks(self) -> list[str]:
        return list(self._checks)

    def task(self, name: str, *needs: str, title: str = "") -> Callable[[CheckFunction], CheckFunction]:
        """Register the check of task ``name``; it is called with the notebook's objects ``needs``."""

        def register(function: CheckFunction) -> CheckFunction:
            if name in self._checks:
                raise ValueError(f"{self.lab}: task {name!r} has a check already")
            self._checks[name] = _Check(function, needs, title or name)
            return function

        return register

    def __call__(self, task: str, *objects: Any) -> None:
        """Run task ``task``'s check on ``objects``; raise :class:`CheckFailed` saying what is wrong."""
        check = self._checks.get(task)
        if check is None:
            raise KeyError(f"{self.lab} has no task {task!r}; its tasks are {', '.join(self._checks)}")
        try:
            check.function(*objects)
        except NotImplementedError:
            raise CheckFailed(f"{check.title}: not written yet (its body still raises NotImplementedError)") from None

    def outcome(self, task: str, namespace: Mapping[str, Any]) -> Outcome:
        """Run one task's check on the objects of ``namespace`` it needs."""
        check = self._checks[task]
        missing = [name for name in check.needs if name not in namespace]
        if missing:
            return Outcome(task, False, f"{', '.join(missing)} is not defined: run the cell that defines it")
        try:
            self(task, *(namespace[name] for name in check.needs))
        except CheckFailed as e:
            return Outcome(task, False, str(e))
        except Exception as e:  # noqa: BLE001 - any error of the learner's code is reported, not raised
            return Outcome(task, False, f"raised {type(e).__name__}: {e}")
        return Outcome(task, True)

    def report(self, namespace: Mapping[str, Any] | None = None) -> list[Outcome]:
        """Every task's outcome, on the notebook's objects (or ``namespace``'s)."""
        names = _user_namespace() if namespace is None else namespace
        return [self.outcome(task, names) for task in self._checks]

    def my_work(self, namespace: Mapping[str, Any] | None = None) -> None:
        """Run every visible check and show which pass and which fail, and why."""
        outcomes = self.report(namespace)
        passed = sum(o.ok for o in outcomes)
        summary = f"{self.lab}: {passed} of {len(outcomes)} tasks pass their visible checks"
        if passed == len(outcomes):
            summary += " (the hidden tests grade more cases)"
        if in_notebook():
            from IPython.display import HTML, display

            rows = "".join(
                f"<tr><td>{'✅' if o.ok else '❌'}</td><td><code>{_html(o.task)}</code></td>"
                f"<td style='text-align:left'>{_html(o.reason)}</td></tr>"
                for o in outcomes
            )
            display(HTML(f"<p>{_html(summary)}</p><table>{rows}</table>"))
        else:
            print(summary)
            for o in outcomes:
                print(f"  {'ok  ' if o.ok else 'FAIL'} {o.task}" + (f": {o.reason}" if o.reason else ""))


def _user_namespace() -> Mapping[str, Any]:
    try:
        from IPython import get_ipython
    except ImportError:
        return {}
    shell = get_ipython()
    if shell is None:
        import __main__

        return vars(__main__)
    return shell.user_ns  # type: ignore[no-any-return]


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
