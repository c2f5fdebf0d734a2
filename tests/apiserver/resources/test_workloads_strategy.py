from strategy_harness import Harness

TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}
DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default", "creationTimestamp": "2026-01-01T11:00:00Z"},
    "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE},
}


def test_deployment_defaults_and_generation():
    h = Harness("apps", "deployments")
    d, errors = h.create(DEPLOYMENT)
    assert errors == []
    spec = d["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    assert spec["template"]["spec"]["restartPolicy"] == "Always"
    assert spec["template"]["metadata"] == {"labels": {"app": "web"}, "creationTimestamp": None}
    assert spec["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert "enableServiceLinks" not in spec["template"]["spec"]
    assert d["metadata"]["generation"] == 1
    assert d["status"] == {}

    scaled, errors = h.update({**d, "spec": {**d["spec"], "replicas": 3}}, d)
    assert errors == [] and scaled["metadata"]["generation"] == 2
    relabeled, _ = h.update({**d, "metadata": {**d["metadata"], "labels": {"x": "y"}}}, d)
    assert relabeled["metadata"]["generation"] == 1


def test_deployment_validation():
    h = Harness("apps", "deployments")
    _, errors = h.create({**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "selector": {"matchLabels": {"app": "api"}}}})
    assert errors == [
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`'
    ]
    _, errors = h.create({**DEPLOYMENT, "spec": {"template": TEMPLATE}})
    assert errors == ["spec.selector: Required value"]
    _, errors = h.create({**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "replicas": -1}})
    assert errors == ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]
    _, errors = h.create({**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "strategy": {
        "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}}})
    assert errors == [
        "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: "
        "may not be 0 when `maxSurge` is 0"
    ]
    _, errors = h.create({**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "strategy": {"type": "Recreate", "rollingUpdate": {}}}})
    assert errors == ["spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"]
    template = {**TEMPLATE, "spec": {**TEMPLATE["spec"], "restartPolicy": "Never"}}
    _, errors = h.create({**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "template": template}})
    assert errors == ['spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"']


def test_selector_is_immutable():
    h = Harness("apps", "deployments")
    d, _ = h.create(DEPLOYMENT)
    template = {**TEMPLATE, "metadata": {"labels": {"app": "web", "v": "2"}}}
    _, errors = h.update({**d, "spec": {**d["spec"], "selector": {"matchLabels": {"app": "web", "v": "2"}}, "template": template}}, d)
    assert errors == [
        'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "v":"2"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
    ]


def test_deployment_table():
    h = Harness("apps", "deployments")
    d, _ = h.create(DEPLOYMENT)
    d["spec"]["replicas"] = 3
    d["status"] = {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
    assert h.row(d, wide=True) == {
        "NAME": "web", "READY": "2/3", "UP-TO-DATE": 3, "AVAILABLE": 2, "AGE": "60m",
        "CONTAINERS": "web", "IMAGES": "nginx:1.25", "SELECTOR": "app=web",
    }


def test_deployment_status_update_keeps_spec():
    h = Harness("apps", "deployments")
    d, _ = h.create(DEPLOYMENT)
    body = {**d, "spec": {**d["spec"], "replicas": 9}, "status": {"replicas": 1, "readyReplicas": 1, "observedGeneration": 1}}
    updated, errors = h.update(body, d, status=True)
    assert errors == []
    assert updated["spec"]["replicas"] == 1 and updated["status"]["readyReplicas"] == 1
    assert updated["metadata"]["generation"] == 1
    _, errors = h.update({**d, "status": {"replicas": 1, "readyReplicas": 2}}, d, status=True)
    assert errors == ["status.readyReplicas: Invalid value: 2: cannot be greater than status.replicas"]


def test_replicaset_table_and_fields():
    h = Harness("apps", "replicasets")
    rs, errors = h.create({**DEPLOYMENT, "kind": "ReplicaSet", "metadata": {**DEPLOYMENT["metadata"], "name": "web-5d4"}})
    assert errors == [] and rs["spec"]["replicas"] == 1
    rs["status"] = {"replicas": 1, "readyReplicas": 1}
    assert h.row(rs) == {"NAME": "web-5d4", "DESIRED": 1, "CURRENT": 1, "READY": 1, "AGE": "60m"}
    assert h.strategy.selectable_fields(rs)["status.replicas"] == "1"


def test_statefulset_defaults_and_forbidden_update():
    h = Harness("apps", "statefulsets")
    sts = {**DEPLOYMENT, "kind": "StatefulSet", "spec": {**DEPLOYMENT["spec"], "serviceName": "web", "volumeClaimTemplates": [
        {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}
    created, errors = h.create(sts)
    assert errors == []
    spec = created["spec"]
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    claim = spec["volumeClaimTemplates"][0]
    assert claim["apiVersion"] == "v1" and claim["kind"] == "PersistentVolumeClaim"
    assert claim["spec"]["volumeMode"] == "Filesystem" and claim["status"] == {"phase": "Pending"}
    _, errors = h.update({**created, "spec": {**spec, "replicas": 5}}, created)
    assert errors == []
    _, errors = h.update({**created, "spec": {**spec, "serviceName": "other"}}, created)
    assert errors == [
        "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
        "'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
    ]
    created["status"] = {"readyReplicas": 1}
    assert h.row(created)["READY"] == "1/1"


def test_daemonset_defaults_and_table():
    h = Harness("apps", "daemonsets")
    ds = {**DEPLOYMENT, "kind": "DaemonSet", "spec": {**DEPLOYMENT["spec"], "template": {
        **TEMPLATE, "spec": {**TEMPLATE["spec"], "nodeSelector": {"kubernetes.io/os": "linux"}}}}}
    created, errors = h.create(ds)
    assert errors == []
    assert created["spec"]["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    created["status"] = {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1, "updatedNumberScheduled": 2, "numberAvailable": 1}
    assert h.row(created) == {
        "NAME": "web", "DESIRED": 2, "CURRENT": 2, "READY": 1, "UP-TO-DATE": 2, "AVAILABLE": 1,
        "NODE SELECTOR": "kubernetes.io/os=linux", "AGE": "60m",
    }


def test_controllerrevision_table():
    h = Harness("apps", "controllerrevisions")
    rev = {"metadata": {"name": "web-7c9", "creationTimestamp": "2026-01-01T11:59:00Z", "ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "u", "controller": True}]},
        "data": {"spec": {}}, "revision": 2}
    _, errors = h.create(rev)
    assert errors == []
    assert h.row(rev) == {"NAME": "web-7c9", "CONTROLLER": "statefulset.apps/web", "REVISION": 2, "AGE": "60s"}
    _, errors = h.create({**rev, "data": None})
    assert errors == ["data: Required value: data is mandatory"]


JOB = {
    "apiVersion": "batch/v1", "kind": "Job",
    "metadata": {"name": "pi", "namespace": "default", "creationTimestamp": "2026-01-01T11:00:00Z"},
    "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl"}]}}},
}


def test_job_defaults_and_generated_selector():
    h = Harness("batch", "jobs")
    job, errors = h.create(JOB)
    assert errors == []
    uid = job["metadata"]["uid"]
    spec = job["spec"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    assert spec["completionMode"] == "NonIndexed" and spec["suspend"] is False
    assert spec["podReplacementPolicy"] == "TerminatingOrFailed"
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert spec["template"]["metadata"]["labels"] == {
        "controller-uid": uid, "batch.kubernetes.io/controller-uid": uid,
        "job-name": "pi", "batch.kubernetes.io/job-name": "pi",
    }


def test_job_validation_and_immutable_template():
    h = Harness("batch", "jobs")
    _, errors = h.create({**JOB, "spec": {"template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}}}})
    assert errors == ['spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"']
    job, _ = h.create(JOB)
    template = job["spec"]["template"]
    changed = {**template, "spec": {**template["spec"], "containers": [{**template["spec"]["containers"][0], "image": "perl:5"}]}}
    _, errors = h.update({**job, "spec": {**job["spec"], "template": changed}}, job)
    assert len(errors) == 1 and errors[0].startswith("spec.template: Invalid value: ") and errors[0].endswith("field is immutable")


def test_job_table():
    h = Harness("batch", "jobs")
    job, _ = h.create(JOB)
    job["status"] = {"succeeded": 1, "startTime": "2026-01-01T11:00:00Z", "completionTime": "2026-01-01T11:00:12Z",
                     "conditions": [{"type": "Complete", "status": "True"}]}
    assert h.row(job) == {"NAME": "pi", "STATUS": "Complete", "COMPLETIONS": "1/1", "DURATION": "12s", "AGE": "60m"}
    running = {**job, "status": {"active": 1, "startTime": "2026-01-01T11:58:00Z"}}
    assert h.row(running)["STATUS"] == "Running" and h.row(running)["DURATION"] == "2m"
