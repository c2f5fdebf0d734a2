"""Continue tokens of paginated lists, shaped as k8s.io/apiserver ``pkg/storage/continue.go``.

A token is unpadded URL-safe base64 of ``{"v":"meta.k8s.io/v1","rv":<revision>,"start":<key>}``:
the revision every page is read at, and the next key relative to the listed prefix. A
revision of -1 means "continue at the latest revision" (handed out when the first page's
revision was compacted).
"""

from __future__ import annotations

import base64
import binascii
import json
import posixpath

from kubelab.store.errors import InvalidArgument

API_VERSION = "meta.k8s.io/v1"


def encode_continue(key: str, key_prefix: str, revision: int) -> str:
    """The token that continues a list of ``key_prefix`` at ``key``, read at ``revision``."""
    if not key.startswith(key_prefix) or key == key_prefix:
        raise ValueError(f"unable to encode next field: the key and key prefix do not match {key_prefix} {key}")
    token = {"v": API_VERSION, "rv": revision, "start": key[len(key_prefix) :]}
    data = json.dumps(token, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def decode_continue(token: str, key_prefix: str) -> tuple[str, int]:
    """The key to continue from and the revision to read at; :class:`InvalidArgument` for a bad token."""
    try:
        data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        decoded = json.loads(data)
    except (binascii.Error, ValueError) as error:
        raise _invalid(f"continue key is not valid: {error}") from error
    if not isinstance(decoded, dict):
        raise _invalid("continue key is not valid: not a JSON object")
    version = decoded.get("v", "")
    if version != API_VERSION:
        raise _invalid(f"continue key is not valid: server does not recognize this encoded version {version}")
    revision = decoded.get("rv", 0)
    start = decoded.get("start", "")
    if not isinstance(revision, int) or isinstance(revision, bool) or revision == 0:
        raise _invalid(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"
        )
    if not isinstance(start, str) or not start:
        raise _invalid("continue key is not valid: encoded start key empty (version meta.k8s.io/v1)")
    # A start key that climbs out of the prefix ("../secrets/...") would list another resource.
    rooted = start if start.startswith("/") else "/" + start
    if posixpath.normpath(rooted) != rooted or rooted.startswith("//"):
        raise _invalid(f"continue key is not valid: {start}")
    return key_prefix + rooted[1:], revision


def _invalid(reason: str) -> InvalidArgument:
    return InvalidArgument(f"invalid continue token: {reason}")
