"""API errors: the Status objects every failed request answers with, and where they come from.

Mirrors ``k8s.io/apimachinery/pkg/api/errors`` (the constructors, their codes, reasons and
messages) and ``k8s.io/apiserver/pkg/storage/errors`` (:func:`from_storage`, the one place
that turns a storage error, which speaks of keys and revisions, into an API error).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from kubelab.api.field import FieldError
from kubelab.store import errors as storage

OPTIMISTIC_LOCK_MESSAGE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


class GroupResource(NamedTuple):
    """A resource and its group, as Status messages name it: ``deployments.apps``, ``pods``."""

    group: str
    resource: str

    def __str__(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource


class StatusError(Exception):
    """A failed request, carrying the ``Status`` object the client receives."""

    def __init__(
        self, code: int, reason: str, message: str, details: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.metadata = metadata or {}

    def status(self) -> dict[str, Any]:
        """The ``Status`` body, with keys in the order the real API server writes them."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": self.metadata,
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def success(code: int = 200, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``Status`` of a request that succeeded with no object to return (a delete, a binding)."""
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        body["details"] = details
    body["code"] = code
    return body


def _details(gr: GroupResource, name: str = "", **extra: Any) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if gr.group:
        details["group"] = gr.group
    if gr.resource:
        details["kind"] = gr.resource
    details.update(extra)
    return details


def not_found(gr: GroupResource, name: str) -> StatusError:
    return StatusError(404, "NotFound", f'{gr} "{name}" not found', _details(gr, name))


def already_exists(gr: GroupResource, name: str) -> StatusError:
    return StatusError(409, "AlreadyExists", f'{gr} "{name}" already exists', _details(gr, name))


def generate_name_conflict(gr: GroupResource, name: str) -> StatusError:
    return StatusError(
        409, "AlreadyExists",
        f'{gr} "{name}" already exists, the server was not able to generate a unique name for the object',
        _details(gr, name, retryAfterSeconds=1),
    )


def conflict(gr: GroupResource, name: str, why: str = OPTIMISTIC_LOCK_MESSAGE) -> StatusError:
    return StatusError(
        409, "Conflict", f'Operation cannot be fulfilled on {gr} "{name}": {why}', _details(gr, name)
    )


def apply_conflict(causes: list[dict[str, str]], message: str) -> StatusError:
    return StatusError(409, "Conflict", message, {"causes": causes})


def invalid(kind: str, group: str, name: str, errors: list[FieldError]) -> StatusError:
    """422 Invalid: ``Pod "web" is invalid: spec.containers[0].name: Required value``."""
    qualified = f"{kind}.{group}" if group else kind
    message = f'{qualified} "{name}" is invalid'
    if len(errors) == 1:
        message += f": {errors[0]}"
    elif errors:
        message += ": [" + ", ".join(str(e) for e in errors) + "]"
    details: dict[str, Any] = {"name": name} if name else {}
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = [e.cause() for e in errors]
    return StatusError(422, "Invalid", message, details)


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def unauthorized(message: str = "Unauthorized") -> StatusError:
    return StatusError(401, "Unauthorized", message)


def forbidden(gr: GroupResource, name: str, why: str) -> StatusError:
    if not gr.resource:
        message = f"forbidden: {why}"
    elif not name:
        message = f"{gr} is forbidden: {why}"
    else:
        message = f'{gr} "{name}" is forbidden: {why}'
    return StatusError(403, "Forbidden", message, _details(gr, name))


def method_not_supported(gr: GroupResource, action: str) -> StatusError:
    return StatusError(
        405, "MethodNotAllowed", f'{action} is not supported on resources of kind "{gr}"', _details(gr)
    )


def method_not_allowed() -> StatusError:
    """A verb the resource does not serve at all (the route does not exist, as in go-restful)."""
    return StatusError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


def not_acceptable(message: str) -> StatusError:
    return StatusError(406, "NotAcceptable", message)


def unsupported_media_type(content_type: str, supported: list[str]) -> StatusError:
    return StatusError(
        415, "UnsupportedMediaType",
        f'the body of the request was in an unknown format - accepted media types include: {", ".join(supported)}'
        if content_type else "the request had no Content-Type",
    )


def expired(message: str, continue_token: str = "") -> StatusError:
    """410 Expired: a resourceVersion or continue token too old to serve.

    ``continue_token``, if any, lets a paginated list go on at the latest revision instead.
    """
    return StatusError(410, "Expired", message, metadata={"continue": continue_token} if continue_token else None)


def gone(message: str) -> StatusError:
    return StatusError(410, "Gone", message)


def request_entity_too_large(message: str) -> StatusError:
    return StatusError(413, "RequestEntityTooLarge", f"Request entity too large: {message}")


def too_many_requests(message: str, retry_after: int = 1) -> StatusError:
    return StatusError(
        429, "TooManyRequests", f"Too many requests: {message}", {"retryAfterSeconds": retry_after}
    )


def internal_error(err: BaseException | str) -> StatusError:
    text = str(err)
    return StatusError(
        500, "InternalError", f"Internal error occurred: {text}", {"causes": [{"message": text}]}
    )


def service_unavailable(message: str) -> StatusError:
    return StatusError(503, "ServiceUnavailable", message)


def timeout(message: str, retry_after: int = 0) -> StatusError:
    details = {"retryAfterSeconds": retry_after} if retry_after else None
    return StatusError(504, "Timeout", f"Timeout: {message}", details)


def too_large_resource_version(minimum: int, current: int) -> StatusError:
    """A read asked for a resourceVersion the store has not reached yet (upstream answers 504)."""
    return StatusError(
        504, "Timeout", f"Timeout: Too large resource version: {minimum}, current: {current}",
        {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
         "retryAfterSeconds": 1},
    )


def from_storage(err: storage.StorageError, gr: GroupResource, name: str = "") -> StatusError:
    """Translate a storage error into the API error a client sees (``storage/errors.go``)."""
    if isinstance(err, storage.KeyNotFound):
        return not_found(gr, name)
    if isinstance(err, storage.KeyExists):
        return already_exists(gr, name)
    if isinstance(err, storage.ResourceVersionConflict):
        return conflict(gr, name, str(err) if str(err).startswith("Precondition failed") else OPTIMISTIC_LOCK_MESSAGE)
    if isinstance(err, storage.Compacted):
        return expired(str(err), err.continue_token)
    if isinstance(err, storage.InvalidArgument):
        return bad_request(str(err))
    if isinstance(err, storage.FutureRevision):
        return too_large_resource_version(err.revision, err.current)
    if isinstance(err, storage.Unavailable):
        return service_unavailable(f"the storage backend is unavailable: {err}")
    return internal_error(err)
