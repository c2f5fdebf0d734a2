"""Strategies never crash on what the decoder lets through.

A wrong JSON type is refused before any strategy runs (:func:`kubelab.apiserver.openapi.decode_error`,
upstream's 400 from the JSON decoder); whatever passes that must give field errors, not a 500.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from strategy_harness import NOW

from kubelab.api.resources import ResourceRegistry
from kubelab.apiserver.openapi import decode_error
from kubelab.apiserver.resources import status_strategy_for, strategy_for

TEMPLATE = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{
    "name": "a", "image": "nginx", "ports": [{"containerPort": 80}], "env": [{"name": "X", "value": "1"}],
    "resources": {"limits": {"cpu": "1"}}, "volumeMounts": [{"name": "v", "mountPath": "/v"}],
    "readinessProbe": {"httpGet": {"port": 80}}}], "volumes": [{"name": "v", "emptyDir": {}}],
    "tolerations": [{"key": "k", "operator": "Exists"}]}}
WORKLOAD_SPEC = {"replicas": 1, "selector": {"matchLabels": {"app": "a"}}, "template": TEMPLATE}
SAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("", "pods"): {"spec": TEMPLATE["spec"], "status": {"phase": "Running", "containerStatuses": [
        {"name": "a", "restartCount": 1, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
         "lastState": {"terminated": {"finishedAt": "2026-01-01T11:00:00Z"}}}]}},
    ("", "services"): {"spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30001}], "selector": {"a": "b"}}},
    ("", "configmaps"): {"data": {"a": "b"}, "binaryData": {"c": "ZA=="}},
    ("", "secrets"): {"type": "Opaque", "data": {"a": "Yg=="}, "stringData": {"c": "d"}},
    ("", "events"): {"involvedObject": {"kind": "Pod", "name": "a"}, "reason": "R", "count": 2,
                     "firstTimestamp": "2026-01-01T11:00:00Z", "series": {"count": 2, "lastObservedTime": "2026-01-01T11:00:00Z"}},
    ("", "nodes"): {"spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}, "status": {
        "conditions": [{"type": "Ready", "status": "True"}], "addresses": [{"type": "InternalIP", "address": "127.0.0.2"}],
        "capacity": {"cpu": "2"}, "nodeInfo": {"kubeletVersion": "v1"}}},
    ("", "namespaces"): {"spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}},
    ("", "endpoints"): {"subsets": [{"addresses": [{"ip": "127.0.0.2"}], "ports": [{"port": 80}]}]},
    ("", "persistentvolumeclaims"): {"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}},
    ("", "persistentvolumes"): {"spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/x"}}},
    ("", "serviceaccounts"): {"secrets": [{"name": "s"}]},
    ("apps", "deployments"): {"spec": {**WORKLOAD_SPEC, "strategy": {"type": "RollingUpdate"}}},
    ("apps", "replicasets"): {"spec": WORKLOAD_SPEC},
    ("apps", "statefulsets"): {"spec": {**WORKLOAD_SPEC, "volumeClaimTemplates": [{"metadata": {"name": "d"}, "spec": {}}]}},
    ("apps", "daemonsets"): {"spec": WORKLOAD_SPEC},
    ("apps", "controllerrevisions"): {"data": {}, "revision": 1},
    ("batch", "jobs"): {"spec": {"template": {**TEMPLATE, "spec": {**TEMPLATE["spec"], "restartPolicy": "Never"}}},
                        "status": {"startTime": "2026-01-01T11:00:00Z"}},
    ("networking.k8s.io", "ingresses"): {"spec": {"rules": [{"host": "a.b", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "s", "port": {"number": 80}}}}]}}]}},
    ("networking.k8s.io", "ingressclasses"): {"spec": {"controller": "a.io/b", "parameters": {"kind": "K", "name": "n"}}},
    ("discovery.k8s.io", "endpointslices"): {"addressType": "IPv4", "ports": [{"port": 80}], "endpoints": [{"addresses": ["127.0.0.2"]}]},
    ("coordination.k8s.io", "leases"): {"spec": {"holderIdentity": "h", "leaseDurationSeconds": 10}},
    ("events.k8s.io", "events"): {"eventTime": "2026-01-01T11:00:00.000000Z", "regarding": {"kind": "Pod"}, "note": "n",
                                  "series": {"count": 2}},
    ("apiextensions.k8s.io", "customresourcedefinitions"): {"spec": {
        "group": "a.example.com", "scope": "Namespaced", "names": {"plural": "bs", "kind": "B"},
        "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {"type": "object"}},
                      "additionalPrinterColumns": [{"name": "X", "type": "string", "jsonPath": ".spec.x"}]}]}},
}
JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=False), st.text(max_size=5),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += _paths(child, (*prefix, i))
    return found


def _replace(obj: Any, path: tuple, value: Any) -> None:
    for step in path[:-1]:
        obj = obj[step]
    obj[path[-1]] = value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_mistyped_field_never_crashes_a_strategy(data):
    group, plural = data.draw(st.sampled_from(sorted(SAMPLES)))
    info = next(i for i in ResourceRegistry() if (i.group, i.plural) == (group, plural))
    sample = copy.deepcopy(SAMPLES[(group, plural)])
    sample["metadata"] = {"name": "a", "namespace": "default", "uid": "u", "creationTimestamp": "2026-01-01T11:00:00Z"}
    # The metadata object itself is the registry's to check (names, uid); its fields are fair game.
    path = data.draw(st.sampled_from([p for p in _paths(sample) if p != ("metadata",)]))
    _replace(sample, path, data.draw(JUNK))
    assume(decode_error(sample, info.group, info.version, info.kind) is None)
    strategy, status = strategy_for(info), status_strategy_for(info)
    old = copy.deepcopy(sample)
    obj = copy.deepcopy(sample)
    strategy.default(obj)
    strategy.prepare_for_create(obj)
    strategy.validate(obj)
    strategy.canonicalize(obj)
    strategy.selectable_fields(obj)
    assert len(strategy.table_cells(obj, NOW)) == len(strategy.table_columns())
    assert len(strategy.table_cells(old, NOW)) == len(strategy.table_columns())
    update = copy.deepcopy(sample)
    strategy.prepare_for_update(update, old)
    strategy.validate_update(update, old)
    status.prepare_for_update(copy.deepcopy(sample), old)
    status.validate_update(copy.deepcopy(sample), old)
