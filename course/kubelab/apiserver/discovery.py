"""Discovery: the documents that tell clients which groups, versions and resources exist.

Mirrors ``k8s.io/apiserver/pkg/endpoints/discovery`` (the legacy ``APIVersions``,
``APIGroupList``, ``APIGroup`` and ``APIResourceList``) and ``discovery/aggregated`` (one
``APIGroupDiscoveryList`` for ``/api`` and one for ``/apis``, which kubectl 1.26+ asks
for first). Every document is built from the :class:`~kubelab.api.resources.ResourceRegistry`
and cached until the set of resources changes (a CustomResourceDefinition comes or goes).
"""

from __future__ import annotations

import json
import re
from typing import Any

from kubelab.api.resources import SUBRESOURCE_KINDS, SUBRESOURCE_VERBS, ResourceInfo, ResourceRegistry

_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key that puts the preferred version first: v2 > v1 > v1beta2 > v1beta1 > v1alpha1 > others."""
    m = _VERSION.match(version)
    if not m:
        return (3, 0, 0, version)
    major, stage, minor = int(m.group(1)), m.group(2), int(m.group(3) or 0)
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -major, -minor, "")


def _group_version(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def _resource_entries(infos: list[ResourceInfo]) -> list[dict[str, Any]]:
    """``APIResourceList.resources``: each resource, then each of its subresources."""
    out: list[dict[str, Any]] = []
    for info in sorted(infos, key=lambda i: i.plural):
        entry: dict[str, Any] = {
            "name": info.plural,
            "singularName": info.singular,
            "namespaced": info.namespaced,
            "kind": info.kind,
            "verbs": list(info.verbs),
        }
        if info.short_names:
            entry["shortNames"] = list(info.short_names)
        if info.categories:
            entry["categories"] = list(info.categories)
        out.append(entry)
        for sub in info.subresources:
            kind = SUBRESOURCE_KINDS.get(sub)
            sub_entry: dict[str, Any] = {
                "name": f"{info.plural}/{sub}", "singularName": "", "namespaced": info.namespaced,
            }
            if kind is not None:
                sub_entry.update(group=kind[0], version=kind[1], kind=kind[2])
            else:
                sub_entry["kind"] = info.kind
            sub_entry["verbs"] = list(SUBRESOURCE_VERBS.get(sub, ()))
            out.append(sub_entry)
    return out


def _aggregated_resources(infos: list[ResourceInfo]) -> list[dict[str, Any]]:
    out = []
    for info in sorted(infos, key=lambda i: i.plural):
        entry: dict[str, Any] = {
            "resource": info.plural,
            "responseKind": {"group": info.group, "version": info.version, "kind": info.kind},
            "scope": "Namespaced" if info.namespaced else "Cluster",
            "singularResource": info.singular,
            "verbs": list(info.verbs),
        }
        if info.short_names:
            entry["shortNames"] = list(info.short_names)
        if info.categories:
            entry["categories"] = list(info.categories)
        subs = []
        for sub in info.subresources:
            kind = SUBRESOURCE_KINDS.get(sub)
            group, version, kind_name = kind if kind is not None else (info.group, info.version, info.kind)
            subs.append({
                "subresource": sub,
                "responseKind": {"group": group, "version": version, "kind": kind_name},
                "verbs": list(SUBRESOURCE_VERBS.get(sub, ())),
            })
        if subs:
            entry["subresources"] = subs
        out.append(entry)
    return out


class Discovery:
    """Every discovery document of one server, as encoded bytes, rebuilt when the resources change."""

    def __init__(self, registry: ResourceRegistry, server_address: str) -> None:
        self.registry = registry
        self.server_address = server_address
        self._signature: frozenset[ResourceInfo] | None = None
        self._docs: dict[tuple[str, ...], bytes] = {}

    def _refresh(self) -> None:
        infos = frozenset(self.registry)
        if infos == self._signature:
            return
        by_gv: dict[tuple[str, str], list[ResourceInfo]] = {}
        for info in infos:
            by_gv.setdefault((info.group, info.version), []).append(info)
        groups: dict[str, list[str]] = {}
        for group, version in by_gv:
            groups.setdefault(group, []).append(version)
        for group_versions in groups.values():
            group_versions.sort(key=version_priority)
        docs: dict[tuple[str, ...], bytes] = {}
        docs[("api",)] = _dump({
            "kind": "APIVersions",
            "versions": groups.get("", ["v1"]),
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": self.server_address}],
        })
        named = sorted(g for g in groups if g)
        group_docs = []
        for group in named:
            entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in groups[group]]
            doc = {"name": group, "versions": entries, "preferredVersion": entries[0]}
            group_docs.append(doc)
            docs[("apis", group)] = _dump({"kind": "APIGroup", "apiVersion": "v1", **doc})
        docs[("apis",)] = _dump({"kind": "APIGroupList", "apiVersion": "v1", "groups": group_docs})
        for (group, version), members in by_gv.items():
            docs[("gv", group, version)] = _dump({
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": _group_version(group, version),
                "resources": _resource_entries(members),
            })
        for api_version in ("v2", "v2beta1"):
            for prefix, names in (("api", [""] if "" in groups else []), ("apis", named)):
                items = [
                    {
                        "metadata": {"name": group, "creationTimestamp": None},
                        "versions": [
                            {
                                "version": v,
                                "resources": _aggregated_resources(by_gv[(group, v)]),
                                "freshness": "Current",
                            }
                            for v in groups[group]
                        ],
                    }
                    for group in names
                ]
                docs[("aggregated", api_version, prefix)] = _dump({
                    "kind": "APIGroupDiscoveryList",
                    "apiVersion": f"apidiscovery.k8s.io/{api_version}",
                    "metadata": {},
                    "items": items,
                })
        self._docs = docs
        self._signature = infos

    def document(self, *key: str) -> bytes | None:
        """One document, or None if it does not exist.

        Keys: ``("api",)``, ``("apis",)``, ``("apis", group)``, ``("gv", group, version)``,
        ``("aggregated", "v2"|"v2beta1", "api"|"apis")``.
        """
        self._refresh()
        return self._docs.get(key)


def _dump(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()
