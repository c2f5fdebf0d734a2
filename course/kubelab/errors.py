"""What a client sees when a request to the API server fails.

Every failed call of :mod:`kubelab.client` raises one of these. The API server answers a
failure with a ``Status`` object (``{"kind": "Status", "code": 404, "reason": "NotFound", ...}``);
:func:`from_status` turns it into the matching class here, as client-go's
``k8s.io/apimachinery/pkg/api/errors`` does, so callers write ``except NotFound:``.
"""

from __future__ import annotations

import json
from typing import Any


class ClientError(Exception):
    """A request to the API server failed."""


class ConnectionFailed(ClientError):
    """The API server could not be reached, or the connection broke mid-request."""


class ApiError(ClientError):
    """The API server refused the request and said why in a Status."""

    def __init__(self, status: dict[str, Any]) -> None:
        self.status = status
        self.code: int = int(status.get("code") or 0)
        self.reason: str = status.get("reason") or ""
        self.message: str = status.get("message") or ""
        self.details: dict[str, Any] = status.get("details") or {}
        super().__init__(self.message or f"HTTP {self.code} {self.reason}".strip())


class BadRequest(ApiError):
    """The request itself was malformed (400)."""


class Unauthorized(ApiError):
    """The credentials are missing or wrong (401)."""


class Forbidden(ApiError):
    """The credentials are valid but may not do this (403)."""


class NotFound(ApiError):
    """The object, or the resource type, does not exist (404)."""


class MethodNotAllowed(ApiError):
    """The resource does not support this verb (405)."""


class AlreadyExists(ApiError):
    """A create found an object with that name already there (409)."""


class Conflict(ApiError):
    """The object changed since it was read; read it again and retry (409)."""


class Gone(ApiError):
    """What was asked for is no longer available (410): list again."""


class Expired(Gone):
    """The resourceVersion a list or watch started from is too old (410 Expired): list again."""


class Invalid(ApiError):
    """The object failed validation (422); ``causes`` lists each field and what is wrong with it."""

    @property
    def causes(self) -> list[dict[str, str]]:
        return list(self.details.get("causes") or [])


class TooManyRequests(ApiError):
    """The server is overloaded or rate-limiting this client (429); ``retry_after`` says when to retry."""

    @property
    def retry_after(self) -> int | None:
        value = self.details.get("retryAfterSeconds")
        return int(value) if value is not None else None


class ServerError(ApiError):
    """The server failed to handle a valid request (5xx)."""


class Timeout(ServerError):
    """The server gave up waiting for the request to complete (504, or reason Timeout/ServerTimeout)."""


_BY_REASON: dict[str, type[ApiError]] = {
    "BadRequest": BadRequest,
    "Unauthorized": Unauthorized,
    "Forbidden": Forbidden,
    "NotFound": NotFound,
    "MethodNotAllowed": MethodNotAllowed,
    "AlreadyExists": AlreadyExists,
    "Conflict": Conflict,
    "Gone": Gone,
    "Expired": Expired,
    "Invalid": Invalid,
    "TooManyRequests": TooManyRequests,
    "Timeout": Timeout,
    "ServerTimeout": Timeout,
}

_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    410: Gone,
    422: Invalid,
    429: TooManyRequests,
    504: Timeout,
}


def from_status(status: dict[str, Any]) -> ApiError:
    """The error for a failure ``Status``: by its reason when known, else by its code."""
    cls = _BY_REASON.get(status.get("reason") or "")
    if cls is None:
        code = int(status.get("code") or 0)
        cls = _BY_CODE.get(code) or (ServerError if code >= 500 else ApiError)
    return cls(status)


def from_response(code: int, body: bytes) -> ApiError:
    """The error for a non-2xx HTTP answer, whether or not its body is a Status."""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get("kind") == "Status":
        parsed.setdefault("code", code)
        return from_status(parsed)
    text = body.decode("utf-8", "replace").strip()
    return from_status({"code": code, "message": text or f"the server answered HTTP {code}"})
