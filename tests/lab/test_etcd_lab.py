"""Lab 01's harness: the reference store under the lab's names, and differential tests against a real etcd."""

from __future__ import annotations

import random

import pytest

from kubelab.grading import CheckFailed
from kubelab.lab.etcd import ReferenceStore, SyncEtcd, differs_from_etcd, same_as_reference, with_yours
from kubelab.process import pid_alive
from kubelab.store.kv import KeyValue, Put


def stale_get(store, key, revision):
    """version_at with a bug: it reads the key's first version, whatever the revision."""
    versions = store.versions.get(key, [])
    return versions[0] if versions and versions[0].mod_revision <= revision else None


def test_kubelabs_own_store_answers_as_the_real_etcd_and_the_lab_etcd_is_gone_after():
    etcd = SyncEtcd.start()
    try:
        for seed in range(10):
            differs_from_etcd(etcd, ReferenceStore, random.Random(seed))
        with pytest.raises(CheckFailed, match="your store answers .* where etcd answers"):
            for seed in range(10):
                differs_from_etcd(etcd, lambda: with_yours(version_at=stale_get), random.Random(seed))
        pid = etcd._server.process.pid
    finally:
        etcd.close()
    assert not pid_alive(pid)


def test_the_learners_function_is_the_one_every_other_method_calls():
    mine, reference = with_yours(version_at=stale_get), ReferenceStore()
    for store in (mine, reference):
        store.txn([], [Put(b"k", b"1")], [])
        store.txn([], [Put(b"k", b"2")], [])
    # The reference's range reads through version_at: the buggy one answers with the first version.
    assert mine.range(b"k").kvs == [KeyValue(key=b"k", value=b"1", create_revision=2, mod_revision=2, version=1)]
    assert reference.range(b"k").kvs == [KeyValue(key=b"k", value=b"2", create_revision=2, mod_revision=3, version=2)]


def test_same_as_reference_names_the_task_whose_function_differs():
    ops = [("put", "a", b"1"), ("put", "a", b"2"), ("range", "a", None, 0, 0)]
    same_as_reference("version_at", {"version_at": ReferenceStore.version_at}, ops)
    with pytest.raises(CheckFailed, match="what the store with your version_at answers"):
        same_as_reference("version_at", {"version_at": stale_get}, ops)
