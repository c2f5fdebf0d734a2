"""Which resources the API server serves right now, custom resources included, read from discovery.

The garbage collector and the namespace controller act on *every* kind of object, including
kinds that did not exist when they started (a CustomResourceDefinition created later), so
they ask the server rather than a built-in table. Mirrors client-go's
``discovery.ServerPreferredResources`` with ``FilteredBy(SupportsAllVerbs{...})``: one entry
per resource, in its group's preferred version, subresources left out.
"""

from __future__ import annotations

from collections.abc import Iterable

from kubelab import errors
from kubelab.api.resources import ResourceInfo
from kubelab.client import Client

IGNORED = frozenset({("", "events"), ("events.k8s.io", "events")})
"""Resources the garbage collector never tracks (``DefaultIgnoredResources``): there are many and nobody owns them."""


def _resources(client: Client, path: str, group: str, version: str) -> list[ResourceInfo]:
    try:
        document = client.request("GET", path) or {}
    except errors.NotFound:
        # The group went away between the two requests (a CRD was deleted).
        return []
    return [
        ResourceInfo(
            group, version, r["kind"], r["name"], r.get("singularName") or r["kind"].lower(),
            bool(r.get("namespaced")), short_names=tuple(r.get("shortNames") or ()),
            verbs=tuple(r.get("verbs") or ()),
        )
        for r in document.get("resources") or []
        if "/" not in r["name"]
    ]


def preferred_resources(client: Client) -> list[ResourceInfo]:
    """Every top-level resource the server serves, each in its group's preferred version."""
    found = _resources(client, "/api/v1", "", "v1")
    groups = (client.request("GET", "/apis") or {}).get("groups") or []
    for group in groups:
        preferred = group.get("preferredVersion") or (group.get("versions") or [{}])[0]
        version = preferred.get("version")
        if version:
            found += _resources(client, f"/apis/{group['name']}/{version}", group["name"], version)
    return found


def supporting(resources: Iterable[ResourceInfo], verbs: Iterable[str]) -> list[ResourceInfo]:
    """The resources that allow every one of ``verbs``."""
    needed = set(verbs)
    return [r for r in resources if needed <= set(r.verbs)]


def deletable(resources: Iterable[ResourceInfo]) -> list[ResourceInfo]:
    """The resources the garbage collector tracks: listable, watchable, deletable, and not ignored."""
    return [r for r in supporting(resources, ("list", "watch", "delete")) if (r.group, r.plural) not in IGNORED]
