"""A container's environment: $(VAR) expansion, Service links, and the errors of missing configuration."""

import base64

import pytest

from kubelab.kubelet.env import ConfigError, expand, make_environment, service_env


@pytest.mark.parametrize(
    "text, expanded",
    [
        ("$(A)", "1"),
        ("x$(A)y$(B)z", "x1y2z"),
        ("$$(A)", "$(A)"),
        ("$(MISSING)", "$(MISSING)"),
        ("$A", "$A"),
        ("$(A", "$(A"),
        ("$$", "$"),
        ("cost: $5", "cost: $5"),
    ],
)
def test_expansion_follows_kubernetes_rules(text, expanded):
    assert expand(text, {"A": "1", "B": "2"}) == expanded


def _svc(name, namespace, ip, ports):
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {"clusterIP": ip, "ports": ports}}


def test_service_links_cover_the_namespace_and_the_kubernetes_service():
    services = [
        _svc("redis-primary", "app", "10.0.0.11", [{"port": 6379, "protocol": "TCP"}]),
        _svc("other", "elsewhere", "10.0.0.12", [{"port": 80}]),
        _svc("headless", "app", "None", [{"port": 80}]),
        _svc("kubernetes", "default", "10.0.0.1", [{"name": "https", "port": 443}]),
    ]
    env = service_env(services, "app", enable_service_links=True)
    assert env["REDIS_PRIMARY_SERVICE_HOST"] == "10.0.0.11"
    assert env["REDIS_PRIMARY_PORT"] == "tcp://10.0.0.11:6379"
    assert env["REDIS_PRIMARY_PORT_6379_TCP_PROTO"] == "tcp"
    assert env["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"
    assert not any(k.startswith(("OTHER_", "HEADLESS_")) for k in env)
    without = service_env(services, "app", enable_service_links=False)
    assert set(without) == {k for k in env if k.startswith("KUBERNETES_")}


def _environment(container, config_maps=None, secrets=None):
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u"}, "spec": {"nodeName": "n"}, "status": {}}
    return make_environment(
        pod, container, config_maps=lambda ns, name: (config_maps or {}).get(name),
        secrets=lambda ns, name: (secrets or {}).get(name), services=[], allocatable={"memory": "1Gi", "cpu": "2"},
    )


def test_missing_config_is_an_error_unless_optional():
    ref = {"name": "cfg", "key": "k"}
    with pytest.raises(ConfigError, match='^configmap "cfg" not found$'):
        _environment({"env": [{"name": "X", "valueFrom": {"configMapKeyRef": ref}}]})
    with pytest.raises(ConfigError, match="^couldn't find key k in ConfigMap ns/cfg$"):
        _environment({"env": [{"name": "X", "valueFrom": {"configMapKeyRef": ref}}]}, {"cfg": {"data": {}}})
    assert _environment({"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {**ref, "optional": True}}}]}) == []
    with pytest.raises(ConfigError, match="^couldn't find key k in Secret ns/s$"):
        _environment({"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
                     secrets={"s": {"data": {}}})


def test_env_from_with_a_prefix_and_later_values_win():
    secret = {"data": {"pw": base64.b64encode(b"hunter2").decode()}}
    env = _environment({"envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "APP_"}, {"secretRef": {"name": "s"}}],
                        "env": [{"name": "APP_A", "value": "override"}]},
                       {"cfg": {"data": {"A": "a", "B": "b"}}}, {"s": secret})
    assert dict(env) == {"APP_A": "override", "APP_B": "b", "pw": "hunter2"}


def test_resource_fields_default_to_the_node_when_there_is_no_limit():
    env = dict(_environment({"resources": {"requests": {"cpu": "250m"}}, "env": [
        {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
        {"name": "CPU_REQUEST", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}},
        {"name": "CPU_LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
    ]}))
    assert env == {"MEM": "1024", "CPU_REQUEST": "250", "CPU_LIMIT": "2"}
