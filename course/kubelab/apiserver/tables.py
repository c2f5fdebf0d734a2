"""The representations ``kubectl get`` and metadata-only clients ask for: Table and PartialObjectMetadata.

Mirrors ``k8s.io/apiserver/pkg/endpoints/handlers/response.go`` (``asTable``,
``asPartialObjectMetadata``). A Table's columns and cells come from the resource's strategy
(:meth:`~kubelab.apiserver.strategy.Strategy.table_columns` / ``table_cells``); each row
carries the object itself, only its metadata (the default), or nothing, as ``includeObject``
says.
"""

from __future__ import annotations

import time
from typing import Any

from kubelab.apiserver import errors
from kubelab.apiserver.strategy import Strategy

Obj = dict[str, Any]
INCLUDE_OBJECT = ("None", "Metadata", "Object")


def partial_object_metadata(obj: Obj, version: str = "v1") -> Obj:
    """``PartialObjectMetadata``: the object's metadata and nothing else."""
    return {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{version}", "metadata": obj.get("metadata", {})}


def partial_object_metadata_list(list_obj: Obj, version: str = "v1") -> Obj:
    return {
        "kind": "PartialObjectMetadataList",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": list_obj.get("metadata", {}),
        "items": [partial_object_metadata(o, version) for o in list_obj.get("items", [])],
    }


def table(
    strategy: Strategy,
    objects: list[Obj],
    *,
    list_meta: Obj,
    include_object: str = "Metadata",
    no_headers: bool = False,
    version: str = "v1",
    now: float | None = None,
) -> Obj:
    """A ``meta.k8s.io`` Table of ``objects``, one row each, in order."""
    if include_object not in INCLUDE_OBJECT:
        raise errors.bad_request(f'unrecognized includeObject value: "{include_object}"')
    now = time.time() if now is None else now
    rows = []
    for obj in objects:
        row: Obj = {"cells": strategy.table_cells(obj, now)}
        if include_object == "Metadata":
            row["object"] = partial_object_metadata(obj, version)
        elif include_object == "Object":
            row["object"] = obj
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": list_meta,
        "columnDefinitions": [] if no_headers else strategy.table_columns(),
        "rows": rows,
    }
