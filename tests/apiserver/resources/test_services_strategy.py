import random

import pytest
from strategy_harness import Harness

from kubelab.apiserver.resources.allocators import (
    AllocationError,
    ClusterIPAllocator,
    NodePortAllocator,
    RangeFull,
)
from kubelab.apiserver.resources.services import assign_addresses


def errors_of(errors):
    return [str(e) for e in errors]


SERVICE = {
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "web", "namespace": "default", "creationTimestamp": "2026-01-01T11:00:00Z"},
    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
}


def test_defaults():
    svc, errors = Harness("", "services").create(SERVICE)
    assert errors == []
    assert svc["spec"] == {
        "selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
        "type": "ClusterIP", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster",
        "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"],
    }
    assert svc["status"] == {"loadBalancer": {}}
    lb, _ = Harness("", "services").create({**SERVICE, "spec": {**SERVICE["spec"], "type": "LoadBalancer"}})
    assert lb["spec"]["externalTrafficPolicy"] == "Cluster"
    assert lb["spec"]["allocateLoadBalancerNodePorts"] is True


def test_validation():
    h = Harness("", "services")
    _, errors = h.create({**SERVICE, "spec": {"selector": {"app": "web"}}})
    assert errors == ["spec.ports: Required value"]
    _, errors = h.create({**SERVICE, "spec": {"ports": [{"port": 80}, {"port": 443}]}})
    assert errors == ["spec.ports[0].name: Required value", "spec.ports[1].name: Required value"]
    _, errors = h.create({**SERVICE, "spec": {"ports": [{"port": 80, "nodePort": 30080}]}})
    assert errors == ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]
    _, errors = h.create({**SERVICE, "spec": {"type": "Balanced", "ports": [{"port": 0}]}})
    assert errors == [
        'spec.type: Unsupported value: "Balanced": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
        "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
    ]
    _, errors = h.create({**SERVICE, "spec": {"ports": [{"port": 80}], "clusterIP": "10.0.0.300"}})
    assert errors == ['spec.clusterIPs[0]: Invalid value: "10.0.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)']


def test_allocation_of_cluster_ip_and_node_ports():
    h = Harness("", "services")
    svc, _ = h.create({**SERVICE, "spec": {**SERVICE["spec"], "type": "NodePort"}})
    errors = assign_addresses(svc, None, {"127.96.0.1"}, {30080}, rng=random.Random(1))
    assert errors == []
    ip = svc["spec"]["clusterIP"]
    assert svc["spec"]["clusterIPs"] == [ip] and ClusterIPAllocator().contains(ip) and ip != "127.96.0.1"
    port = svc["spec"]["ports"][0]["nodePort"]
    assert 30000 <= port <= 32767 and port != 30080
    assert h.row(svc)["PORT(S)"] == f"80:{port}/TCP"

    taken = {**SERVICE, "spec": {**SERVICE["spec"], "type": "NodePort", "clusterIP": "127.96.0.10",
                                 "ports": [{"port": 80, "nodePort": 30080}]}}
    svc2, errors = h.create(taken)
    assert errors == []
    assert errors_of(assign_addresses(svc2, None, {"127.96.0.10"}, {30080})) == [
        'spec.clusterIPs: Invalid value: []string{"127.96.0.10"}: failed to allocate IP 127.96.0.10: provided IP is already allocated'
    ]
    svc3, _ = h.create({**taken, "spec": {**taken["spec"], "clusterIP": ""}})
    assert errors_of(assign_addresses(svc3, None, set(), {30080})) == [
        "spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"
    ]
    svc4, _ = h.create({**taken, "spec": {**taken["spec"], "clusterIP": "", "ports": [{"port": 80, "nodePort": 8080}]}})
    assert errors_of(assign_addresses(svc4, None, set(), set())) == [
        "spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. "
        "The range of valid ports is 30000-32767"
    ]


def test_update_keeps_allocated_addresses_and_refuses_changing_them():
    h = Harness("", "services")
    old, _ = h.create({**SERVICE, "spec": {**SERVICE["spec"], "type": "NodePort"}})
    assign_addresses(old, None, set(), set())
    resent = {**SERVICE, "spec": {**SERVICE["spec"], "type": "NodePort"}}
    updated, errors = h.update(resent, old)
    assert errors == []
    assert updated["spec"]["clusterIP"] == old["spec"]["clusterIP"]
    assert updated["spec"]["ports"][0]["nodePort"] == old["spec"]["ports"][0]["nodePort"]
    assert errors_of(assign_addresses(updated, old, set(), set())) == []
    moved = {**old, "spec": {**old["spec"], "clusterIP": "127.96.0.99", "clusterIPs": ["127.96.0.99"]}}
    _, errors = h.update(moved, old)
    assert errors == ['spec.clusterIPs[0]: Invalid value: []string{"127.96.0.99"}: may not change once set']


def test_headless_and_external_name():
    h = Harness("", "services")
    headless, errors = h.create({**SERVICE, "spec": {"clusterIP": "None", "selector": {"app": "db"}}})
    assert errors == []
    assert errors_of(assign_addresses(headless, None, set(), set())) == []
    assert headless["spec"]["clusterIPs"] == ["None"]
    assert h.row(headless)["CLUSTER-IP"] == "None" and h.row(headless)["PORT(S)"] == "<none>"
    ext, errors = h.create({**SERVICE, "spec": {"type": "ExternalName", "externalName": "example.com"}})
    assert errors == []
    assert "ipFamilies" not in ext["spec"]
    assert h.row(ext) == {"NAME": "web", "TYPE": "ExternalName", "CLUSTER-IP": "<none>", "EXTERNAL-IP": "example.com",
                          "PORT(S)": "<none>", "AGE": "60m"}


def test_table_external_ip():
    h = Harness("", "services")
    lb, _ = h.create({**SERVICE, "spec": {**SERVICE["spec"], "type": "LoadBalancer", "clusterIP": "127.96.0.20"}})
    lb["spec"]["ports"][0]["nodePort"] = 31000
    assert h.row(lb, wide=True) == {
        "NAME": "web", "TYPE": "LoadBalancer", "CLUSTER-IP": "127.96.0.20", "EXTERNAL-IP": "<pending>",
        "PORT(S)": "80:31000/TCP", "AGE": "60m", "SELECTOR": "app=web",
    }
    lb["status"] = {"loadBalancer": {"ingress": [{"ip": "127.200.0.1"}]}}
    assert h.row(lb)["EXTERNAL-IP"] == "127.200.0.1"


def test_cluster_ip_allocator_ranges():
    alloc = ClusterIPAllocator("127.96.0.0/12")
    assert alloc.address(0) == "127.96.0.1" and alloc.address(9) == "127.96.0.10"
    assert not alloc.contains("127.96.0.0") and not alloc.contains("127.111.255.255")
    assert alloc.contains("127.111.255.254") and not alloc.contains("10.0.0.1")
    with pytest.raises(AllocationError, match=r"the provided IP \(10.0.0.1\) is not in the valid range. "
                                              r"The range of valid IPs is 127.96.0.0/12"):
        alloc.allocate_specific("10.0.0.1", set())
    # Dynamic allocation avoids the static band (where .10 lives) while the upper band has room.
    picks = {alloc.allocate(set(), random.Random(seed)) for seed in range(50)}
    assert all(int(ip.split(".")[-1]) + 256 * int(ip.split(".")[-2]) > 256 for ip in picks if ip.startswith("127.96.0."))


def test_small_range_fills_up():
    alloc = ClusterIPAllocator("10.0.0.0/29")
    used: set[str] = set()
    for _ in range(6):
        used.add(alloc.allocate(used, random.Random(0)))
    assert used == {f"10.0.0.{i}" for i in range(1, 7)}
    with pytest.raises(RangeFull):
        alloc.allocate(used)
    ports = NodePortAllocator((30000, 30002))
    assert ports.allocate({30000, 30001}) == 30002
    with pytest.raises(RangeFull):
        ports.allocate({30000, 30001, 30002})
