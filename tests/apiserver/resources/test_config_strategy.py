import base64

from strategy_harness import Harness

CM = {"metadata": {"name": "cfg", "namespace": "default", "creationTimestamp": "2026-01-01T11:59:30Z"},
      "data": {"a.conf": "x=1", "B_KEY": "2"}}


def test_configmap_keys_table_and_immutable():
    h = Harness("", "configmaps")
    cm, errors = h.create(CM)
    assert errors == []
    assert h.row(cm) == {"NAME": "cfg", "DATA": 2, "AGE": "30s"}
    _, errors = h.create({**CM, "data": {"bad key": "x"}})
    assert errors == [
        "data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, "
        "'-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
    ]
    frozen = {**cm, "immutable": True}
    _, errors = h.update({**frozen, "data": {"a.conf": "x=2"}}, frozen)
    assert errors == ["data: Forbidden: field is immutable when `immutable` is set"]
    _, errors = h.update({**frozen, "immutable": False}, frozen)
    assert errors == ["immutable: Forbidden: field is immutable when `immutable` is set"]
    assert h.update({**cm, "data": {"a.conf": "x=2"}}, cm)[1] == []


def test_configmap_size_limit():
    _, errors = Harness("", "configmaps").create({**CM, "data": {"big": "x" * (1024 * 1024 + 1)}})
    assert errors == [": Too long: must have at most 1048576 bytes"]


def test_secret_defaults_string_data_and_table():
    h = Harness("", "secrets")
    secret, errors = h.create({"metadata": {"name": "db", "namespace": "default"}, "stringData": {"password": "s3cret"}})
    assert errors == []
    assert secret["type"] == "Opaque"
    assert "stringData" not in secret
    assert secret["data"] == {"password": base64.b64encode(b"s3cret").decode()}
    assert h.row(secret) == {"NAME": "db", "TYPE": "Opaque", "DATA": 1, "AGE": "<unknown>"}
    assert h.strategy.selectable_fields(secret)["type"] == "Opaque"


def test_secret_validation():
    h = Harness("", "secrets")
    _, errors = h.create({"metadata": {"name": "t"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}})
    assert errors == ["data[tls.key]: Required value"]
    _, errors = h.create({"metadata": {"name": "t"}, "data": {"k": "not base64!"}})
    assert errors == ['data[k]: Invalid value: "<secret contents redacted>": illegal base64 data']
    old, _ = h.create({"metadata": {"name": "t"}, "data": {"k": "eA=="}})
    _, errors = h.update({**old, "type": "kubernetes.io/basic-auth", "data": {"username": "eA=="}}, old)
    assert errors == ['type: Invalid value: "kubernetes.io/basic-auth": field is immutable']


def test_serviceaccount_table():
    h = Harness("", "serviceaccounts")
    sa, errors = h.create({"metadata": {"name": "default", "namespace": "default"}})
    assert errors == []
    assert h.row(sa) == {"NAME": "default", "SECRETS": 0, "AGE": "<unknown>"}
