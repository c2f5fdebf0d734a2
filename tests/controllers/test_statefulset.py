"""The StatefulSet controller: identities, claims and revisions offline; ordered pods and rollouts on a cluster."""

from __future__ import annotations

import pytest

from kubelab.controllers.history import (
    equal_revision,
    hash_revision,
    new_controller_revision,
    revision_template,
    sort_revisions,
    template_patch,
)
from kubelab.controllers.statefulset import (
    claim_owner_refs,
    identity_matches,
    new_statefulset_pod,
    new_versioned_pod,
    parent_and_ordinal,
    storage_matches,
)

# -- offline ---------------------------------------------------------------------------------------


def a_set(**spec):
    return {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "ns", "uid": "set-uid"},
        "spec": {"replicas": 3, "serviceName": "nginx", "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx"}],
                                       "volumes": [{"name": "www", "emptyDir": {}}]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "www"},
                                           "spec": {"accessModes": ["ReadWriteOnce"],
                                                    "resources": {"requests": {"storage": "1Gi"}}}}],
                 **spec},
    }


def test_pods_get_stable_names_identities_and_their_own_claims():
    pod = new_statefulset_pod(a_set(), 2)
    assert pod["metadata"]["name"] == "web-2"
    assert pod["metadata"]["labels"] == {"app": "web", "statefulset.kubernetes.io/pod-name": "web-2",
                                         "apps.kubernetes.io/pod-index": "2"}
    assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == ("web-2", "nginx")
    # The claim template replaces the template's volume of the same name.
    assert pod["spec"]["volumes"] == [{"name": "www", "persistentVolumeClaim": {"claimName": "www-web-2"}}]
    assert pod["metadata"]["ownerReferences"][0]["uid"] == "set-uid"
    assert identity_matches(a_set(), pod) and storage_matches(a_set(), pod)
    pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] = "other"
    assert not identity_matches(a_set(), pod)
    assert parent_and_ordinal({"metadata": {"name": "my-db-10"}}) == ("my-db", 10)
    assert parent_and_ordinal({"metadata": {"name": "web"}}) == ("", -1)


def test_pods_below_the_partition_are_made_at_the_current_revision():
    current = a_set(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}})
    update = a_set(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}})
    update["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    low = new_versioned_pod(current, update, "web-old", "web-new", 1, 0)
    high = new_versioned_pod(current, update, "web-old", "web-new", 2, 0)
    assert low["metadata"]["labels"]["controller-revision-hash"] == "web-old"
    assert low["spec"]["containers"][0]["image"] == "nginx"
    assert high["metadata"]["labels"]["controller-revision-hash"] == "web-new"
    assert high["spec"]["containers"][0]["image"] == "nginx:2"


@pytest.mark.parametrize("when_deleted, when_scaled, ordinal, owners", [
    ("Retain", "Retain", 5, []),
    ("Delete", "Retain", 0, ["StatefulSet"]),
    ("Retain", "Delete", 0, []),
    ("Retain", "Delete", 5, ["Pod"]),
    ("Delete", "Delete", 0, ["StatefulSet"]),
    ("Delete", "Delete", 5, ["Pod"]),
])
def test_claim_owners_follow_the_retention_policy(when_deleted, when_scaled, ordinal, owners):
    set = a_set(persistentVolumeClaimRetentionPolicy={"whenDeleted": when_deleted, "whenScaled": when_scaled})
    pod = {"metadata": {"name": f"web-{ordinal}", "uid": "pod-uid"}}
    claim = {"metadata": {"name": f"www-web-{ordinal}",
                          "ownerReferences": [{"kind": "StatefulSet", "uid": "set-uid"}]}}
    assert [r["kind"] for r in claim_owner_refs(claim, set, pod)] == owners


def test_revisions_record_the_template_and_are_named_by_its_hash():
    set = a_set()
    revision = new_controller_revision(set, {"app": "web"}, template_patch(set), 1, None)
    hash = revision["metadata"]["labels"]["controller-revision-hash"]
    assert revision["metadata"]["name"] == f"web-{hash}"
    assert revision["data"]["spec"]["template"]["$patch"] == "replace"
    assert revision_template(revision) == set["spec"]["template"]
    assert hash == hash_revision(template_patch(set), None) != hash_revision(template_patch(set), 1)
    changed = a_set()
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    other = new_controller_revision(changed, {"app": "web"}, template_patch(changed), 2, None)
    assert equal_revision(revision, new_controller_revision(set, {}, template_patch(set), 7, None))
    assert not equal_revision(revision, other)
    older = {**other, "revision": 1, "metadata": {**other["metadata"], "name": "b"}}
    assert [r["metadata"]["name"] for r in sort_revisions([other, older])] == ["b", other["metadata"]["name"]]
