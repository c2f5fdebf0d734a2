"""ReplicaSet controller pieces that need no cluster: slow-start batches and the choice of pods to delete."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from kubelab.controllers.pod_control import pod_from_template, pods_prefix
from kubelab.controllers.replicaset import pods_to_delete, slow_start_batch


@pytest.fixture
def executor():
    with ThreadPoolExecutor(8) as pool:
        yield pool


def test_slow_start_doubles_the_batch_while_calls_succeed(executor):
    calls = []
    lock = threading.Lock()

    def call():
        with lock:
            calls.append(1)

    assert slow_start_batch(10, 1, call, executor) == (10, None)
    assert len(calls) == 10


def test_slow_start_stops_after_the_first_failing_batch(executor):
    made = []
    lock = threading.Lock()

    def call():
        with lock:
            made.append(1)
            n = len(made)
        if n > 4:
            raise RuntimeError("quota exceeded")

    successes, error = slow_start_batch(100, 1, call, executor)
    # Batches of 1, 2, 4: the third batch holds calls 4-7, three of which fail; nothing after.
    assert len(made) == 7
    assert successes == 4
    assert str(error) == "quota exceeded"


def test_pods_to_delete_ranks_only_when_keeping_some():
    unready = {"metadata": {"name": "a"}, "spec": {"nodeName": "n"}, "status": {"phase": "Running"}}
    unbound = {"metadata": {"name": "b"}, "spec": {}, "status": {"phase": "Pending"}}
    assert pods_to_delete([unready, unbound], [], 1, 0.0) == [unbound]
    assert pods_to_delete([unready, unbound], [], 2, 0.0) == [unready, unbound]


def test_pods_are_made_from_the_template():
    rs = {"metadata": {"name": "web-5d8"}}
    template = {"metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}, "name": "ignored"},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    ref = {"kind": "ReplicaSet", "name": "web-5d8", "uid": "u", "controller": True}
    pod = pod_from_template(template, rs, ref)
    assert pod == {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"generateName": "web-5d8-", "labels": {"app": "web"}, "annotations": {"a": "b"},
                                "ownerReferences": [ref]},
                   "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    pod["spec"]["containers"][0]["image"] = "changed"
    assert template["spec"]["containers"][0]["image"] == "nginx"
    assert pods_prefix("web") == "web-"
