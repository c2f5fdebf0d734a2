import pytest

from kubelab.api import field


@pytest.mark.parametrize(
    "error, text",
    [
        (field.required("metadata.name", "name or generateName is required"),
         "metadata.name: Required value: name or generateName is required"),
        (field.invalid("metadata.name", "Web", "bad"), 'metadata.name: Invalid value: "Web": bad'),
        (field.invalid("spec.replicas", -1, "must be greater than or equal to 0"),
         "spec.replicas: Invalid value: -1: must be greater than or equal to 0"),
        (field.invalid("metadata.finalizers", ["orphan", "foregroundDeletion"], "x"),
         'metadata.finalizers: Invalid value: []string{"orphan", "foregroundDeletion"}: x'),
        (field.forbidden("metadata.namespace", "not allowed on this type"),
         "metadata.namespace: Forbidden: not allowed on this type"),
        (field.too_long("metadata.annotations", "", 262144),
         "metadata.annotations: Too long: must have at most 262144 bytes"),
        (field.too_many("spec.items", 5, 3), "spec.items: Too many: 5: must have at most 3 items"),
        (field.not_supported("spec.restartPolicy", "Sometimes", ["Always", "Never", "OnFailure"]),
         'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "Never", "OnFailure"'),
        (field.duplicate("spec.ports[1].port", 80), "spec.ports[1].port: Duplicate value: 80"),
        (field.not_found("spec.x", "y"), 'spec.x: Not found: "y"'),
        (field.internal_error("metadata.name", "boom"), "metadata.name: Internal error: boom"),
        (field.invalid("spec.x", None, "gone"), "spec.x: Invalid value: null: gone"),
        (field.invalid("spec.x", True, ""), "spec.x: Invalid value: true"),
    ],
)
def test_messages_read_as_upstream_error_body(error, text):
    assert str(error) == text


def test_cause_is_what_the_invalid_status_lists():
    assert field.required("spec.containers[0].name").cause() == {
        "reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers[0].name",
    }


def test_strings_are_quoted_like_go():
    assert field.go_quote('a"b\\c\n\x01é') == '"a\\"b\\\\c\\n\\x01é"'


def test_aggregate_drops_duplicates_and_brackets_many():
    one = field.required("a")
    two = field.invalid("b", "x", "bad")
    assert field.aggregate([one]) == "a: Required value"
    assert field.aggregate([one, two, one]) == '[a: Required value, b: Invalid value: "x": bad]'
