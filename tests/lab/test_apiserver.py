"""Lab 02's support: the reference request path, one function graded at a time, and a registry plugged into a cluster."""

from __future__ import annotations

import asyncio
import copy
import random

import kubernetes
import pytest

from kubelab import lab
from kubelab.api.selectors import LabelSelector
from kubelab.apiserver.resources.podspec import default_container
from kubelab.grading import CheckFailed
from kubelab.lab.apiserver import (
    LabRegistry,
    ListOptions,
    ReferenceConfigMaps,
    StatusError,
    check,
    defaulted,
    random_changes,
    random_container,
    random_labels,
    random_selector,
    reference_defaults,
    registry_factory,
    run,
    watch_outcome,
    with_yours,
)

PURE = ("validate_configmap", "invalid", "prepare_for_create", "selector_matches")


def reference_functions() -> dict[str, object]:
    """The reference's functions as a notebook defines them: plain ones without, async ones with ``registry``."""
    reference = with_yours()
    functions = {task: getattr(reference, task) if task in PURE else getattr(ReferenceConfigMaps, task)
                 for task in check.tasks if task != "default_container"}
    return {**functions, "default_container": default_container}


def test_the_reference_passes_every_visible_check():
    outcomes = check.report(reference_functions())
    assert [(o.task, o.reason) for o in outcomes if not o.ok] == []
    assert len(outcomes) == 10


def test_an_unwritten_function_is_reported_as_not_written():
    def validate_configmap(cm):
        raise NotImplementedError

    with pytest.raises(CheckFailed, match="not written yet"):
        check("validate_configmap", validate_configmap)


def test_a_missing_function_is_named():
    functions = reference_functions()
    del functions["get_configmap"]
    outcome = check.outcome("get_configmap", functions)
    assert not outcome.ok
    assert outcome.reason == "get_configmap is not defined: run the cell that defines it"


async def update_without_conflicts(registry, namespace, name, updated):
    """An update that drops the client's resourceVersion: the last write always wins."""
    async def try_update(current):
        new = await updated(copy.deepcopy(current))
        new["metadata"].pop("resourceVersion", None)
        new["metadata"].update({k: current["metadata"][k] for k in ("uid", "creationTimestamp", "namespace", "name")})
        return new

    return await registry.storage.guaranteed_update(registry.info.key(namespace, name), try_update)


async def watch_everything(registry, namespace, options):
    """A watch that forgets the label selector."""
    events = registry.storage.watch(registry.info.list_prefix(namespace), recursive=True,
                                    resource_version=options.resource_version)
    try:
        async for event in events:
            yield event
    finally:
        await events.aclose()


@pytest.mark.parametrize(("task", "broken", "said"), [
    ("validate_configmap", lambda cm: [], "the errors of a ConfigMap with key 'a b'"),
    ("selector_matches", lambda selector, labels: "=" in selector, "selector_matches(''"),
    ("update_configmap", update_without_conflicts, "an update carrying the first, stale resourceVersion"),
    ("watch_configmaps", watch_everything, "a watch of app=web"),
])
def test_a_visible_check_says_what_a_broken_function_got_wrong(task, broken, said):
    with pytest.raises(CheckFailed) as failed:
        check(task, broken)
    assert said in str(failed.value)


def pull_policy_from_the_last_colon(container):
    """Defaulting that takes a registry's port for a tag."""
    default_container(container)
    if "@" not in container["image"]:
        tag = container["image"].rsplit(":", 1)[-1] if ":" in container["image"] else "latest"
        container["imagePullPolicy"] = "Always" if tag == "latest" else "IfNotPresent"


def test_the_defaulting_check_knows_a_registry_port_is_no_tag():
    with pytest.raises(CheckFailed, match="the imagePullPolicy of image registry.local:5000/app"):
        check("default_container", pull_policy_from_the_last_colon)


def test_the_reference_defaults_only_what_is_missing():
    rng = random.Random(3)
    for _ in range(300):
        container = random_container(rng)
        defaults = defaulted(reference_defaults(container))
        assert {k: v for k, v in defaulted(container).items() if v is not None and k != "ports"}.items() <= defaults.items()
        assert all(port.get("protocol") in ("TCP", "UDP") for port in defaults["ports"] or [])


def test_a_learners_function_runs_inside_the_reference():
    calls = []

    async def get_configmap(registry, namespace, name):
        calls.append((namespace, name))
        return await ReferenceConfigMaps.get_configmap(registry, namespace, name)

    registry = with_yours(get_configmap=get_configmap)
    run(registry.create_configmap("default", {"metadata": {"name": "web"}, "data": {"k": "v"}}))
    assert run(registry.get_configmap("default", "web"))["data"] == {"k": "v"}
    assert calls == [("default", "web")]
    with pytest.raises(StatusError, match='configmaps "gone" not found'):
        run(registry.get_configmap("default", "gone"))


def test_the_reference_selector_agrees_with_the_api_servers_own():
    rng = random.Random(2)
    reference = with_yours()
    for _ in range(500):
        selector, labels = random_selector(rng), random_labels(rng)
        assert reference.selector_matches(selector, labels) == LabelSelector.parse(selector).matches(labels), selector


def test_a_list_in_pages_holds_every_match_once():
    registry = with_yours()
    for i in range(7):
        run(registry.create_configmap("default", {"metadata": {"name": f"cm-{i}", "labels": {"n": str(i % 2)}}}))
    seen, options = [], ListOptions(label_selector=LabelSelector.parse("n=0"), limit=2)
    while True:
        page = run(registry.list_configmaps("default", options))
        seen += [item["metadata"]["name"] for item in page["items"]]
        if not page["metadata"].get("continue"):
            break
        options = ListOptions(label_selector=options.label_selector, limit=2, continue_token=page["metadata"]["continue"])
    assert seen == ["cm-0", "cm-2", "cm-4", "cm-6"]


def test_a_registry_plugged_in_serves_kubectl_and_the_python_client():
    with lab.start("test-02", registries={"configmaps": registry_factory(ReferenceConfigMaps)},
                   components=(), nodes=0) as cluster:
        cluster.kubectl("create configmap web --from-literal=color=blue")
        said = cluster.kubectl("create -f -", check=False, input='{"apiVersion": "v1", "kind": "ConfigMap", '
                               '"metadata": {"name": "bad"}, "data": {"no spaces": "x"}}')
        assert 'The ConfigMap "bad" is invalid: data[no spaces]: Invalid value: "no spaces"' in said
        read = cluster.kubectl("get cm web -o json")
        cluster.kubectl("label cm web app=web")
        said = cluster.kubectl("replace -f -", input=read.replace('"blue"', '"red"'), check=False)
        assert ('Operation cannot be fulfilled on configmaps "web": the object has been modified; '
                'please apply your changes to the latest version and try again') in said
        assert cluster.kubectl("get cm -l app=web -o name").split() == ["configmap/web"]
        v1 = kubernetes.client.CoreV1Api(cluster.api_client())
        start = v1.read_namespaced_config_map("web", "default").metadata.resource_version
        v1.patch_namespaced_config_map("web", "default", {"data": {"color": "green"}})
        v1.delete_namespaced_config_map("web", "default")
        events = [(e["type"], e["object"].data) for e in kubernetes.watch.Watch().stream(
            v1.list_namespaced_config_map, "default", resource_version=start, timeout_seconds=2)]
        assert events == [("MODIFIED", {"color": "green"}), ("DELETED", {"color": "green"})]


def test_an_unwritten_registry_says_which_function_is_missing():
    with lab.start("test-02", registries={"configmaps": registry_factory(LabRegistry)},
                   components=(), nodes=0) as cluster:
        said = cluster.kubectl("create configmap web --from-literal=color=blue", check=False)
        assert "create_configmap is not written yet" in said
        said = cluster.kubectl("get configmaps", check=False)
        assert "list_configmaps is not written yet" in said


async def watch_nothing(registry, namespace, options):
    """A watch that never sends an event."""
    await asyncio.sleep(3600)
    yield


def test_a_watch_that_never_sends_ends_after_the_timeout():
    changes = [("create", "default", "a", {})]
    assert run(watch_outcome(with_yours(watch_configmaps=watch_nothing), changes, 0, "", "", timeout=0.1)) == []


def test_random_changes_only_update_or_delete_what_exists():
    rng = random.Random(5)
    for _ in range(200):
        existing = set()
        for verb, namespace, name, _labels in random_changes(rng):
            assert (verb == "create") == ((namespace, name) not in existing)
            (existing.discard if verb == "delete" else existing.add)((namespace, name))


def test_a_watch_that_forgets_the_selector_sees_other_events_than_the_reference():
    changes = [("create", "default", "a", {"app": "a"}), ("create", "default", "b", {}),
               ("update", "default", "a", {}), ("delete", "default", "b", {})]
    want = run(watch_outcome(with_yours(), changes, 0, "default", "app"))
    assert want == [("ADDED", "default", "a"), ("DELETED", "default", "a")]
    assert run(watch_outcome(with_yours(watch_configmaps=ReferenceConfigMaps.watch_configmaps), changes, 0, "default",
                             "app")) == want
    unfiltered = run(watch_outcome(with_yours(watch_configmaps=watch_everything), changes, 0, "default", "app"))
    assert unfiltered == [("ADDED", "default", "a"), ("ADDED", "default", "b"), ("MODIFIED", "default", "a"),
                          ("DELETED", "default", "b")]
