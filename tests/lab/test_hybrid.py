"""hybrid: the reference class with only the learner's methods under test swapped in."""

from __future__ import annotations

import pytest

from kubelab.lab import hybrid


class Reference:
    def put(self, value):
        self.value = value

    def get(self):
        return self.value


class Learner:
    def put(self, value):
        raise NotImplementedError

    def get(self):
        return self.value * 2


def test_only_the_named_methods_are_the_learners():
    mixed = hybrid(Reference, Learner, "get")()
    mixed.put(21)  # the reference's put: the learner's would raise
    assert mixed.get() == 42
    assert isinstance(mixed, Reference)


def test_a_method_the_learner_lacks_is_named():
    with pytest.raises(AttributeError, match="Learner has no delete"):
        hybrid(Reference, Learner, "delete")
