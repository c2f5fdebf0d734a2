"""Grade one task at a time: the reference class with only the learner's functions under test in it.

A lab's tasks are often the methods of one class, each calling the others. To grade ``range``
alone, a hidden test builds ``hybrid(ReferenceStore, range=range)``: kubelab's own store with
the learner's ``range`` as its method. A bug in the learner's ``write`` then costs points in
the ``write`` task and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def hybrid(reference: type, **methods: Callable[..., Any]) -> type:
    """A subclass of ``reference`` whose named methods are the given functions (``self`` first)."""
    unknown = [name for name in methods if not hasattr(reference, name)]
    if unknown:
        raise AttributeError(f"{reference.__name__} has no method {', '.join(unknown)} to take from you")
    not_functions = [name for name, function in methods.items() if not callable(function)]
    if not_functions:
        raise TypeError(f"{', '.join(not_functions)} should be a function, not a value")
    return type(f"{reference.__name__}With_{'_'.join(methods)}", (reference,), dict(methods))
