"""The real kubectl (1.27, 1.30, 1.33) against the server: the commands a learner types."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
import yaml

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports: [{containerPort: 80}]
"""


@pytest.fixture
def ns(kubectl, core, namespace):
    return namespace


def _rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.strip().splitlines()]


def test_get_default_wide_and_show_labels(kubectl, ns):
    kubectl("-n", ns, "create", "configmap", "one", "--from-literal=a=b")
    kubectl("-n", ns, "label", "configmap", "one", "tier=web")
    rows = _rows(kubectl("-n", ns, "get", "configmaps").stdout)
    assert rows[0] == ["NAME", "DATA", "AGE"]
    assert rows[1][:2] == ["one", "1"]
    labels = _rows(kubectl("-n", ns, "get", "configmaps", "--show-labels").stdout)
    assert labels[0][-1] == "LABELS" and labels[1][-1] == "tier=web"
    kubectl("-n", ns, "create", "-f", "-", input=DEPLOYMENT)
    wide = _rows(kubectl("-n", ns, "get", "deployments", "-o", "wide").stdout)
    assert wide[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert wide[1][0] == "web" and wide[1][5:] == ["nginx", "nginx:1.25", "app=web"]


def test_get_all_namespaces_and_label_selector(kubectl, ns):
    kubectl("-n", ns, "create", "configmap", "picked")
    kubectl("-n", ns, "label", "configmap", "picked", f"pick={ns}")
    kubectl("-n", ns, "create", "configmap", "skipped")
    rows = _rows(kubectl("get", "configmaps", "-A", "-l", f"pick={ns}").stdout)
    assert rows[0][:2] == ["NAMESPACE", "NAME"]
    assert [r[:2] for r in rows[1:]] == [[ns, "picked"]]
    set_based = _rows(kubectl("-n", ns, "get", "cm", "-l", "pick in (nothing)", "--no-headers", check=False).stdout or "")
    assert set_based == []


def test_get_output_formats(kubectl, ns):
    kubectl("-n", ns, "create", "-f", "-", input=DEPLOYMENT)
    as_yaml = yaml.safe_load(kubectl("-n", ns, "get", "deployment", "web", "-o", "yaml").stdout)
    assert as_yaml["kind"] == "Deployment" and as_yaml["spec"]["replicas"] == 2
    assert as_yaml["metadata"]["generation"] == 1
    as_json = json.loads(kubectl("-n", ns, "get", "deployments", "-o", "json").stdout)
    assert as_json["kind"] == "List" and as_json["items"][0]["metadata"]["name"] == "web"
    path = kubectl("-n", ns, "get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
    assert path.stdout == "nginx:1.25"
    names = kubectl("-n", ns, "get", "deployments", "-o", "name").stdout.split()
    assert names == ["deployment.apps/web"]


def test_get_watch_prints_changes(kubectl, ns):
    env = dict(os.environ, KUBECONFIG=str(kubectl.kubeconfig))
    watcher = subprocess.Popen(
        [kubectl.binary, "-n", ns, "get", "configmaps", "-w", "--no-headers"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        time.sleep(1.0)
        kubectl("-n", ns, "create", "configmap", "watched")
        kubectl("-n", ns, "label", "configmap", "watched", "x=y")
        deadline = time.monotonic() + 20
        lines: list[str] = []
        assert watcher.stdout is not None
        while time.monotonic() < deadline and len(lines) < 2:
            line = watcher.stdout.readline()
            if line:
                lines.append(line)
    finally:
        watcher.kill()
        watcher.wait()
    assert [line.split()[0] for line in lines] == ["watched", "watched"]


def test_create_generators_and_from_file(kubectl, ns):
    kubectl("-n", ns, "create", "deployment", "gen", "--image=nginx", "--replicas=0", "--port=80")
    kubectl("-n", ns, "create", "secret", "generic", "s", "--from-literal=p=q")
    kubectl("-n", ns, "create", "service", "nodeport", "np", "--tcp=80:8080")
    kubectl("-n", ns, "create", "job", "j", "--image=busybox", "--", "echo", "hi")
    kubectl("-n", ns, "create", "serviceaccount", "sa")
    kubectl("-n", ns, "create", "ingress", "ing", "--rule=foo.com/bar=np:80", "--class=nginx")
    deployment = json.loads(kubectl("-n", ns, "get", "deployment", "gen", "-o", "json").stdout)
    assert deployment["spec"]["replicas"] == 0
    assert deployment["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    secret = json.loads(kubectl("-n", ns, "get", "secret", "s", "-o", "json").stdout)
    assert secret["data"] == {"p": "cQ=="} and secret["type"] == "Opaque"
    service = json.loads(kubectl("-n", ns, "get", "service", "np", "-o", "json").stdout)
    assert service["spec"]["type"] == "NodePort" and service["spec"]["ports"][0]["targetPort"] == 8080
    job = json.loads(kubectl("-n", ns, "get", "job", "j", "-o", "json").stdout)
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["echo", "hi"]
    ingress = json.loads(kubectl("-n", ns, "get", "ingress", "ing", "-o", "json").stdout)
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"] == {"name": "np", "port": {"number": 80}}
    again = kubectl("-n", ns, "create", "-f", "-", input=DEPLOYMENT.replace("name: web", "name: gen"), check=False)
    assert again.returncode != 0
    assert 'deployments.apps "gen" already exists' in again.stderr


def test_label_annotate_scale(kubectl, ns):
    kubectl("-n", ns, "create", "-f", "-", input=DEPLOYMENT)
    kubectl("-n", ns, "label", "deployment", "web", "team=blue")
    kubectl("-n", ns, "annotate", "deployment", "web", "note=hello")
    assert "already has a value" in kubectl("-n", ns, "label", "deployment", "web", "team=red", check=False).stderr
    kubectl("-n", ns, "label", "deployment", "web", "team=red", "--overwrite")
    kubectl("-n", ns, "scale", "deployment", "web", "--replicas=4")
    kubectl("-n", ns, "scale", "deployment", "web", "--replicas=5", "--current-replicas=4")
    stale = kubectl("-n", ns, "scale", "deployment", "web", "--replicas=1", "--current-replicas=2", check=False)
    assert stale.returncode != 0
    got = json.loads(kubectl("-n", ns, "get", "deployment", "web", "-o", "json").stdout)
    assert got["metadata"]["labels"]["team"] == "red"
    assert got["metadata"]["annotations"]["note"] == "hello"
    assert got["spec"]["replicas"] == 5
    kubectl("-n", ns, "label", "deployment", "web", "team-")
    assert "team" not in json.loads(kubectl("-n", ns, "get", "deployment", "web", "-o", "json").stdout)["metadata"]["labels"]


def test_patch_of_each_type(kubectl, ns):
    kubectl("-n", ns, "create", "-f", "-", input=DEPLOYMENT)
    kubectl("-n", ns, "patch", "deployment", "web", "--type=strategic",
            "-p", '{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox"}]}}}}')
    kubectl("-n", ns, "patch", "deployment", "web", "--type=merge", "-p", '{"spec":{"minReadySeconds":5}}')
    kubectl("-n", ns, "patch", "deployment", "web", "--type=json",
            "-p", '[{"op":"replace","path":"/spec/replicas","value":7}]')
    got = json.loads(kubectl("-n", ns, "get", "deployment", "web", "-o", "json").stdout)
    assert sorted(c["name"] for c in got["spec"]["template"]["spec"]["containers"]) == ["nginx", "sidecar"]
    assert got["spec"]["minReadySeconds"] == 5 and got["spec"]["replicas"] == 7
    bad = kubectl("-n", ns, "patch", "deployment", "web", "--type=json",
                  "-p", '[{"op":"test","path":"/spec/replicas","value":1}]', check=False)
    assert bad.returncode != 0
    kubectl("-n", ns, "set", "image", "deployment/web", "nginx=nginx:1.26")
    kubectl("-n", ns, "rollout", "restart", "deployment/web")
    got = json.loads(kubectl("-n", ns, "get", "deployment", "web", "-o", "json").stdout)
    template = got["spec"]["template"]
    images = {c["name"]: c["image"] for c in template["spec"]["containers"]}
    assert images == {"nginx": "nginx:1.26", "sidecar": "busybox"}
    assert "kubectl.kubernetes.io/restartedAt" in template["metadata"]["annotations"]


def test_delete_cascade_modes(kubectl, ns):
    for name in ("bg", "orphan", "fg"):
        kubectl("-n", ns, "create", "-f", "-", input=DEPLOYMENT.replace("name: web", f"name: {name}"))
    kubectl("-n", ns, "delete", "deployment", "bg")
    kubectl("-n", ns, "delete", "deployment", "orphan", "--cascade=orphan", "--wait=false")
    kubectl("-n", ns, "delete", "deployment", "fg", "--cascade=foreground", "--wait=false")
    assert kubectl("-n", ns, "get", "deployment", "bg", check=False).returncode != 0
    for name, finalizer in (("orphan", "orphan"), ("fg", "foregroundDeletion")):
        got = json.loads(kubectl("-n", ns, "get", "deployment", name, "-o", "json").stdout)
        assert got["metadata"]["finalizers"] == [finalizer]
        assert got["metadata"]["deletionTimestamp"]
    missing = kubectl("-n", ns, "delete", "deployment", "never-there", check=False)
    assert 'deployments.apps "never-there" not found' in missing.stderr


def test_run_describe_and_delete_pod(kubectl, ns):
    kubectl("-n", ns, "run", "p", "--image=busybox", "--", "sleep", "3600")
    described = kubectl("-n", ns, "describe", "pod", "p").stdout
    assert "Service Account:  default" in described
    assert "node.kubernetes.io/not-ready:NoExecute op=Exists for 300s" in described
    rows = _rows(kubectl("-n", ns, "get", "pods").stdout)
    assert rows[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert rows[1][:4] == ["p", "0/1", "Pending", "0"]
    kubectl("-n", ns, "delete", "pod", "p")
    assert kubectl("-n", ns, "get", "pod", "p", check=False).returncode != 0


def test_errors_are_printed_as_the_server_words_them(kubectl, ns):
    missing = kubectl("-n", ns, "get", "configmap", "nope", check=False)
    assert missing.stderr.strip() == 'Error from server (NotFound): configmaps "nope" not found'
    no_ns = kubectl("-n", "no-such-namespace", "create", "configmap", "x", check=False)
    assert 'namespaces "no-such-namespace" not found' in no_ns.stderr
    invalid = kubectl("-n", ns, "create", "configmap", "Bad_Name", check=False)
    assert 'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"' in invalid.stderr


def test_apply_reapply_and_server_side_apply(kubectl, ns):
    first = kubectl("-n", ns, "apply", "-f", "-", input=DEPLOYMENT)
    assert first.stdout.strip() == "deployment.apps/web created"
    again = kubectl("-n", ns, "apply", "-f", "-", input=DEPLOYMENT)
    assert again.stdout.strip() == "deployment.apps/web unchanged"
    changed = kubectl("-n", ns, "apply", "-f", "-", input=DEPLOYMENT.replace("replicas: 2", "replicas: 3"))
    assert changed.stdout.strip() == "deployment.apps/web configured"
    got = json.loads(kubectl("-n", ns, "get", "deployment", "web", "-o", "json", "--show-managed-fields").stdout)
    assert got["spec"]["replicas"] == 3
    assert "kubectl.kubernetes.io/last-applied-configuration" in got["metadata"]["annotations"]
    managers = {e["manager"] for e in got["metadata"]["managedFields"]}
    assert "kubectl-client-side-apply" in managers
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: '1'\n"
    assert kubectl("-n", ns, "apply", "--server-side", "-f", "-", input=cm).stdout.strip() == "configmap/ssa serverside-applied"
    kubectl("-n", ns, "apply", "--server-side", "-f", "-", input=cm.replace("'1'", "'2'"))
    stored = json.loads(kubectl("-n", ns, "get", "configmap", "ssa", "-o", "json", "--show-managed-fields").stdout)
    assert stored["data"] == {"a": "2"}
    entry = next(e for e in stored["metadata"]["managedFields"] if e["manager"] == "kubectl")
    assert entry["operation"] == "Apply" and entry["fieldsV1"] == {"f:data": {"f:a": {}}}
    clash = kubectl("-n", ns, "apply", "--server-side", "--field-manager=other", "-f", "-",
                    input=cm.replace("'1'", "'3'"), check=False)
    assert clash.returncode != 0 and "conflict" in clash.stderr.lower()
    kubectl("-n", ns, "apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", "-",
            input=cm.replace("'1'", "'3'"))
    assert json.loads(kubectl("-n", ns, "get", "configmap", "ssa", "-o", "json").stdout)["data"] == {"a": "3"}


def test_strict_validation_rejects_unknown_fields(kubectl, ns):
    bad = DEPLOYMENT.replace("replicas: 2", "replicas: 2\n  replicaz: 3")
    result = kubectl("-n", ns, "apply", "-f", "-", input=bad, check=False)
    assert result.returncode != 0
    assert 'unknown field "spec.replicaz"' in result.stderr


def test_explain(kubectl):
    out = kubectl("explain", "deployment.spec.replicas").stdout
    assert "replicas" in out and "<integer>" in out
