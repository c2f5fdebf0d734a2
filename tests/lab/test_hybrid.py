"""hybrid: the reference class with only the learner's functions under test swapped in."""

from __future__ import annotations

import pytest

from kubelab.lab import hybrid


class Reference:
    def put(self, value):
        self.value = value

    def get(self):
        return self.value


def get(store):
    return store.value * 2


def test_only_the_named_methods_are_the_learners():
    mixed = hybrid(Reference, get=get)()
    mixed.put(21)
    assert mixed.get() == 42
    assert isinstance(mixed, Reference)


def test_a_method_the_reference_lacks_is_named():
    with pytest.raises(AttributeError, match="Reference has no method delete to take from you"):
        hybrid(Reference, delete=get)


def test_a_value_is_not_a_method():
    with pytest.raises(TypeError, match="get should be a function, not a value"):
        hybrid(Reference, get=42)
