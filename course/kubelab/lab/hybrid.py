"""Grade one task at a time: a class that is the reference except for the learner's methods under test.

A lab's tasks are often methods of one class, and each method calls the others. To grade
``range`` alone, the hidden test runs ``hybrid(MemoryMVCC, MVCC, "range")``: kubelab's own
store with the learner's ``range`` in it. A bug in the learner's ``put`` then costs points
in the ``put`` task and nowhere else.
"""

from __future__ import annotations

from typing import Any


def hybrid(reference: type, learner: type, *methods: str) -> type:
    """A subclass of ``reference`` whose ``methods`` are the learner's, taken from ``learner``."""
    missing = [name for name in methods if not hasattr(learner, name)]
    if missing:
        raise AttributeError(f"{learner.__name__} has no {', '.join(missing)}")
    taken: dict[str, Any] = {name: _plain_function(learner, name) for name in methods}
    return type(f"{reference.__name__}With_{'_'.join(methods)}", (reference,), taken)


def _plain_function(owner: type, name: str) -> Any:
    for klass in owner.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    return getattr(owner, name)
