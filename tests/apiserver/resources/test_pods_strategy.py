from strategy_harness import Harness

POD = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "web", "namespace": "default", "creationTimestamp": "2026-01-01T11:00:00Z"},
    "spec": {"containers": [{"name": "web", "image": "nginx"}]},
}


def pods() -> Harness:
    return Harness("", "pods")


def test_defaults_match_what_the_api_server_returns():
    pod, errors = pods().create(POD)
    assert errors == []
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["securityContext"] == {}
    assert spec["enableServiceLinks"] is True
    assert spec["containers"][0] == {
        "name": "web", "image": "nginx", "imagePullPolicy": "Always", "resources": {},
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
    }
    assert pod["status"] == {"phase": "Pending", "qosClass": "BestEffort"}


def test_pull_policy_follows_the_image_tag():
    pod = {**POD, "spec": {"containers": [
        {"name": "a", "image": "nginx:1.25"},
        {"name": "b", "image": "nginx:latest"},
        {"name": "c", "image": "localhost:5000/app"},
        {"name": "d", "image": "nginx@sha256:" + "0" * 64},
        {"name": "e", "image": "nginx", "imagePullPolicy": "Never"},
    ]}}
    created, _ = pods().create(pod)
    policies = [c["imagePullPolicy"] for c in created["spec"]["containers"]]
    assert policies == ["IfNotPresent", "Always", "Always", "IfNotPresent", "Never"]


def test_nested_defaults_ports_probes_volumes_env():
    pod = {**POD, "spec": {
        "containers": [{
            "name": "web", "image": "nginx:1.25",
            "ports": [{"containerPort": 80}],
            "readinessProbe": {"httpGet": {"port": 80}},
            "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
            "resources": {"limits": {"cpu": "0.5", "memory": "128Mi"}},
            "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}, {"name": "tmp", "mountPath": "/tmp"}],
        }],
        "volumes": [{"name": "cfg", "configMap": {"name": "web"}}, {"name": "tmp"}],
    }}
    created, errors = pods().create(pod)
    assert errors == []
    c = created["spec"]["containers"][0]
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert c["readinessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3,
    }
    assert c["env"][0]["valueFrom"]["fieldRef"] == {"fieldPath": "spec.nodeName", "apiVersion": "v1"}
    assert c["resources"] == {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "500m", "memory": "128Mi"}}
    assert created["spec"]["volumes"] == [
        {"name": "cfg", "configMap": {"name": "web", "defaultMode": 420}}, {"name": "tmp", "emptyDir": {}},
    ]
    assert created["status"]["qosClass"] == "Guaranteed"


def test_qos_burstable_when_requests_below_limits():
    pod = {**POD, "spec": {"containers": [{"name": "web", "image": "nginx", "resources": {
        "requests": {"cpu": "100m"}, "limits": {"cpu": "1", "memory": "1Gi"}}}]}}
    created, _ = pods().create(pod)
    assert created["status"]["qosClass"] == "Burstable"


def test_status_sent_on_create_is_replaced():
    created, _ = pods().create({**POD, "status": {"phase": "Running", "podIP": "1.2.3.4"}})
    assert created["status"] == {"phase": "Pending", "qosClass": "BestEffort"}


def errors_of(spec):
    return pods().create({**POD, "spec": spec})[1]


def test_validation_messages_are_upstreams():
    assert errors_of({"containers": []}) == ["spec.containers: Required value"]
    assert errors_of({"containers": [{"name": "web"}]}) == ["spec.containers[0].image: Required value"]
    assert errors_of({"containers": [{"name": "Web", "image": "x"}]}) == [
        'spec.containers[0].name: Invalid value: "Web": a lowercase RFC 1123 label must consist of lower case '
        "alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  "
        "or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
    ]
    assert errors_of({"containers": [{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]}) == [
        'spec.containers[1].name: Duplicate value: "a"'
    ]
    assert errors_of({"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 70000}]}]}) == [
        "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"
    ]
    assert errors_of({"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80, "protocol": "HTTP"}]}]}) == [
        'spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"'
    ]
    assert errors_of({"containers": [{"name": "a", "image": "x"}], "restartPolicy": "Sometimes"}) == [
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'
    ]


def test_mounts_must_name_a_volume_and_requests_fit_limits():
    assert errors_of({"containers": [{"name": "a", "image": "x", "volumeMounts": [{"name": "data", "mountPath": "/d"}]}]}) == [
        'spec.containers[0].volumeMounts[0].name: Not found: "data"'
    ]
    assert errors_of({"containers": [{"name": "a", "image": "x", "resources": {
        "requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}]}) == [
        'spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1'
    ]


def test_mount_paths_and_host_ports():
    assert errors_of({"containers": [{"name": "a", "image": "x", "volumeMounts": [{"name": "v", "mountPath": "data"}]}],
                      "volumes": [{"name": "v"}]}) == [
        'spec.containers[0].volumeMounts[0].mountPath: Invalid value: "data": must be an absolute path'
    ]
    assert errors_of({"containers": [
        {"name": "a", "image": "x", "ports": [{"containerPort": 80, "hostPort": 8080}]},
        {"name": "b", "image": "x", "ports": [{"containerPort": 81, "hostPort": 8080}]},
    ]}) == ['spec.containers[1].ports[0].hostPort: Duplicate value: "TCP//8080"']
    assert errors_of({"hostNetwork": True, "containers": [
        {"name": "a", "image": "x", "ports": [{"containerPort": 80, "hostPort": 8080}]}]}) == [
        "spec.containers[0].ports[0].containerPort: Invalid value: 80: must match `hostPort` when `hostNetwork` is true"
    ]
    created, errors = pods().create({**POD, "spec": {"hostNetwork": True, "containers": [
        {"name": "a", "image": "x", "ports": [{"containerPort": 8080}]}]}})
    assert errors == [] and created["spec"]["containers"][0]["ports"][0]["hostPort"] == 8080


def test_env_names_and_sources():
    errors = errors_of({"containers": [{"name": "a", "image": "x", "env": [
        {"name": "1BAD", "value": "v"},
        {"name": "OK", "value": "v", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}},
    ]}]})
    assert errors[0].startswith('spec.containers[0].env[0].name: Invalid value: "1BAD": a valid environment variable name')
    assert errors[1] == 'spec.containers[0].env[1].valueFrom: Invalid value: "": may not be specified when `value` is not empty'


def test_update_may_change_only_images_deadline_and_added_tolerations():
    h = pods()
    old, _ = h.create(POD)
    old["metadata"]["resourceVersion"] = "5"
    image_change = {**old, "spec": {**old["spec"], "containers": [{**old["spec"]["containers"][0], "image": "nginx:1.26"}]}}
    updated, errors = h.update(image_change, old)
    assert errors == []
    assert updated["spec"]["containers"][0]["image"] == "nginx:1.26"
    port_change = {**old, "spec": {**old["spec"], "containers": [{**old["spec"]["containers"][0], "ports": [{"containerPort": 81}]}]}}
    _, errors = h.update(port_change, old)
    assert errors == [
        "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to "
        "existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
    ]
    _, errors = h.update({**old, "spec": {**old["spec"], "nodeName": "node-1"}}, old)
    assert errors and errors[0].startswith("spec: Forbidden: pod updates may not change")
    added = {**old, "spec": {**old["spec"], "tolerations": [{"key": "k", "operator": "Exists"}]}}
    assert h.update(added, old)[1] == []


def test_update_keeps_status_and_status_update_keeps_spec():
    h = pods()
    old, _ = h.create(POD)
    old["status"] = {"phase": "Running", "qosClass": "BestEffort"}
    updated, _ = h.update({**old, "status": {"phase": "Failed"}}, old)
    assert updated["status"]["phase"] == "Running"
    body = {**old, "spec": {**old["spec"], "nodeName": "sneaky"}, "status": {"phase": "Succeeded", "podIP": "127.1.0.5"},
            "metadata": {**old["metadata"], "labels": {"ready": "yes"}}}
    updated, errors = h.update(body, old, status=True)
    assert errors == []
    assert "nodeName" not in updated["spec"]
    assert updated["status"]["phase"] == "Succeeded"
    assert updated["status"]["podIPs"] == [{"ip": "127.1.0.5"}]
    assert updated["status"]["qosClass"] == "BestEffort"
    assert updated["metadata"]["labels"] == {"ready": "yes"}


def test_status_update_rejects_unknown_phase_and_container():
    h = pods()
    old, _ = h.create(POD)
    _, errors = h.update({**old, "status": {"phase": "Done", "containerStatuses": [{"name": "nope"}]}}, old, status=True)
    assert errors == [
        'status.phase: Unsupported value: "Done": supported values: "Pending", "Running", "Succeeded", "Failed", "Unknown"',
        'status.containerStatuses[0].name: Not found: "nope"',
    ]


def test_selectable_fields():
    pod, _ = pods().create({**POD, "spec": {**POD["spec"], "nodeName": "node-1"}})
    pod["status"].update({"podIPs": [{"ip": "127.1.0.2"}]})
    fields = pods().strategy.selectable_fields(pod)
    assert fields["spec.nodeName"] == "node-1"
    assert fields["status.phase"] == "Pending"
    assert fields["status.podIP"] == "127.1.0.2"
    assert fields["metadata.namespace"] == "default"
    assert fields["spec.restartPolicy"] == "Always"


def crashing_pod(**status):
    return {
        "metadata": {"name": "api", "creationTimestamp": "2026-01-01T11:50:00Z"},
        "spec": {"containers": [{"name": "api", "image": "crash"}], "nodeName": "node-1"},
        "status": {"phase": "Running", "podIPs": [{"ip": "127.1.0.7"}], **status},
    }


def test_table_shows_crashloopbackoff_and_restart_age():
    pod = crashing_pod(containerStatuses=[{
        "name": "api", "ready": False, "restartCount": 5,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 2m40s"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2026-01-01T11:59:20Z"}},
    }])
    assert pods().row(pod, wide=True) == {
        "NAME": "api", "READY": "0/1", "STATUS": "CrashLoopBackOff", "RESTARTS": "5 (40s ago)", "AGE": "10m",
        "IP": "127.1.0.7", "NODE": "node-1", "NOMINATED NODE": "<none>", "READINESS GATES": "<none>",
    }


def test_table_status_cells():
    h = pods()
    running = crashing_pod(containerStatuses=[{"name": "api", "ready": True, "restartCount": 0, "state": {"running": {}}}])
    assert h.row(running)["STATUS"] == "Running" and h.row(running)["READY"] == "1/1"
    pulling = crashing_pod(phase="Pending", containerStatuses=[
        {"name": "api", "ready": False, "state": {"waiting": {"reason": "ErrImagePull"}}}])
    assert h.row(pulling)["STATUS"] == "ErrImagePull"
    done = crashing_pod(phase="Succeeded", containerStatuses=[
        {"name": "api", "ready": False, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}])
    assert h.row(done)["STATUS"] == "Completed"
    killed = crashing_pod(containerStatuses=[
        {"name": "api", "ready": False, "state": {"terminated": {"exitCode": 137, "signal": 9}}}])
    assert h.row(killed)["STATUS"] == "Signal:9"
    deleting = crashing_pod(containerStatuses=[{"name": "api", "ready": True, "state": {"running": {}}}])
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T11:59:00Z"
    assert h.row(deleting)["STATUS"] == "Terminating"
    pending = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending"}}
    assert h.row(pending, wide=True) | {} == {
        "NAME": "p", "READY": "0/1", "STATUS": "Pending", "RESTARTS": "0", "AGE": "<unknown>",
        "IP": "<none>", "NODE": "<none>", "NOMINATED NODE": "<none>", "READINESS GATES": "<none>",
    }


def test_table_init_containers():
    h = pods()
    pod = crashing_pod(initContainerStatuses=[
        {"name": "init", "ready": False, "restartCount": 0, "state": {"running": {}}}],
        containerStatuses=[{"name": "api", "ready": False, "state": {"waiting": {"reason": "PodInitializing"}}}])
    pod["spec"]["initContainers"] = [{"name": "init", "image": "busybox"}]
    assert h.row(pod)["STATUS"] == "Init:0/1"
    pod["status"]["initContainerStatuses"][0]["state"] = {"waiting": {"reason": "CrashLoopBackOff"}}
    assert h.row(pod)["STATUS"] == "Init:CrashLoopBackOff"
    pod["status"]["initContainerStatuses"][0]["state"] = {"terminated": {"exitCode": 2}}
    assert h.row(pod)["STATUS"] == "Init:ExitCode:2"


def test_readiness_gates_cell():
    pod = crashing_pod(conditions=[{"type": "example.com/ready", "status": "True"}])
    pod["spec"]["readinessGates"] = [{"conditionType": "example.com/ready"}, {"conditionType": "example.com/other"}]
    assert pods().row(pod, wide=True)["READINESS GATES"] == "1/2"
