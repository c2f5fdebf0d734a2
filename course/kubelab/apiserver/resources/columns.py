"""Building blocks of the Tables ``kubectl get`` prints: column definitions and cell formats.

Mirrors ``pkg/printers/internalversion/printers.go``: each resource's columns carry the
description of the field they show (taken from the API's own docs via :mod:`kubelab.api.schema`),
and cells are formatted the way kubectl users know (``<none>``, ``app=web``, ``a,b``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubelab.api import schema
from kubelab.api.meta import age
from kubelab.api.selectors import LabelSelector, SelectorError
from kubelab.apiserver.resources.selectors import as_decoded

Obj = dict[str, Any]


def doc(model_name: str, field: str) -> str:
    """The API documentation of one field (``doc("V1PodSpec", "nodeName")``), or ``""``."""
    m = schema.model(model_name)
    ft = m.field(field) if m else None
    return ft.description if ft else ""


def column(name: str, description: str = "", type: str = "string", priority: int = 0, format: str = "") -> Obj:
    """One ``columnDefinitions`` entry; ``priority=1`` columns show only with ``-o wide``."""
    return {"name": name, "type": type, "format": format, "description": description, "priority": priority}


def name_column() -> Obj:
    return column("Name", doc("V1ObjectMeta", "name"), format="name")


def age_column() -> Obj:
    return column("Age", doc("V1ObjectMeta", "creationTimestamp"))


def containers_columns() -> list[Obj]:
    """The wide CONTAINERS and IMAGES columns of workload tables."""
    return [
        column("Containers", "Names of each container in the template.", priority=1),
        column("Images", "Images referenced by each container in the template.", priority=1),
    ]


def name_of(obj: Obj) -> str:
    return str(obj.get("metadata", {}).get("name", ""))


def age_of(obj: Obj, now: float) -> str:
    return age(obj.get("metadata", {}).get("creationTimestamp"), now)


def container_cells(pod_spec: Obj | None) -> list[str]:
    """The CONTAINERS and IMAGES cells: names and images joined by commas."""
    containers = [c for c in (pod_spec or {}).get("containers") or [] if isinstance(c, dict)]
    return [",".join(str(c.get("name") or "") for c in containers), ",".join(str(c.get("image") or "") for c in containers)]


def format_labels(labels: dict[str, str] | None) -> str:
    """``labels.FormatLabels``: ``a=1,b=2`` sorted by key, ``<none>`` when empty."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def format_label_selector(selector: Obj | None) -> str:
    """``metav1.FormatLabelSelector``: ``app=web,tier in (a,b)``; ``<none>`` when empty, ``<error>`` if invalid."""
    try:
        text = str(LabelSelector.from_label_selector(as_decoded(selector)))
    except SelectorError:
        return "<error>"
    return text or "<none>"


def with_more(items: Iterable[str], maximum: int = 3, empty: str = "<unset>") -> str:
    """``a,b,c + 2 more...`` as printers shorten long lists."""
    listed = list(items)
    text = ",".join(listed[:maximum])
    if len(listed) > maximum:
        return f"{text} + {len(listed) - maximum} more..."
    return text or empty


def deleting(obj: Obj) -> bool:
    return bool(obj.get("metadata", {}).get("deletionTimestamp"))
