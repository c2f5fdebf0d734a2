"""Decode the Kubernetes protobuf encoding, which kubectl 1.32+ sends for built-in kinds.

From 1.32 on, kubectl's typed commands (``create configmap``, ``create deployment``, ...)
send their bodies as ``application/vnd.kubernetes.protobuf`` and do not fall back to JSON.
The body is the magic ``k8s\\x00`` followed by a ``runtime.Unknown`` envelope (its
``typeMeta`` names apiVersion and kind; ``raw`` holds the object's message).

A message's field *numbers* come from the API's ``generated.proto`` files. Rather than
ship a copy of those, we read the schema where it already is: every kubectl binary embeds
its compiled proto file descriptors (gzipped ``FileDescriptorProto`` messages, registered
at start-up). Only a client that has such a binary can send protobuf, so the schema is at
hand whenever it is needed. We answer in JSON, which kubectl accepts.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import json
import os
import re
import shutil
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubelab import paths

MAGIC = b"k8s\x00"
_GZIP_HEADER = re.compile(rb"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff")
_META = "k8s.io.apimachinery.pkg.apis.meta.v1"
# FieldDescriptorProto.Type values that matter here.
_INT64, _UINT64, _INT32, _BOOL, _STRING, _MESSAGE, _BYTES, _UINT32, _ENUM, _DOUBLE, _FLOAT = (
    3, 4, 5, 8, 9, 11, 12, 13, 14, 1, 2,
)


# Go writes every non-pointer field, zero or not; JSON's omitempty leaves zeros out. A zero
# read from the wire is therefore dropped, except in these pointer fields where an explicit
# zero means something (``kubectl create deployment --replicas=0``).
MEANINGFUL_ZEROES = frozenset(
    {"replicas", "parallelism", "completions", "backoffLimit", "revisionHistoryLimit",
     "terminationGracePeriodSeconds", "activeDeadlineSeconds", "progressDeadlineSeconds"}
)


class ProtobufError(ValueError):
    """A protobuf body could not be decoded."""


@dataclass
class Field:
    name: str
    type: int
    repeated: bool
    type_name: str
    inline: bool = False
    """Go embeds this struct inline: its fields belong to the parent in JSON (IngressRule's http)."""


@dataclass
class Message:
    name: str
    fields: dict[int, Field] = field(default_factory=dict)
    map_entry: bool = False


# -- the wire format ---------------------------------------------------------------------


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if i >= len(buf):
            raise ProtobufError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield (field number, wire type, value) for each field of one encoded message."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
            yield number, wire, value
        elif wire == 2:
            length, i = _varint(buf, i)
            if i + length > len(buf):
                raise ProtobufError("truncated length-delimited field")
            yield number, wire, buf[i : i + length]
            i += length
        elif wire == 1:
            yield number, wire, int.from_bytes(buf[i : i + 8], "little")
            i += 8
        elif wire == 5:
            yield number, wire, int.from_bytes(buf[i : i + 4], "little")
            i += 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")


# -- the schema, read from kubectl -----------------------------------------------------------


def _parse_descriptor(message: bytes, package: str, into: dict[str, Message]) -> None:
    name, fields, nested, map_entry = "", [], [], False
    for number, _, value in _fields(message):
        if number == 1:
            name = bytes(value).decode()  # type: ignore[arg-type]
        elif number == 2:
            fields.append(value)
        elif number == 3:
            nested.append(value)
        elif number == 7:
            map_entry = any(n == 7 and v for n, _, v in _fields(value))  # type: ignore[arg-type]
    full = f"{package}.{name}"
    msg = Message(full, map_entry=map_entry)
    for raw in fields:
        f = Field("", 0, False, "")
        number = 0
        for n, _, v in _fields(raw):  # type: ignore[arg-type]
            if n == 1:
                f.name = bytes(v).decode()  # type: ignore[arg-type]
            elif n == 3:
                number = int(v)  # type: ignore[arg-type]
            elif n == 4:
                f.repeated = v == 3
            elif n == 5:
                f.type = int(v)  # type: ignore[arg-type]
            elif n == 6:
                f.type_name = bytes(v).decode().lstrip(".")  # type: ignore[arg-type]
        msg.fields[number] = f
    into[full] = msg
    for raw in nested:
        _parse_descriptor(raw, full, into)  # type: ignore[arg-type]


def _descriptors_in(binary: Path) -> dict[str, Message]:
    data = binary.read_bytes()
    messages: dict[str, Message] = {}
    for match in _GZIP_HEADER.finditer(data):
        try:
            raw = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[match.start() : match.start() + (1 << 20)])
        except zlib.error:
            continue
        if b"generated.proto" not in raw[:200]:
            continue
        package, types = "", []
        try:
            for number, _, value in _fields(raw):
                if number == 2:
                    package = bytes(value).decode()  # type: ignore[arg-type]
                elif number == 4:
                    types.append(value)
            for t in types:
                _parse_descriptor(t, package, messages)  # type: ignore[arg-type]
        except ProtobufError:
            continue
    return messages


def kubectl_binaries() -> list[Path]:
    """Every kubectl on this machine we can read: the one on PATH and ``kubectl.*`` beside it."""
    found = shutil.which("kubectl")
    if not found:
        return []
    real = Path(os.path.realpath(found))
    return [real, *sorted(real.parent.glob("kubectl.*"), reverse=True)]


def _align_with_json(messages: dict[str, Message]) -> None:
    """Give fields their JSON names, and mark embedded structs, from the official client's models.

    Proto names mostly are the JSON names; a few differ in case (``uID`` is ``uid``), and a
    struct Go embeds inline (``volumeSource`` in a Volume) has a proto field but no JSON one.
    """
    from kubelab.api import schema as json_schema

    for full, msg in messages.items():
        *package, version, simple = full.split(".")
        group = "" if package[-1] == "core" else package[-1]
        name = json_schema.model_name_for_kind(group, version, simple)
        model = json_schema.model(name) if name else None
        if model is None:
            continue
        by_lower = {json_name.lower(): json_name for json_name in model.fields}
        for f in msg.fields.values():
            if f.name in model.fields:
                continue
            if f.name.lower() in by_lower:
                f.name = by_lower[f.name.lower()]
            elif f.type == _MESSAGE:
                f.inline = True


def _cache_file(binary: Path) -> Path:
    """Where the schema read from ``binary`` is kept: reading a kubectl binary takes seconds."""
    stat = binary.stat()
    key = hashlib.sha256(f"{binary}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return paths.home() / "cache" / f"kubectl-protobuf-{key}.json"


def _dump(messages: dict[str, Message]) -> str:
    return json.dumps({
        name: [msg.map_entry, {n: [f.name, f.type, f.repeated, f.type_name, f.inline] for n, f in msg.fields.items()}]
        for name, msg in messages.items()
    })


def _load(text: str) -> dict[str, Message]:
    return {
        name: Message(name, {int(n): Field(*f) for n, f in fields.items()}, map_entry)
        for name, (map_entry, fields) in json.loads(text).items()
    }


def _schema_of(binary: Path) -> dict[str, Message]:
    cache = _cache_file(binary)
    try:
        return _load(cache.read_text())
    except (OSError, ValueError, TypeError):
        pass  # not read yet, or a cache from another version of this module: read the binary
    messages = _descriptors_in(binary)
    if messages:
        _align_with_json(messages)
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            partial = cache.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(_dump(messages))
            partial.replace(cache)
        except OSError:
            pass  # a read-only home: read the binary again next time
    return messages


@functools.cache
def schema() -> dict[str, Message]:
    """Every API message type, from the newest kubectl binary found."""
    for binary in kubectl_binaries():
        messages = _schema_of(binary)
        if messages:
            return messages
    return {}


# -- decoding --------------------------------------------------------------------------------


def _time(buf: bytes, micro: bool) -> str | None:
    if not buf:
        return None  # Go's zero time, which JSON writes as null
    seconds = nanos = 0
    for n, _, v in _fields(buf):
        if n == 1:
            seconds = int(v)  # type: ignore[arg-type]
        elif n == 2:
            nanos = int(v)  # type: ignore[arg-type]
    when = dt.datetime.fromtimestamp(seconds, dt.UTC).replace(microsecond=nanos // 1000)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


def _special(type_name: str, buf: bytes) -> tuple[bool, Any]:
    if type_name == f"{_META}.Time":
        return True, _time(buf, micro=False)
    if type_name == f"{_META}.MicroTime":
        return True, _time(buf, micro=True)
    if type_name == "k8s.io.apimachinery.pkg.util.intstr.IntOrString":
        kind, int_val, str_val = 0, 0, ""
        for n, _, v in _fields(buf):
            if n == 1:
                kind = int(v)  # type: ignore[arg-type]
            elif n == 2:
                int_val = _signed(int(v))  # type: ignore[arg-type]
            elif n == 3:
                str_val = bytes(v).decode()  # type: ignore[arg-type]
        return True, str_val if kind == 1 else int_val
    if type_name == "k8s.io.apimachinery.pkg.api.resource.Quantity":
        return True, next((bytes(v).decode() for n, _, v in _fields(buf) if n == 1), "0")  # type: ignore[arg-type]
    if type_name in ("k8s.io.apimachinery.pkg.runtime.RawExtension", f"{_META}.FieldsV1"):
        raw = next((bytes(v) for n, _, v in _fields(buf) if n == 1), b"")  # type: ignore[arg-type]
        return True, json.loads(raw) if raw else None
    return False, None


def _signed(value: int) -> int:
    """A varint read as two's complement: negative int32 and int64 values are sign-extended to 64 bits."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _scalar(f: Field, value: int | bytes) -> Any:
    if f.type in (_INT64, _INT32):
        return _signed(int(value))  # type: ignore[arg-type]
    if f.type in (_UINT64, _UINT32, _ENUM):
        return int(value)  # type: ignore[arg-type]
    if f.type == _BOOL:
        return bool(value)
    if f.type == _STRING:
        return bytes(value).decode()  # type: ignore[arg-type]
    if f.type == _BYTES:
        return base64.b64encode(bytes(value)).decode()  # type: ignore[arg-type]
    raise ProtobufError(f"unsupported field type {f.type} for {f.name}")


def decode_message(buf: bytes, type_name: str, messages: dict[str, Message]) -> Any:
    """Decode one encoded message of ``type_name`` into its JSON form."""
    handled, value = _special(type_name, buf)
    if handled:
        return value
    msg = messages.get(type_name)
    if msg is None:
        raise ProtobufError(f"unknown message type {type_name}")
    out: dict[str, Any] = {}
    for number, _, raw in _fields(buf):
        f = msg.fields.get(number)
        if f is None:
            continue
        if f.type == _MESSAGE:
            sub = messages.get(f.type_name)
            if sub is not None and sub.map_entry:
                entry = decode_message(raw, f.type_name, messages)  # type: ignore[arg-type]
                out.setdefault(f.name, {})[entry.get("key", "")] = entry.get("value", _zero(sub))
                continue
            value = decode_message(raw, f.type_name, messages)  # type: ignore[arg-type]
            if f.inline and isinstance(value, dict):
                out.update(value)
                continue
        elif f.repeated and isinstance(raw, bytes) and f.type not in (_STRING, _BYTES):
            value = [_scalar(f, v) for v in _packed(raw)]
            out.setdefault(f.name, []).extend(value)
            continue
        else:
            value = _scalar(f, raw)
            if not f.repeated and value in ("", 0) and f.name not in MEANINGFUL_ZEROES:
                continue
        if f.repeated:
            out.setdefault(f.name, []).append(value)
        else:
            out[f.name] = value
    return out


def _zero(entry: Message) -> Any:
    value = entry.fields.get(2)
    return "" if value is None or value.type in (_STRING, _BYTES) else {}


def _packed(buf: bytes) -> Iterator[int]:
    i = 0
    while i < len(buf):
        value, i = _varint(buf, i)
        yield value


def _message_for(api_version: str, kind: str, messages: dict[str, Message]) -> str:
    group, _, version = api_version.rpartition("/")
    short = group.split(".")[0] if group else "core"
    candidates = [f"k8s.io.api.{short}.{version}.{kind}", f"{_META}.{kind}"]
    for name in candidates:
        if name in messages:
            return name
    raise ProtobufError(f"no protobuf schema for {api_version} {kind}")


def decode(body: bytes) -> dict[str, Any]:
    """Decode a ``application/vnd.kubernetes.protobuf`` request body into a JSON object."""
    if not body.startswith(MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf magic number")
    messages = schema()
    if not messages:
        raise ProtobufError(
            "this server reads the protobuf schema from a kubectl binary and found none on PATH; send JSON"
        )
    api_version = kind = ""
    raw = b""
    for number, _, value in _fields(body[len(MAGIC) :]):
        if number == 1:
            for n, _, v in _fields(value):  # type: ignore[arg-type]
                if n == 1:
                    api_version = bytes(v).decode()  # type: ignore[arg-type]
                elif n == 2:
                    kind = bytes(v).decode()  # type: ignore[arg-type]
        elif number == 2:
            raw = bytes(value)  # type: ignore[arg-type]
    if not kind:
        raise ProtobufError("the protobuf envelope names no kind")
    obj = decode_message(raw, _message_for(api_version, kind, messages), messages)
    return {"apiVersion": api_version, "kind": kind, **obj}
