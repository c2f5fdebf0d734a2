"""The real kubectl against our resources: Tables, explain, validation errors, custom resources."""

from __future__ import annotations

import re

import kubernetes.client


def table(kubectl, *args: str) -> list[dict[str, str]]:
    """``kubectl get ...`` output as rows of column → text (columns are split on runs of 2+ spaces)."""
    lines = kubectl("get", *args).stdout.strip().splitlines()
    header = re.split(r"\s{2,}", lines[0].strip())
    starts = [lines[0].index(h) for h in header]
    rows = []
    for line in lines[1:]:
        cells = [line[s:e].strip() for s, e in zip(starts, [*starts[1:], len(line) + 1], strict=True)]
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


def test_deployments_wide(kubectl, api, namespace):
    kubernetes.client.AppsV1Api(api).create_namespaced_deployment(namespace, {
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}},
    })
    (row,) = table(kubectl, "deployments", "-o", "wide", "-n", namespace)
    assert list(row) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert (row["NAME"], row["READY"], row["UP-TO-DATE"], row["AVAILABLE"]) == ("web", "0/2", "0", "0")
    assert (row["CONTAINERS"], row["IMAGES"], row["SELECTOR"]) == ("web", "nginx:1.25", "app=web")


def test_services_show_node_ports(kubectl, core, namespace):
    core.create_namespaced_service(namespace, {
        "metadata": {"name": "web"},
        "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    })
    (row,) = table(kubectl, "services", "-o", "wide", "-n", namespace)
    assert list(row) == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
    assert (row["TYPE"], row["EXTERNAL-IP"], row["SELECTOR"]) == ("NodePort", "<none>", "app=web")
    assert re.fullmatch(r"80:3\d{4}/TCP", row["PORT(S)"])
    assert row["CLUSTER-IP"].startswith("127.")


def test_pods_wide(kubectl, core, namespace):
    core.create_namespaced_pod(namespace, {
        "metadata": {"name": "web"}, "spec": {"containers": [{"name": "web", "image": "nginx"}]},
    })
    (row,) = table(kubectl, "pods", "-o", "wide", "-n", namespace)
    assert list(row) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
    assert (row["READY"], row["STATUS"], row["RESTARTS"], row["IP"], row["NODE"]) == ("0/1", "Pending", "0", "<none>", "<none>")


def test_configmaps_and_secrets(kubectl, core, namespace):
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "cfg"}, "data": {"a": "1", "b": "2"}})
    core.create_namespaced_secret(namespace, {"metadata": {"name": "db"}, "stringData": {"password": "x"}})
    (cm,) = [r for r in table(kubectl, "configmaps", "-n", namespace) if r["NAME"] == "cfg"]
    assert cm["DATA"] == "2"
    (secret,) = table(kubectl, "secrets", "-n", namespace)
    assert (secret["NAME"], secret["TYPE"], secret["DATA"]) == ("db", "Opaque", "1")


def test_explain_reads_the_openapi_documents(kubectl):
    out = kubectl("explain", "deployment.spec.replicas").stdout
    assert "KIND:" in out and "Deployment" in out
    assert "Number of desired pods." in out
    fields = kubectl("explain", "pods.spec.containers").stdout
    assert "List of containers belonging to the pod." in fields
    assert re.search(r"name\s+<string> -required-", fields)
    if kubectl.version == "1.27":
        legacy = kubectl("explain", "services.spec.ports", "--output=plaintext-openapiv2").stdout
        assert "RESOURCE: ports <[]Object>" in legacy and "targetPort" in legacy


def test_apply_twice_merges_containers_by_name(kubectl, api, namespace):
    manifest = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: web
        image: {image}
        env: {env}
      - {{name: sidecar, image: busybox}}
"""
    kubectl("apply", "-f", "-", input=manifest.format(ns=namespace, image="nginx:1.25", env='[{name: A, value: "1"}, {name: B, value: "2"}]'))
    kubectl("apply", "-f", "-", input=manifest.format(ns=namespace, image="nginx:1.26", env='[{name: B, value: "3"}]'))
    deployment = kubernetes.client.AppsV1Api(api).read_namespaced_deployment("web", namespace)
    web, sidecar = deployment.spec.template.spec.containers
    assert (web.name, web.image, sidecar.name) == ("web", "nginx:1.26", "sidecar")
    assert [(e.name, e.value) for e in web.env] == [("B", "3")]
    assert deployment.metadata.generation == 2


def test_invalid_objects_get_upstreams_message(kubectl, namespace):
    manifest = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {namespace}}}
spec:
  replicas: -1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec:
      containers: [{{name: web, image: nginx}}]
"""
    result = kubectl("apply", "-f", "-", input=manifest, check=False)
    assert result.returncode != 0
    assert 'The Deployment "web" is invalid:' in result.stderr
    assert "spec.replicas: Invalid value: -1: must be greater than or equal to 0" in result.stderr
    assert "`selector` does not match template `labels`" in result.stderr


def test_unknown_fields_are_refused_by_strict_validation(kubectl, namespace):
    manifest = f"""
apiVersion: v1
kind: ConfigMap
metadata: {{name: typo, namespace: {namespace}}}
dta: {{a: b}}
"""
    result = kubectl("create", "-f", "-", input=manifest, check=False)
    assert result.returncode != 0
    assert 'unknown field "dta"' in result.stderr


CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: crontabs.stable.example.com}
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ct]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            description: What to run, and when.
            properties:
              cronSpec: {type: string, description: The schedule in cron format.}
              replicas: {type: integer, minimum: 0, default: 1}
    additionalPrinterColumns:
    - {name: Spec, type: string, jsonPath: .spec.cronSpec}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
"""


def test_custom_resources_end_to_end(kubectl, namespace):
    kubectl("apply", "-f", "-", input=CRD)
    kubectl("wait", "--for=condition=Established", "crd/crontabs.stable.example.com", "--timeout=30s")
    kubectl("apply", "-n", namespace, "-f", "-", input="""
apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: every-five}
spec: {cronSpec: "*/5 * * * *"}
""")
    (row,) = table(kubectl, "ct", "-n", namespace)
    assert list(row) == ["NAME", "SPEC", "REPLICAS", "AGE"]
    assert (row["NAME"], row["SPEC"], row["REPLICAS"]) == ("every-five", "*/5 * * * *", "1")
    explained = kubectl("explain", "crontab.spec").stdout
    assert "What to run, and when." in explained and "cronSpec" in explained
    bad = kubectl("apply", "-n", namespace, "-f", "-", check=False, input="""
apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: bad}
spec: {cronSpec: x, replicas: -2}
""")
    assert "spec.replicas: Invalid value: -2: spec.replicas in body should be greater than or equal to 0" in bad.stderr
    crds = table(kubectl, "crd")
    assert any(r["NAME"] == "crontabs.stable.example.com" and re.fullmatch(r"\d{4}-\d\d-\d\dT.*Z", r["CREATED AT"]) for r in crds)
