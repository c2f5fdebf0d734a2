"""Namespaces, nodes, events, volumes, networking and leases."""

from strategy_harness import Harness

from kubelab.apiserver.resources import finalize_strategy_for
from kubelab.apiserver.resources.events import from_core, to_core


def test_namespace_defaults_finalizer_label_and_finalize():
    h = Harness("", "namespaces")
    ns, errors = h.create({"metadata": {"name": "dev"}})
    assert errors == []
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "dev"}
    assert ns["spec"] == {"finalizers": ["kubernetes"]}
    assert ns["status"] == {"phase": "Active"}
    assert h.row(ns) == {"NAME": "dev", "STATUS": "Active", "AGE": "<unknown>"}
    assert h.strategy.selectable_fields(ns) == {"metadata.name": "dev", "status.phase": "Active", "name": "dev"}
    updated, _ = h.update({**ns, "spec": {}}, ns)
    assert updated["spec"] == {"finalizers": ["kubernetes"]}
    finalize = finalize_strategy_for(h.strategy.info)
    body = {**ns, "spec": {}, "metadata": {**ns["metadata"], "labels": {"x": "y"}}}
    finalize.prepare_for_update(body, ns)
    assert body["spec"] == {} and body["metadata"]["labels"] == ns["metadata"]["labels"]
    _, errors = h.create({"metadata": {"name": "x"}, "spec": {"finalizers": ["custom"]}})
    assert errors == ['spec.finalizers: Invalid value: "custom": name is neither a standard finalizer name nor is it fully qualified']


NODE = {
    "metadata": {"name": "node-1", "creationTimestamp": "2026-01-01T10:00:00Z",
                 "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker"}},
    "spec": {},
    "status": {
        "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True"}],
        "addresses": [{"type": "InternalIP", "address": "127.1.0.1"}, {"type": "Hostname", "address": "node-1"}],
        "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "kubelab", "kernelVersion": "6.1", "containerRuntimeVersion": "kubelab://0.1"},
    },
}


def test_node_keeps_status_on_create_and_prints_roles():
    h = Harness("", "nodes")
    node, errors = h.create(NODE)
    assert errors == []
    assert node["status"]["allocatable"] == {"cpu": "4", "memory": "8Gi", "pods": "110"}
    assert h.row(node, wide=True) == {
        "NAME": "node-1", "STATUS": "Ready", "ROLES": "control-plane,worker", "AGE": "120m", "VERSION": "v1.33.0",
        "INTERNAL-IP": "127.1.0.1", "EXTERNAL-IP": "<none>", "OS-IMAGE": "kubelab", "KERNEL-VERSION": "6.1",
        "CONTAINER-RUNTIME": "kubelab://0.1",
    }
    cordoned = {**node, "spec": {"unschedulable": True}, "status": {**node["status"], "conditions": [{"type": "Ready", "status": "Unknown"}]}}
    assert h.row(cordoned)["STATUS"] == "NotReady,SchedulingDisabled"
    assert h.strategy.selectable_fields(cordoned)["spec.unschedulable"] == "true"
    _, errors = h.create({**NODE, "spec": {"taints": [{"key": "gpu", "effect": "Sometimes"}]}})
    assert errors == ['spec.taints[0].effect: Unsupported value: "Sometimes": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"']


CORE_EVENT = {
    "metadata": {"name": "web.17a", "namespace": "default"},
    "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web", "uid": "u1", "fieldPath": "spec.containers{web}"},
    "reason": "BackOff", "message": "Back-off restarting failed container\n", "type": "Warning",
    "source": {"component": "kubelet", "host": "node-1"},
    "firstTimestamp": "2026-01-01T11:50:00Z", "lastTimestamp": "2026-01-01T11:59:00Z", "count": 7,
}


def test_core_event_table_and_fields():
    h = Harness("", "events")
    event, errors = h.create(CORE_EVENT)
    assert errors == []
    assert h.row(event, wide=True) == {
        "LAST SEEN": "60s", "TYPE": "Warning", "REASON": "BackOff", "OBJECT": "pod/web", "SUBOBJECT": "spec.containers{web}",
        "SOURCE": "kubelet, node-1", "MESSAGE": "Back-off restarting failed container", "FIRST SEEN": "10m", "COUNT": 7,
        "NAME": "web.17a",
    }
    fields = h.strategy.selectable_fields(event)
    assert fields["involvedObject.name"] == "web" and fields["involvedObject.uid"] == "u1"
    assert fields["source"] == "kubelet" and fields["type"] == "Warning" and fields["reason"] == "BackOff"
    _, errors = h.create({**CORE_EVENT, "involvedObject": {**CORE_EVENT["involvedObject"], "namespace": "other"}})
    assert errors == ['involvedObject.namespace: Invalid value: "other": does not match event.namespace']


EVENTS_V1 = {
    "apiVersion": "events.k8s.io/v1", "kind": "Event",
    "metadata": {"name": "web.18b", "namespace": "default"},
    "eventTime": "2026-01-01T11:59:30.000000Z", "reportingController": "kubelab.io/scheduler",
    "reportingInstance": "scheduler-1", "action": "Binding", "reason": "Scheduled",
    "regarding": {"kind": "Pod", "namespace": "default", "name": "web"}, "note": "Successfully assigned default/web to node-1",
    "type": "Normal",
}


def test_events_v1_round_trip_through_core():
    core = to_core(EVENTS_V1)
    assert core["involvedObject"] == EVENTS_V1["regarding"]
    assert core["message"] == EVENTS_V1["note"]
    assert core["reportingComponent"] == "kubelab.io/scheduler"
    assert "regarding" not in core and "note" not in core
    back = from_core(core)
    assert back == EVENTS_V1
    legacy = from_core({**CORE_EVENT, "apiVersion": "v1", "kind": "Event"})
    assert legacy["deprecatedCount"] == 7 and legacy["deprecatedSource"] == {"component": "kubelet", "host": "node-1"}
    assert legacy["deprecatedFirstTimestamp"] == "2026-01-01T11:50:00Z" and legacy["eventTime"] is None
    assert to_core(legacy)["count"] == 7


def test_events_v1_validation_and_table():
    h = Harness("events.k8s.io", "events")
    _, errors = h.create(EVENTS_V1)
    assert errors == []
    assert h.row(EVENTS_V1) == {"LAST SEEN": "30s", "TYPE": "Normal", "REASON": "Scheduled", "OBJECT": "pod/web",
                                "MESSAGE": "Successfully assigned default/web to node-1"}
    _, errors = h.create({**EVENTS_V1, "reportingController": "", "action": "", "type": "Info"})
    assert errors == [
        "reportingController: Required value",
        "reportingController: Invalid value: \"\": name part must be non-empty",
        "reportingController: Invalid value: \"\": name part must consist of alphanumeric characters, '-', '_' or '.', "
        "and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used "
        "for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        "action: Required value",
        'type: Invalid value: "": has invalid value: Info',
    ]
    assert h.strategy.selectable_fields(EVENTS_V1)["regarding.name"] == "web"


def test_pvc_and_pv():
    pvc_h = Harness("", "persistentvolumeclaims")
    pvc, errors = pvc_h.create({"metadata": {"name": "data", "namespace": "default"},
                                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    assert errors == []
    assert pvc["spec"]["volumeMode"] == "Filesystem" and pvc["status"] == {"phase": "Pending"}
    assert pvc_h.row(pvc) == {"NAME": "data", "STATUS": "Pending", "VOLUME": "", "CAPACITY": "", "ACCESS MODES": "",
                              "STORAGECLASS": "", "VOLUMEATTRIBUTESCLASS": "<unset>", "AGE": "<unknown>"}
    pvc["spec"]["volumeName"] = "pv-1"
    pvc["status"] = {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce", "ReadOnlyMany"]}
    assert pvc_h.row(pvc)["ACCESS MODES"] == "RWO,ROX" and pvc_h.row(pvc)["CAPACITY"] == "1Gi"
    _, errors = pvc_h.create({"metadata": {"name": "x"}, "spec": {"accessModes": ["ReadWriteSometimes"]}})
    assert errors == [
        'spec.accessModes: Unsupported value: "ReadWriteSometimes": supported values: "ReadOnlyMany", "ReadWriteMany", '
        '"ReadWriteOnce", "ReadWriteOncePod"',
        "spec.resources[storage]: Required value",
    ]
    pv_h = Harness("", "persistentvolumes")
    pv, errors = pv_h.create({"metadata": {"name": "pv-1"}, "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/tmp/pv-1"},
        "claimRef": {"namespace": "default", "name": "data"}}})
    assert errors == []
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain" and pv["status"] == {"phase": "Pending"}
    assert pv_h.row(pv)["CLAIM"] == "default/data" and pv_h.row(pv)["RECLAIM POLICY"] == "Retain"


def test_ingress_validation_and_table():
    h = Harness("networking.k8s.io", "ingresses")
    ing = {"metadata": {"name": "web", "namespace": "default"}, "spec": {"ingressClassName": "kubelab", "rules": [
        {"host": "web.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}
    created, errors = h.create(ing)
    assert errors == [] and created["metadata"]["generation"] == 1
    created["status"] = {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}
    assert h.row(created) == {"NAME": "web", "CLASS": "kubelab", "HOSTS": "web.example.com", "ADDRESS": "127.0.0.1",
                              "PORTS": "80", "AGE": "<unknown>"}
    bad = {"metadata": {"name": "x"}, "spec": {"rules": [{"http": {"paths": [
        {"path": "api", "backend": {"service": {"name": "web", "port": {}}}}]}}]}}
    _, errors = h.create(bad)
    assert errors == [
        "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified",
        "spec.rules[0].http.paths[0].backend.service.port: Required value: port name or number is required",
    ]


def test_ingressclass_endpointslice_lease_endpoints():
    ic = Harness("networking.k8s.io", "ingressclasses")
    obj, errors = ic.create({"metadata": {"name": "kubelab"}, "spec": {"controller": "kubelab.io/ingress"}})
    assert errors == [] and ic.row(obj) == {"NAME": "kubelab", "CONTROLLER": "kubelab.io/ingress", "PARAMETERS": "<none>", "AGE": "<unknown>"}
    _, errors = ic.create({"metadata": {"name": "x"}, "spec": {"controller": "nginx"}})
    assert errors == ['spec.controller: Invalid value: "nginx": must be a domain-prefixed path (such as "acme.io/foo")']

    es = Harness("discovery.k8s.io", "endpointslices")
    slice_, errors = es.create({"metadata": {"name": "web-abc", "namespace": "default"}, "addressType": "IPv4",
                                "ports": [{"port": 80}], "endpoints": [{"addresses": [f"127.1.0.{i}"]} for i in range(2, 7)]})
    assert errors == []
    assert slice_["ports"] == [{"port": 80, "name": "", "protocol": "TCP"}]
    assert es.row(slice_) == {"NAME": "web-abc", "ADDRESSTYPE": "IPv4", "PORTS": "80",
                              "ENDPOINTS": "127.1.0.2,127.1.0.3,127.1.0.4 + 2 more...", "AGE": "<unknown>"}

    lease = Harness("coordination.k8s.io", "leases")
    obj, errors = lease.create({"metadata": {"name": "kube-scheduler"}, "spec": {"holderIdentity": "sched-1", "leaseDurationSeconds": 15}})
    assert errors == [] and lease.row(obj)["HOLDER"] == "sched-1"
    assert lease.create({"metadata": {"name": "x"}, "spec": {"leaseDurationSeconds": 0}})[1] == [
        "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"
    ]

    ep = Harness("", "endpoints")
    obj, errors = ep.create({"metadata": {"name": "web"}, "subsets": [
        {"addresses": [{"ip": "127.1.0.2"}, {"ip": "127.1.0.3"}], "ports": [{"port": 8080}]}]})
    assert errors == [] and obj["subsets"][0]["ports"][0]["protocol"] == "TCP"
    assert ep.row(obj)["ENDPOINTS"] == "127.1.0.2:8080,127.1.0.3:8080"
    assert ep.row({"metadata": {"name": "none"}})["ENDPOINTS"] == "<none>"
