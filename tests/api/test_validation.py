import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelab.api import validation as v

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
NAME_PART_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
    "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


@pytest.mark.parametrize(
    "value, errors",
    [
        ("web", []), ("a.b-c.d", []), ("0", []), ("a" * 253, []),
        ("Web", [SUBDOMAIN_MSG]), ("-a", [SUBDOMAIN_MSG]), ("a..b", [SUBDOMAIN_MSG]), ("a_b", [SUBDOMAIN_MSG]),
        ("", [SUBDOMAIN_MSG]), ("a" * 254, ["must be no more than 253 characters"]),
    ],
)
def test_dns1123_subdomain(value, errors):
    assert v.is_dns1123_subdomain(value) == errors


@pytest.mark.parametrize(
    "value, errors",
    [
        ("kube-system", []), ("1abc", []),
        ("a.b", ["must not contain dots"]), ("A", [LABEL_MSG]), ("a-", [LABEL_MSG]),
        ("a" * 64, ["must be no more than 63 characters"]),
        ("a" * 64 + "_", ["must be no more than 63 characters", LABEL_MSG]),
    ],
)
def test_dns1123_label(value, errors):
    assert v.is_dns1123_label(value) == errors


@pytest.mark.parametrize("value, ok", [("web", True), ("web-1", True), ("1web", False), ("web.x", False)])
def test_dns1035_label(value, ok):
    assert v.is_dns1035_label(value) == ([] if ok else [DNS1035_MSG])


@pytest.mark.parametrize(
    "value, errors",
    [
        ("app", []), ("app.kubernetes.io/name", []), ("Foo_Bar.1", []),
        ("a/b/c", [
            "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
            "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' "
            "(e.g. 'example.com/MyName')"
        ]),
        ("/name", ["prefix part must be non-empty"]),
        ("Example.com/name", ["prefix part " + SUBDOMAIN_MSG]),
        ("example.com/", ["name part must be non-empty", NAME_PART_MSG]),
        ("-app", [NAME_PART_MSG]),
        ("a" * 64, ["name part must be no more than 63 characters"]),
    ],
)
def test_qualified_name(value, errors):
    assert v.is_qualified_name(value) == errors


@pytest.mark.parametrize(
    "value, errors",
    [("", []), ("v1.2_3-x", []), ("-x", [LABEL_VALUE_MSG]), ("a b", [LABEL_VALUE_MSG]),
     ("a" * 64, ["must be no more than 63 characters"])],
)
def test_label_value(value, errors):
    assert v.is_valid_label_value(value) == errors


@pytest.mark.parametrize(
    "port, errors",
    [
        ("http", []), ("h2c", []), ("web-8080", []),
        ("8080", ["must contain at least one letter (a-z)"]),
        ("HTTP", ["must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                  "must contain at least one letter (a-z)"]),
        ("a--b", ["must not contain consecutive hyphens"]),
        ("-http", ["must not begin or end with a hyphen"]),
        ("abcdefghijklmnop", ["must be no more than 15 characters"]),
        ("", ["must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
              "must contain at least one letter (a-z)"]),
    ],
)
def test_port_name(port, errors):
    assert v.is_valid_port_name(port) == errors


@pytest.mark.parametrize("port, ok", [(1, True), (65535, True), (0, False), (65536, False), (-1, False)])
def test_port_num(port, ok):
    assert v.is_valid_port_num(port) == ([] if ok else ["must be between 1 and 65535, inclusive"])


@pytest.mark.parametrize(
    "ip, ok",
    [("10.9.8.7", True), ("2001:db8::ffff", True), ("::1", True), ("::ffff:1.2.3.4", True),
     ("010.1.1.1", True), ("1.2.3", False), ("256.1.1.1", False), ("fe80::1%eth0", False), ("", False),
     ("example.com", False), ("1.2.3.4.5", False)],
)
def test_ip(ip, ok):
    assert v.is_valid_ip(ip) == ([] if ok else ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"])


def test_ip_families_and_cidrs():
    assert v.is_valid_ipv4_address("1.2.3.4") == []
    assert v.is_valid_ipv4_address("::1") == ["must be a valid IPv4 address"]
    assert v.is_valid_ipv6_address("::1") == []
    assert v.is_valid_ipv6_address("1.2.3.4") == ["must be a valid IPv6 address"]
    assert v.is_valid_cidr("10.96.0.0/12") == []
    assert v.is_valid_cidr("2001:db8::/64") == []
    bad = ["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"]
    assert v.is_valid_cidr("10.0.0.0/33") == bad
    assert v.is_valid_cidr("10.0.0.0") == bad


def test_c_identifier_and_env_var_names():
    c_msg = ("a valid C identifier must start with alphabetic character or '_', followed by a string of "
             "alphanumeric characters or '_' (e.g. 'my_name',  or 'MY_NAME',  or 'MyName', regex used for "
             "validation is '[A-Za-z_][A-Za-z0-9_]*')")
    assert v.is_c_identifier("_HOME1") == []
    assert v.is_c_identifier("1HOME") == [c_msg]
    assert v.is_env_var_name("my.env-name") == []
    env_msg = ("a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or "
               "'.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', "
               "regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')")
    assert v.is_env_var_name("1X") == [env_msg]
    assert v.is_env_var_name("..x") == ["must not start with '..'"]
    assert v.is_config_map_key("..") == ["must not be '..'"]
    assert v.is_config_map_key("app.properties") == []


def test_percent_and_wildcards():
    assert v.is_valid_percent("25%") == []
    assert v.is_valid_percent("25") == [
        "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', "
        "regex used for validation is '[0-9]+%')"
    ]
    assert v.is_wildcard_dns1123_subdomain("*.example.com") == []
    assert v.is_wildcard_dns1123_subdomain("*.*.example.com") != []


def test_generate_name_prefixes_may_end_in_a_dash():
    assert v.name_is_dns_subdomain("web-", True) == []
    assert v.name_is_dns_subdomain("web-", False) == [SUBDOMAIN_MSG]
    assert v.name_is_dns_label("web-", True) == []
    assert v.validate_path_segment_name("a/b%c", False) == ["may not contain '/'", "may not contain '%'"]
    assert v.validate_path_segment_name("..", False) == ["may not be '..'"]


@given(st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?){0,3}\Z"))
def test_every_well_formed_subdomain_passes(name):
    assert v.is_dns1123_subdomain(name) == []


@given(st.text(max_size=20))
def test_a_label_is_a_subdomain_without_dots(name):
    if not v.is_dns1123_label(name):
        assert v.is_dns1123_subdomain(name) == [] and "." not in name


def strs(errors):
    return [str(e) for e in errors]


def meta(**kw):
    return {"name": "web", "namespace": "default", **kw}


def test_object_meta_valid():
    assert v.validate_object_meta(meta(labels={"app": "web"}), namespaced=True, name_fn=v.name_is_dns_subdomain) == []


def test_object_meta_name_and_namespace():
    errs = v.validate_object_meta({}, namespaced=True, name_fn=v.name_is_dns_subdomain)
    assert strs(errs) == [
        "metadata.name: Required value: name or generateName is required",
        "metadata.namespace: Required value",
    ]
    errs = v.validate_object_meta(meta(name="Web"), namespaced=True, name_fn=v.name_is_dns_subdomain)
    assert strs(errs) == [f'metadata.name: Invalid value: "Web": {SUBDOMAIN_MSG}']
    errs = v.validate_object_meta({"name": "n1", "namespace": "x"}, namespaced=False, name_fn=v.name_is_dns_subdomain)
    assert strs(errs) == ["metadata.namespace: Forbidden: not allowed on this type"]
    errs = v.validate_object_meta(meta(namespace="a.b"), namespaced=True, name_fn=v.name_is_dns_subdomain)
    assert strs(errs) == ['metadata.namespace: Invalid value: "a.b": must not contain dots']
    errs = v.validate_object_meta(
        meta(name="web-x1", generateName="Web-"), namespaced=True, name_fn=v.name_is_dns_subdomain
    )
    assert strs(errs) == [f'metadata.generateName: Invalid value: "Web-": {SUBDOMAIN_MSG}']


def test_object_meta_labels_and_annotations():
    errs = v.validate_object_meta(
        meta(labels={"-bad": "ok", "good": "-bad"}, annotations={"Example.COM/Key": "x", "a/b/c": "y"}),
        namespaced=True, name_fn=v.name_is_dns_subdomain,
    )
    assert [e.field for e in errs] == ["metadata.labels", "metadata.labels", "metadata.annotations"]
    assert str(errs[0]) == f'metadata.labels: Invalid value: "-bad": {NAME_PART_MSG}'
    assert str(errs[1]) == f'metadata.labels: Invalid value: "-bad": {LABEL_VALUE_MSG}'
    assert str(errs[2]).startswith('metadata.annotations: Invalid value: "a/b/c": a qualified name must')


def test_annotations_total_size_is_limited():
    at_limit = {"k": "x" * (256 * 1024 - 1)}
    assert v.validate_annotations(at_limit, "metadata.annotations") == []
    over = {"k": "x" * (256 * 1024)}
    assert strs(v.validate_annotations(over, "metadata.annotations")) == [
        "metadata.annotations: Too long: must have at most 262144 bytes"
    ]


def test_owner_references():
    refs = [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "1", "controller": True},
        {"apiVersion": "", "kind": "", "name": "", "uid": ""},
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d", "uid": "2", "controller": True},
        {"apiVersion": "v1", "kind": "Event", "name": "e", "uid": "3"},
    ]
    errs = strs(v.validate_owner_references(refs, "metadata.ownerReferences"))
    assert errs[:4] == [
        'metadata.ownerReferences.apiVersion: Invalid value: "": version must not be empty',
        'metadata.ownerReferences.kind: Invalid value: "": must not be empty',
        'metadata.ownerReferences.name: Invalid value: "": must not be empty',
        'metadata.ownerReferences.uid: Invalid value: "": must not be empty',
    ]
    assert errs[4].endswith(
        'Only one reference can have Controller set to true. Found "true" in references for ReplicaSet/rs '
        "and Deployment/d"
    )
    assert errs[5].endswith("/v1, Kind=Event is disallowed from being an owner")
    assert len(errs) == 6


def test_finalizers():
    errs = v.validate_finalizers(["kubernetes.io/pvc-protection", "orphan", "foregroundDeletion"], "f")
    assert strs(errs) == [
        'f: Invalid value: []string{"kubernetes.io/pvc-protection", "orphan", "foregroundDeletion"}: '
        "finalizer orphan and foregroundDeletion cannot be both set"
    ]
    assert strs(v.validate_finalizers(["a/b/c"], "f"))[0].startswith('f: Invalid value: "a/b/c": a qualified name')


def test_managed_fields():
    entries = [{"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1"},
               {"manager": "x\x07", "operation": "Patch", "fieldsType": "FieldsV2"}]
    assert strs(v.validate_managed_fields(entries, "metadata.managedFields")) == [
        'metadata.managedFields[1].operation: Invalid value: "Patch": must be `Apply` or `Update`',
        'metadata.managedFields[1].fieldsType: Invalid value: "FieldsV2": must be `FieldsV1`',
        'metadata.managedFields[1].manager: Invalid value: "x\\a": invalid character U+0007 (at position 1)',
    ]


def test_wrong_types_are_errors_not_crashes():
    errs = v.validate_object_meta(
        meta(labels=["a"], finalizers="x", ownerReferences={}), namespaced=True, name_fn=v.name_is_dns_subdomain
    )
    assert [e.type for e in errs] == ["FieldValueTypeInvalid"] * 3


def test_update_immutability():
    old = {"name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "5", "generation": 2,
           "creationTimestamp": "2024-01-01T00:00:00Z"}
    assert v.validate_object_meta_update(dict(old), old) == []
    new = {**old, "name": "web2", "uid": "u2", "resourceVersion": "", "generation": 1}
    assert strs(v.validate_object_meta_update(new, old)) == [
        'metadata.resourceVersion: Invalid value: "": must be specified for an update',
        "metadata.generation: Invalid value: 1: must not be decremented",
        'metadata.name: Invalid value: "web2": field is immutable',
        'metadata.uid: Invalid value: "u2": field is immutable',
    ]


def test_no_new_finalizers_while_deleting():
    old = {"name": "web", "resourceVersion": "5", "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["a/x"]}
    new = {**old, "finalizers": ["a/x", "b/y", "a/z"]}
    assert strs(v.validate_object_meta_update(new, old)) == [
        'metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, '
        'found new finalizers []string{"a/z", "b/y"}'
    ]
    assert v.validate_object_meta_update({**old, "finalizers": []}, old) == []


def test_label_selector_validation():
    sel = {"matchLabels": {"app": "web"}, "matchExpressions": [
        {"key": "tier", "operator": "In", "values": []},
        {"key": "env", "operator": "Exists", "values": ["x"]},
        {"key": "k", "operator": "Near", "values": ["-bad"]},
    ]}
    assert strs(v.validate_label_selector(sel, "spec.selector")) == [
        "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
        "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or "
        "'DoesNotExist'",
        'spec.selector.matchExpressions[2].operator: Invalid value: "Near": not a valid selector operator',
        f'spec.selector.matchExpressions[2].values[0]: Invalid value: "-bad": {LABEL_VALUE_MSG}',
    ]
    assert v.validate_label_selector(None, "spec.selector") == []
