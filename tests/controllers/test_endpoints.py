"""The Endpoints and EndpointSlice controllers: their decisions offline, and a Service's pods on a real cluster."""

from __future__ import annotations

import pytest

from kubelab.controllers.endpoints import repack_subsets, truncate
from kubelab.controllers.endpointslice import endpoint_key, reconcile_port_mapping
from kubelab.controllers.endpointutil import find_port, should_pod_be_in_endpoints

# -- offline ---------------------------------------------------------------------------------------


def address(ip, uid):
    return {"ip": ip, "targetRef": {"kind": "Pod", "uid": uid}}


def test_repacking_groups_addresses_serving_the_same_ports():
    http = {"name": "http", "port": 8080, "protocol": "TCP"}
    metrics = {"name": "metrics", "port": 9090, "protocol": "TCP"}
    a, b, c = address("10.0.0.1", "a"), address("10.0.0.2", "b"), address("10.0.0.3", "c")
    subsets = [
        {"addresses": [b], "ports": [http]}, {"addresses": [a], "ports": [http]},
        {"addresses": [a], "ports": [metrics]}, {"addresses": [b], "ports": [metrics]},
        {"notReadyAddresses": [c], "ports": [http]},
    ]
    assert repack_subsets(subsets) == [
        {"addresses": [a, b], "ports": [metrics]},
        {"addresses": [a, b], "notReadyAddresses": [c], "ports": [http]},
    ]


def test_an_address_not_ready_anywhere_is_not_ready():
    http = {"name": "http", "port": 80, "protocol": "TCP"}
    a = address("10.0.0.1", "a")
    assert repack_subsets([{"addresses": [a], "ports": [http]}, {"notReadyAddresses": [a], "ports": [http]}]) == [
        {"notReadyAddresses": [a], "ports": [http]}]


def test_more_than_a_thousand_addresses_are_truncated_not_ready_first():
    ready = [address(f"10.0.{i // 250}.{i % 250}", str(i)) for i in range(900)]
    not_ready = [address(f"10.1.{i // 250}.{i % 250}", f"n{i}") for i in range(300)]
    subsets = [{"addresses": ready, "notReadyAddresses": not_ready}]
    assert truncate(subsets)
    assert len(subsets[0]["addresses"]) == 900 and len(subsets[0]["notReadyAddresses"]) == 100
    assert not truncate([{"addresses": ready}])


def test_named_target_ports_resolve_per_pod():
    pod = {"spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080},
                                                            {"name": "dns", "containerPort": 53, "protocol": "UDP"}]}]}}
    assert find_port(pod, {"port": 80, "targetPort": "http", "protocol": "TCP"}) == 8080
    assert find_port(pod, {"port": 53, "targetPort": "dns", "protocol": "TCP"}) is None
    assert find_port(pod, {"port": 53, "targetPort": "dns", "protocol": "UDP"}) == 53
    assert find_port(pod, {"port": 80, "targetPort": 9000}) == 9000
    assert find_port(pod, {"port": 80}) == 80


@pytest.mark.parametrize("restart, phase, deleting, include_terminating, expected", [
    ("Always", "Running", False, False, True),
    ("Always", "Running", True, False, False),
    ("Always", "Running", True, True, True),
    ("Never", "Failed", False, True, False),
    ("OnFailure", "Failed", False, True, True),
    ("OnFailure", "Succeeded", False, True, False),
])
def test_which_pods_are_endpoints(restart, phase, deleting, include_terminating, expected):
    pod = {"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"} if deleting else {},
           "spec": {"restartPolicy": restart}, "status": {"phase": phase, "podIP": "10.0.0.1"}}
    assert should_pod_be_in_endpoints(pod, include_terminating) is expected
    assert not should_pod_be_in_endpoints({"metadata": {}, "spec": {}, "status": {"phase": "Pending"}}, True)


def endpoint(n, ready=True):
    return {"addresses": [f"10.0.0.{n}"], "conditions": {"ready": ready}, "targetRef": {"uid": f"u{n}"}}


def a_slice(name, endpoints):
    return {"metadata": {"name": name, "labels": {"l": "v"}}, "endpoints": endpoints, "addressType": "IPv4"}


def desired(*endpoints):
    return {endpoint_key(e): e for e in endpoints}


def test_slices_change_as_little_as_possible():
    existing = [a_slice("s1", [endpoint(1), endpoint(2)]), a_slice("s2", [endpoint(3)])]
    make = lambda: a_slice("", [])  # noqa: E731
    # Nothing changed: nothing to write.
    assert reconcile_port_mapping(existing, desired(endpoint(1), endpoint(2), endpoint(3)), {"l": "v"}, make, 3) \
        == ([], [], [])
    # One endpoint changed: only its slice is rewritten, and the new endpoint joins it there.
    create, update, delete = reconcile_port_mapping(
        existing, desired(endpoint(1), endpoint(2), endpoint(3, ready=False), endpoint(4)), {"l": "v"}, make, 3)
    assert (create, delete) == ([], [])
    assert [(s["metadata"]["name"], [e["addresses"][0] for e in s["endpoints"]]) for s in update] == \
        [("s2", ["10.0.0.3", "10.0.0.4"])]
    # An endpoint gone from a slice that keeps none: the slice goes.
    create, update, delete = reconcile_port_mapping(existing, desired(endpoint(1), endpoint(2)), {"l": "v"}, make, 3)
    assert (create, update, [s["metadata"]["name"] for s in delete]) == ([], [], ["s2"])


def test_new_endpoints_fill_new_slices_up_to_the_maximum():
    create, update, delete = reconcile_port_mapping(
        [], desired(*[endpoint(n) for n in range(1, 6)]), {"l": "v"}, lambda: a_slice("", []), 2)
    assert [len(s["endpoints"]) for s in create] == [2, 2, 1]
    assert (update, delete) == ([], [])
