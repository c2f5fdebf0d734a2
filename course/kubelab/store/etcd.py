"""``EtcdKV``: the :class:`~kubelab.store.kv.KV` interface against a real etcd.

It speaks etcd's gRPC-JSON gateway (``POST /v3/kv/range``, ``/v3/kv/txn``,
``/v3/kv/compaction`` and the streaming ``/v3/watch``) over one keep-alive aiohttp session:
keys and values travel base64-encoded, 64-bit integers as strings, and fields at their zero
value are left out of the answers. Errors come back as etcd's messages and are turned into
:mod:`kubelab.store.errors`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp

from kubelab.store.errors import Compacted, FutureRevision, InvalidArgument, StorageError, Unavailable
from kubelab.store.kv import (
    Compare,
    Delete,
    Event,
    KeyValue,
    Op,
    Put,
    RangeResult,
    TxnResult,
    WatchResponse,
)

_TARGETS = {
    "mod": ("MOD", "mod_revision"),
    "create": ("CREATE", "create_revision"),
    "version": ("VERSION", "version"),
    "value": ("VALUE", "value"),
}
_RESULTS = {"=": "EQUAL", "!=": "NOT_EQUAL", "<": "LESS", ">": "GREATER"}
_GRPC_INVALID_ARGUMENT = 3
#: How long one request may take before etcd is declared unreachable.
REQUEST_TIMEOUT = 30.0


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _key_value(raw: dict[str, Any]) -> KeyValue:
    return KeyValue(
        key=base64.b64decode(raw.get("key", "")),
        value=base64.b64decode(raw.get("value", "")),
        create_revision=int(raw.get("create_revision", 0)),
        mod_revision=int(raw.get("mod_revision", 0)),
        version=int(raw.get("version", 0)),
    )


def _range_request(key: bytes, range_end: bytes | None) -> dict[str, Any]:
    request = {"key": _b64(key)}
    if range_end is not None:
        request["range_end"] = _b64(range_end)
    return request


def _range_result(raw: dict[str, Any], revision: int) -> RangeResult:
    kvs = [_key_value(kv) for kv in raw.get("kvs", [])]
    return RangeResult(kvs=kvs, count=int(raw.get("count", 0)), revision=revision, more=bool(raw.get("more")))


def _compare(compare: Compare) -> dict[str, Any]:
    target, field = _TARGETS[compare.target]
    value = compare.value
    encoded = _b64(value) if isinstance(value, bytes) else str(value)
    return {"key": _b64(compare.key), "target": target, "result": _RESULTS[compare.result], field: encoded}


def _op(op: Op) -> dict[str, Any]:
    if isinstance(op, Put):
        return {"request_put": {"key": _b64(op.key), "value": _b64(op.value)}}
    if isinstance(op, Delete):
        return {"request_delete_range": {**_range_request(op.key, op.range_end), "prev_kv": True}}
    return {"request_range": _range_request(op.key, op.range_end)}


def _op_response(raw: dict[str, Any], revision: int) -> object:
    if "response_range" in raw:
        return _range_result(raw["response_range"], revision)
    if "response_delete_range" in raw:
        return [_key_value(kv) for kv in raw["response_delete_range"].get("prev_kvs", [])]
    return None


class _EtcdError(Exception):
    """An error answer of etcd: its gRPC code and message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message.removeprefix("etcdserver: ")


class EtcdKV:
    """A :class:`~kubelab.store.kv.KV` backed by the etcd at ``endpoint`` (``http://host:port``)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The one HTTP session, made on first use (it must be made inside the event loop)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                json_serialize=json.dumps,
            )
        return self._session

    async def range(
        self, key: bytes, range_end: bytes | None = None, *, revision: int = 0, limit: int = 0
    ) -> RangeResult:
        """Read the key or range at ``revision`` (0 = latest)."""
        request = _range_request(key, range_end)
        if revision:
            request["revision"] = str(revision)
        if limit:
            request["limit"] = str(limit)
        try:
            answer = await self._call("/v3/kv/range", request)
        except _EtcdError as error:
            raise await self._translate(error, revision) from None
        return _range_result(answer, int(answer["header"]["revision"]))

    async def txn(self, compares: list[Compare], success: list[Op], failure: list[Op]) -> TxnResult:
        """Run the transaction in etcd."""
        request = {
            "compare": [_compare(c) for c in compares],
            "success": [_op(op) for op in success],
            "failure": [_op(op) for op in failure],
        }
        try:
            answer = await self._call("/v3/kv/txn", request)
        except _EtcdError as error:
            raise await self._translate(error, 0) from None
        revision = int(answer["header"]["revision"])
        responses = [_op_response(raw, revision) for raw in answer.get("responses", [])]
        return TxnResult(succeeded=bool(answer.get("succeeded")), revision=revision, responses=responses)

    async def compact(self, revision: int) -> None:
        """Compact etcd's history at ``revision``."""
        try:
            await self._call("/v3/kv/compaction", {"revision": str(revision)})
        except _EtcdError as error:
            raise await self._translate(error, revision) from None

    async def watch(
        self,
        key: bytes,
        range_end: bytes | None = None,
        *,
        start_revision: int = 0,
        progress_notify: bool = False,
    ) -> AsyncGenerator[WatchResponse, None]:
        """Yield the changes to the key or range from ``start_revision`` (0 = from when iteration starts)."""
        create: dict[str, Any] = {**_range_request(key, range_end), "prev_kv": True}
        if start_revision:
            create["start_revision"] = str(start_revision)
        if progress_notify:
            create["progress_notify"] = True
        try:
            response = await self.session.post(
                self.endpoint + "/v3/watch",
                json={"create_request": create},
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=REQUEST_TIMEOUT),
            )
        except (TimeoutError, aiohttp.ClientError) as error:
            raise self._unreachable(error) from error
        try:
            if response.status != 200:
                raise StorageError(f"etcd refused the watch: HTTP {response.status} {await response.text()}")
            while True:
                try:
                    line = await response.content.readline()
                except aiohttp.ClientError as error:
                    raise self._unreachable(error) from error
                if not line:
                    raise Unavailable(
                        f"the watch stream from etcd at {self.endpoint} ended: is etcd still running?"
                    )
                if not line.strip():
                    continue
                message = json.loads(line)
                if "error" in message:
                    failure = message["error"]
                    raise StorageError(f"etcd ended the watch: {failure.get('message', failure)}")
                result = message["result"]
                compacted = int(result.get("compact_revision", 0))
                if compacted:
                    raise Compacted(start_revision, compacted)
                if result.get("canceled"):
                    reason = result.get("cancel_reason", "no reason given")
                    raise StorageError(f"etcd canceled the watch: {reason}")
                if result.get("created"):
                    continue
                events = [
                    Event(
                        type="DELETE" if raw.get("type") == "DELETE" else "PUT",
                        kv=_key_value(raw["kv"]),
                        prev_kv=_key_value(raw["prev_kv"]) if "prev_kv" in raw else None,
                    )
                    for raw in result.get("events", [])
                ]
                yield WatchResponse(events=events, revision=int(result["header"]["revision"]))
        finally:
            response.close()

    async def close(self) -> None:
        """Close the HTTP session (which ends every open watch)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(self, path: str, request: dict[str, Any]) -> dict[str, Any]:
        try:
            async with self.session.post(
                self.endpoint + path, json=request, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
            ) as response:
                body = await response.read()
        except (TimeoutError, aiohttp.ClientError) as error:
            raise self._unreachable(error) from error
        answer: dict[str, Any] = json.loads(body)
        if response.status != 200:
            raise _EtcdError(int(answer.get("code", 0)), str(answer.get("message") or answer.get("error")))
        return answer

    async def _translate(self, error: _EtcdError, revision: int) -> StorageError:
        if "required revision has been compacted" in error.message:
            return Compacted(revision)
        if "required revision is a future revision" in error.message:
            current = await self.range(b"/")
            return FutureRevision(revision, current.revision)
        if error.code == _GRPC_INVALID_ARGUMENT:
            return InvalidArgument(error.message)
        return StorageError(f"etcd: {error.message}")

    def _unreachable(self, error: BaseException) -> Unavailable:
        reason = str(error) or type(error).__name__
        return Unavailable(f"cannot reach etcd at {self.endpoint} ({reason}): is the etcd process running?")
