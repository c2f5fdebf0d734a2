import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelab.api.selectors import (
    FieldSelector,
    LabelSelector,
    NodeSelector,
    Requirement,
    SelectorError,
    escape_field_value,
)

NAME_PART = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


@pytest.mark.parametrize(
    "text, canonical",
    [
        ("", ""),
        ("app=web", "app=web"),
        ("app==web", "app==web"),
        ("app!=web", "app!=web"),
        ("tier in (b,a)", "tier in (a,b)"),
        ("tier notin (a)", "tier notin (a)"),
        ("app", "app"),
        ("!app", "!app"),
        ("  x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
        ("gpu>3,cpu<8", "cpu<8,gpu>3"),
        ("app=", "app="),
        ("x==,y", "x==,y"),
        ("env in (in, notin)", "env in (in,notin)"),
        ("z=1,a=2,m", "a=2,m,z=1"),
        ("example.com/role=db", "example.com/role=db"),
    ],
)
def test_parse_prints_canonically(text, canonical):
    assert str(LabelSelector.parse(text)) == canonical


@pytest.mark.parametrize(
    "text, message",
    [
        ("app:web", f'unable to parse requirement: <nil>: Invalid value: "app:web": {NAME_PART}'),
        ("app: nginx", f'unable to parse requirement: <nil>: Invalid value: "app:": {NAME_PART}'),
        ("app=web tier=db", "found 'tier', expected: ',' or 'end of string'"),
        ("app=web,", "found '', expected: identifier after ','"),
        (",app", "found ',', expected: !, identifier, or 'end of string'"),
        ("x in a", "unable to parse requirement: found 'a' expected: '('"),
        ("x in (a", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("x in (a b)", "unable to parse requirement: found 'b', expected: ',' or ')'"),
        ("x in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
        ("x == ,", "found '', expected: identifier after ','"),
        ("x = !", "unable to parse requirement: found '!', expected: identifier"),
        ("x (a)", "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"),
        ("!x=a", "found '=', expected: ',' or 'end of string'"),
        ("x>a", 'unable to parse requirement: values[0]: Invalid value: "a": for \'Gt\', \'Lt\' operators, '
                "the value must be an integer"),
        ("x=-a", 'unable to parse requirement: values[0][x]: Invalid value: "-a": a valid label must be an '
                 "empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
                 "an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
                 "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"),
    ],
)
def test_parse_errors_read_as_upstream(text, message):
    with pytest.raises(SelectorError) as e:
        LabelSelector.parse(text)
    assert str(e.value) == message


@pytest.mark.parametrize(
    "text, labels, expected",
    [
        ("", {}, True),
        ("app=web", {"app": "web"}, True),
        ("app=web", {"app": "db"}, False),
        ("app=web", {}, False),
        ("app!=web", {}, True),
        ("app!=web", {"app": "web"}, False),
        ("tier in (a,b)", {"tier": "b"}, True),
        ("tier in (a,b)", {}, False),
        ("tier notin (a,b)", {}, True),
        ("tier notin (a,b)", {"tier": "a"}, False),
        ("app", {"app": ""}, True),
        ("!app", {"app": ""}, False),
        ("!app", {"x": "y"}, True),
        ("gpu>3", {"gpu": "4"}, True),
        ("gpu>3", {"gpu": "3"}, False),
        ("gpu>3", {"gpu": "many"}, False),
        ("gpu<3", {"gpu": "-1"}, True),
        ("gpu<3", {"gpu": "2"}, True),
        ("app=web,tier in (fe)", {"app": "web", "tier": "fe", "x": "y"}, True),
        ("app=web,tier in (fe)", {"app": "web", "tier": "be"}, False),
        ("app=", {"app": ""}, True),
        ("app=", {}, False),
    ],
)
def test_matches(text, labels, expected):
    assert LabelSelector.parse(text).matches(labels) is expected


def test_label_selector_objects():
    assert LabelSelector.from_label_selector(None).matches({"a": "b"}) is False
    assert LabelSelector.from_label_selector({}).matches({"a": "b"}) is True
    assert LabelSelector.from_label_selector({}).empty
    sel = LabelSelector.from_label_selector({
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe", "be"]},
                             {"key": "legacy", "operator": "DoesNotExist"}],
    })
    assert str(sel) == "app=web,!legacy,tier in (be,fe)"
    assert sel.matches({"app": "web", "tier": "fe"})
    assert not sel.matches({"app": "web", "tier": "fe", "legacy": "1"})
    with pytest.raises(SelectorError, match='^"Near" is not a valid label selector operator$'):
        LabelSelector.from_label_selector({"matchExpressions": [{"key": "a", "operator": "Near"}]})
    with pytest.raises(SelectorError) as e:
        LabelSelector.from_label_selector({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})
    assert str(e.value) == "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"
    with pytest.raises(SelectorError) as e:
        LabelSelector.from_label_selector({"matchLabels": {"a/b/c": "x"}})
    assert str(e.value).startswith('key: Invalid value: "a/b/c": a qualified name must consist')


def test_requirement_errors_aggregate():
    with pytest.raises(SelectorError) as e:
        Requirement.new("-k", "=", ["a", "b"])
    assert str(e.value) == (
        f'[key: Invalid value: "-k": {NAME_PART}, '
        'values: Invalid value: []string{"a", "b"}: exact-match compatibility requires one single value]'
    )
    with pytest.raises(SelectorError, match="Unsupported value"):
        Requirement.new("k", "near", ["a"])


def test_exact_match_and_set_selectors():
    assert LabelSelector.parse("app=web,tier in (fe)").requires_exact_match("tier") == "fe"
    assert LabelSelector.parse("tier in (fe,be)").requires_exact_match("tier") is None
    assert LabelSelector.parse("app!=web").requires_exact_match("app") is None
    assert str(LabelSelector.from_set({"b": "2", "a": "1"})) == "a=1,b=2"
    assert LabelSelector.from_set(None).empty
    assert not LabelSelector.nothing().empty
    assert LabelSelector.nothing().matches({}) is False


keys = st.from_regex(r"\A([a-z]{1,5}(\.[a-z]{1,5})?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?\Z")
values = st.from_regex(r"\A([A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?)?\Z")


@st.composite
def requirements(draw):
    key = draw(keys)
    op = draw(st.sampled_from(["=", "==", "!=", "in", "notin", "exists", "!", "gt", "lt"]))
    if op in ("exists", "!"):
        vals = []
    elif op in ("in", "notin"):
        vals = sorted(set(draw(st.lists(values, min_size=1, max_size=3))))
    elif op in ("gt", "lt"):
        vals = [str(draw(st.integers(0, 1000)))]
    else:
        vals = [draw(values)]
    return Requirement.new(key, op, vals)


@given(st.lists(requirements(), max_size=4), st.dictionaries(keys, values, max_size=4))
def test_string_form_parses_back_to_the_same_selector(reqs, labels):
    selector = LabelSelector().add(*reqs)
    again = LabelSelector.parse(str(selector))
    assert str(again) == str(selector)
    assert again.matches(labels) == selector.matches(labels)


def test_field_selector_parse_and_match():
    sel = FieldSelector.parse("spec.nodeName=node-1,status.phase!=Failed")
    assert sel.terms == (("spec.nodeName", "=", "node-1"), ("status.phase", "!=", "Failed"))
    assert sel.matches({"spec.nodeName": "node-1", "status.phase": "Running"})
    assert not sel.matches({"spec.nodeName": "node-1", "status.phase": "Failed"})
    assert FieldSelector.parse("spec.nodeName=").matches({"spec.nodeName": ""})
    assert FieldSelector.parse("spec.nodeName=").matches({})
    assert FieldSelector.parse("metadata.name==web").requires_exact_match("metadata.name") == "web"
    assert FieldSelector.parse("metadata.name!=web").requires_exact_match("metadata.name") is None
    assert FieldSelector.parse("").empty and FieldSelector.parse("").matches({"a": "b"})
    assert FieldSelector.parse("b=1,a=2").fields == ["a", "b"]
    assert str(FieldSelector.parse("metadata.name==a\\,b")) == "metadata.name=a\\,b"
    assert FieldSelector.parse("metadata.name=a\\,b\\=c\\\\d").requires_exact_match("metadata.name") == "a,b=c\\d"
    involved = FieldSelector.parse("involvedObject.name=web,involvedObject.namespace=default,involvedObject.uid=u1")
    assert involved.matches({"involvedObject.name": "web", "involvedObject.namespace": "default",
                             "involvedObject.uid": "u1"})


@pytest.mark.parametrize(
    "text, message",
    [
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
        ("a=b=c", "invalid field selector: unescaped character in value: 61"),
        ("a=b\\x", "invalid field selector: invalid escape sequence: \\x"),
        ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
    ],
)
def test_field_selector_errors(text, message):
    with pytest.raises(SelectorError) as e:
        FieldSelector.parse(text)
    assert str(e.value) == message


@given(st.dictionaries(st.from_regex(r"\A[a-z][a-zA-Z.]{0,10}\Z"), st.text(max_size=10), max_size=4))
def test_field_selector_round_trips_any_value(fields):
    sel = FieldSelector.from_set(fields)
    again = FieldSelector.parse(str(sel))
    assert again == sel
    assert again.matches(fields)
    for name, value in fields.items():
        assert again.requires_exact_match(name) == value
        assert escape_field_value(value).count(",") == escape_field_value(value).count("\\,")


def node(name, **labels):
    return {"metadata": {"name": name, "labels": labels}}


def test_node_selector_terms_are_ored_and_requirements_anded():
    sel = NodeSelector.from_spec({"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]},
                              {"key": "gpu", "operator": "Gt", "values": ["1"]}]},
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-9"]}]},
    ]})
    assert sel.errors == ()
    assert sel.matches(node("a", disk="ssd", gpu="2"))
    assert not sel.matches(node("a", disk="ssd", gpu="1"))
    assert not sel.matches(node("a", disk="hdd", gpu="4"))
    assert sel.matches(node("node-9"))


def test_node_selector_operators():
    def one(op, values=None, **labels):
        expr = {"key": "zone", "operator": op}
        if values is not None:
            expr["values"] = values
        return NodeSelector.from_spec({"nodeSelectorTerms": [{"matchExpressions": [expr]}]}).matches(node("n", **labels))

    assert one("NotIn", ["a"], zone="b") and one("NotIn", ["a"]) and not one("NotIn", ["a"], zone="a")
    assert one("Exists", zone="") and not one("Exists")
    assert one("DoesNotExist") and not one("DoesNotExist", zone="a")
    assert one("Lt", ["5"], zone="4") and not one("Lt", ["5"], zone="x")


def test_node_selector_bad_terms_are_dropped_with_an_error():
    sel = NodeSelector.from_spec({"nodeSelectorTerms": [
        {},
        {"matchExpressions": [{"key": "zone", "operator": "Near", "values": ["a"]}]},
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["a", "b"]}]},
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
    ]})
    assert sel.errors == (
        'nodeSelectorTerms[1].matchExpressions[0].operator: Unsupported value: "Near"',
        'nodeSelectorTerms[2].matchFields[0].values: Invalid value: []string{"a", "b"}: must have one element',
    )
    assert not sel.matches(node("n"))
    assert sel.matches(node("n", zone="a"))
    assert not NodeSelector.from_spec(None).matches(node("n"))


def test_negative_bounds_are_not_label_values():
    # Upstream validates Gt/Lt values as label values too, so "-1" is rejected.
    with pytest.raises(SelectorError, match=r'^unable to parse requirement: values\[0\]\[gpu\]: Invalid value: "-1"'):
        LabelSelector.parse("gpu>-1")


def test_a_field_selector_from_keys_that_sort_differently_as_terms_round_trips():
    sel = FieldSelector.from_set({"a": "", "a.": ""})
    assert FieldSelector.parse(str(sel)) == sel
