from kubelab.apiserver import crd_schema

SCHEMA = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "spec": {
            "type": "object",
            "required": ["cronSpec"],
            "properties": {
                "cronSpec": {"type": "string", "pattern": r"^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$"},
                "image": {"type": "string", "minLength": 1, "maxLength": 20},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                "mode": {"type": "string", "enum": ["Fast", "Slow"], "default": "Slow"},
                "port": {"x-kubernetes-int-or-string": True},
                "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "note": {"type": "string", "nullable": True},
                "nested": {"type": "object", "default": {}, "properties": {"level": {"type": "integer", "default": 3}}},
            },
        },
        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
    },
}


def messages(errors):
    return [str(e) for e in errors]


def test_valid_object_passes_and_defaults_fill_in():
    obj = {"apiVersion": "x/v1", "kind": "T", "metadata": {"name": "a"}, "spec": {"cronSpec": "* * * * */5", "port": "http"}}
    crd_schema.apply_defaults(obj, SCHEMA)
    assert obj["spec"]["replicas"] == 1 and obj["spec"]["mode"] == "Slow"
    assert obj["spec"]["nested"] == {"level": 3}
    assert crd_schema.validate(obj, SCHEMA) == []


def test_validation_messages():
    obj = {"spec": {"cronSpec": "often", "image": "", "replicas": "two", "mode": "Turbo", "port": 1.5,
                    "tags": ["a", "b", "c"], "labels": {"a": 1}, "note": None}}
    assert messages(crd_schema.validate(obj, SCHEMA)) == [
        "spec.cronSpec: Invalid value: \"often\": spec.cronSpec in body should match "
        "'^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$'",
        'spec.image: Invalid value: "": spec.image in body should be at least 1 chars long',
        'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"',
        'spec.mode: Unsupported value: "Turbo": supported values: "Fast", "Slow"',
        'spec.port: Invalid value: "number": spec.port in body must be of type integer,string: "number"',
        "spec.tags: Too many: 3: must have at most 2 items",
        'spec.labels.a: Invalid value: "integer": spec.labels.a in body must be of type string: "integer"',
    ]
    assert messages(crd_schema.validate({"spec": {"replicas": 0}}, SCHEMA)) == [
        "spec.cronSpec: Required value",
        "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1",
    ]
    assert messages(crd_schema.validate({"metadata": {}}, SCHEMA)) == ["spec: Required value"]


def test_pruning_keeps_declared_preserved_and_embedded_fields():
    obj = {"apiVersion": "x/v1", "kind": "T", "metadata": {"name": "a"}, "unknown": 1,
           "spec": {"cronSpec": "* * * * *", "typo": True, "extra": {"anything": {"goes": 1}}, "labels": {"k": "v"}},
           "status": {"ready": True, "phase": "x"}}
    assert crd_schema.unknown_fields(obj, SCHEMA) == ["unknown", "spec.typo", "status.phase"]
    assert "typo" in obj["spec"]
    assert crd_schema.prune(obj, SCHEMA) == ["unknown", "spec.typo", "status.phase"]
    assert obj == {"apiVersion": "x/v1", "kind": "T", "metadata": {"name": "a"},
                   "spec": {"cronSpec": "* * * * *", "extra": {"anything": {"goes": 1}}, "labels": {"k": "v"}},
                   "status": {"ready": True}}


def test_structural_schema_rules():
    path = "spec.versions[0].schema.openAPIV3Schema"
    assert crd_schema.validate_structural({"type": "object", "properties": {"spec": {"type": "object"}}}, path) == []
    errors = messages(crd_schema.validate_structural(
        {"type": "object", "properties": {
            "spec": {"properties": {"a": {"type": "string"}}},
            "list": {"type": "array"},
            "port": {"type": "string", "x-kubernetes-int-or-string": True},
            "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}},
        }}, path))
    assert errors == [
        f"{path}.properties[metadata]: Forbidden: must not specify anything other than name and generateName, "
        "but metadata is implicitly specified",
        f"{path}.properties[spec].type: Required value: must not be empty for specified object fields",
        f"{path}.properties[list].items: Required value: must be specified",
        f'{path}.properties[port].type: Invalid value: "string": must be empty to be structural when '
        "x-kubernetes-int-or-string is true",
    ]
    assert messages(crd_schema.validate_structural({"type": "string"}, path)) == [
        f'{path}.type: Invalid value: "string": must be object at the root'
    ]
