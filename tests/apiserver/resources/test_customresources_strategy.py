import copy

from strategy_harness import NOW, Harness

from kubelab.api.resources import ResourceRegistry
from kubelab.apiserver.resources import status_strategy_for, strategy_for
from kubelab.apiserver.resources.customresourcedefinitions import is_established, resource_infos
from kubelab.apiserver.resources.scale import scale_of, set_replicas

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "crontabs.stable.example.com", "creationTimestamp": "2026-01-01T11:00:00Z"},
    "spec": {
        "group": "stable.example.com", "scope": "Namespaced",
        "names": {"plural": "crontabs", "kind": "CronTab", "shortNames": ["ct"]},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "spec": {"type": "object", "properties": {
                    "cronSpec": {"type": "string"}, "image": {"type": "string"},
                    "replicas": {"type": "integer", "default": 1, "minimum": 0}}},
                "status": {"type": "object", "properties": {"replicas": {"type": "integer"}, "phase": {"type": "string"}}},
            }}},
            "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
            "additionalPrinterColumns": [
                {"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"},
                {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                {"name": "Phase", "type": "string", "jsonPath": ".status.phase", "priority": 1},
                {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
            ],
        }],
    },
}


def established_crd():
    crd, errors = Harness("apiextensions.k8s.io", "customresourcedefinitions").create(CRD)
    assert errors == []
    return crd


def test_crd_defaults_status_and_table():
    h = Harness("apiextensions.k8s.io", "customresourcedefinitions")
    crd = established_crd()
    assert crd["spec"]["names"]["singular"] == "crontab" and crd["spec"]["names"]["listKind"] == "CronTabList"
    assert crd["spec"]["conversion"] == {"strategy": "None"}
    assert crd["status"]["acceptedNames"] == crd["spec"]["names"]
    assert crd["status"]["storedVersions"] == ["v1"]
    assert [(c["type"], c["status"], c["reason"]) for c in crd["status"]["conditions"]] == [
        ("NamesAccepted", "True", "NoConflicts"), ("Established", "True", "InitialNamesAccepted")]
    assert is_established(crd)
    assert h.row(crd) == {"NAME": "crontabs.stable.example.com", "CREATED AT": "2026-01-01T11:00:00Z"}
    (info,) = resource_infos(crd)
    assert (info.group, info.version, info.plural, info.kind, info.namespaced) == ("stable.example.com", "v1", "crontabs", "CronTab", True)
    assert info.subresources == ("status", "scale") and info.short_names == ("ct",) and info.crd
    assert info.key("default", "x") == "/registry/stable.example.com/crontabs/default/x"


def test_crd_validation_messages():
    h = Harness("apiextensions.k8s.io", "customresourcedefinitions")
    bad = copy.deepcopy(CRD)
    bad["metadata"]["name"] = "crontab.stable.example.com"
    bad["spec"]["group"] = "example"
    bad["spec"]["versions"].append({**bad["spec"]["versions"][0], "name": "v2"})
    bad["spec"]["names"]["kind"] = "Cron_Tab"
    _, errors = h.create(bad)
    assert errors[0] == 'metadata.name: Invalid value: "crontab.stable.example.com": must be spec.names.plural+"."+spec.group'
    assert 'spec.group: Invalid value: "example": should be a domain with at least one dot' in errors
    assert any(e.startswith("spec.versions: Invalid value: ") and e.endswith("must have exactly one version marked as storage version") for e in errors)
    assert any(e.startswith('spec.names.kind: Invalid value: "Cron_Tab": may have mixed case, but should otherwise match: a DNS-1035 label') for e in errors)
    no_schema = copy.deepcopy(CRD)
    del no_schema["spec"]["versions"][0]["schema"]
    assert h.create(no_schema)[1] == ["spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required"]


def custom(crd):
    (info,) = resource_infos(crd)
    return strategy_for(info, crd), status_strategy_for(info, crd)


def test_custom_resource_prune_default_validate_and_generation():
    strategy, _ = custom(established_crd())
    obj = {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "c1", "namespace": "default"},
           "spec": {"cronSpec": "* * * * */5", "imagee": "oops"}, "status": {"phase": "Set by client"}}
    strategy.default(obj)
    strategy.prepare_for_create(obj)
    assert obj["spec"] == {"cronSpec": "* * * * */5", "replicas": 1}
    assert "status" not in obj and obj["metadata"]["generation"] == 1
    assert strategy.validate(obj) == []
    bad = copy.deepcopy(obj)
    bad["spec"]["replicas"] = -1
    assert [str(e) for e in strategy.validate(bad)] == [
        "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0"]
    updated = copy.deepcopy(obj)
    updated["spec"]["image"] = "cron:2"
    strategy.prepare_for_update(updated, obj)
    assert updated["metadata"]["generation"] == 2
    relabeled = copy.deepcopy(obj)
    relabeled["metadata"]["labels"] = {"a": "b"}
    strategy.prepare_for_update(relabeled, obj)
    assert relabeled["metadata"]["generation"] == 1


def test_custom_resource_status_subresource_and_scale():
    strategy, status = custom(established_crd())
    obj = {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "c1", "generation": 1},
           "spec": {"cronSpec": "x", "replicas": 2}}
    body = copy.deepcopy(obj)
    body["spec"]["replicas"] = 5
    body["status"] = {"replicas": 2, "phase": "Running"}
    status.prepare_for_update(body, obj)
    assert body["spec"]["replicas"] == 2 and body["status"] == {"replicas": 2, "phase": "Running"}
    paths = established_crd()["spec"]["versions"][0]["subresources"]["scale"]
    assert scale_of(body, paths)["spec"] == {"replicas": 2}
    assert scale_of(body, paths)["status"] == {"replicas": 2}
    assert set_replicas(body, {"spec": {"replicas": 4}}, paths) == []
    assert body["spec"]["replicas"] == 4
    assert [str(e) for e in set_replicas(body, {"spec": {"replicas": -1}}, paths)] == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0"]


def test_custom_resource_printer_columns():
    strategy, _ = custom(established_crd())
    obj = {"metadata": {"name": "c1", "creationTimestamp": "2026-01-01T11:59:00Z"},
           "spec": {"cronSpec": "* * * * */5", "replicas": 3}, "status": {"phase": "Running"}}
    columns = strategy.table_columns()
    assert [(c["name"], c["type"], c["priority"]) for c in columns] == [
        ("Name", "string", 0), ("Spec", "string", 0), ("Replicas", "integer", 0), ("Phase", "string", 1), ("Age", "date", 0)]
    assert strategy.table_cells(obj, NOW) == ["c1", "* * * * */5", 3, "Running", "60s"]
    assert strategy.table_cells({"metadata": {"name": "c2"}}, NOW) == ["c2", None, None, None, None]
    plain = copy.deepcopy(established_crd())
    del plain["spec"]["versions"][0]["additionalPrinterColumns"]
    plain_strategy, _ = custom(plain)
    assert [c["name"] for c in plain_strategy.table_columns()] == ["Name", "Age"]


def test_deployment_scale():
    registry = ResourceRegistry()
    deployment = {"metadata": {"name": "web", "namespace": "default"},
                  "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}}, "status": {"replicas": 2}}
    scale = scale_of(deployment)
    assert scale == {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": {"name": "web", "namespace": "default"},
                     "spec": {"replicas": 2}, "status": {"replicas": 2, "selector": "app=web"}}
    assert set_replicas(deployment, {"spec": {"replicas": 5}}) == [] and deployment["spec"]["replicas"] == 5
    assert registry.get("apps", "v1", "deployments")
