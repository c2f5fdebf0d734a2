"""How objects are stored: compact JSON without the fields the store itself provides.

An object's ``metadata.resourceVersion`` is never stored (it is the key's ``mod_revision``,
set on every object read back), and neither is the deprecated ``selfLink``, as
k8s.io/apiserver's ``APIObjectVersioner.PrepareObjectForStorage``.
"""

from __future__ import annotations

import json
from typing import Any

from kubelab.store.errors import InvalidObject
from kubelab.store.kv import KeyValue

Object = dict[str, Any]


def encode(obj: Object) -> bytes:
    """The bytes stored for ``obj``: compact JSON without resourceVersion and selfLink."""
    metadata = obj.get("metadata")
    if isinstance(metadata, dict) and ("resourceVersion" in metadata or "selfLink" in metadata):
        metadata = {k: v for k, v in metadata.items() if k not in ("resourceVersion", "selfLink")}
        obj = {**obj, "metadata": metadata}
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def decode(kv: KeyValue, revision: int = 0) -> Object:
    """The object stored in ``kv``, its resourceVersion set to ``revision`` (default: its mod_revision)."""
    try:
        obj = json.loads(kv.value)
    except ValueError as error:
        raise InvalidObject(f"the object stored at {kv.key.decode(errors='replace')} is not JSON: {error}") from error
    if not isinstance(obj, dict):
        raise InvalidObject(f"the object stored at {kv.key.decode(errors='replace')} is not a JSON object")
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        metadata = obj["metadata"] = {}
    metadata["resourceVersion"] = str(revision or kv.mod_revision)
    return obj
