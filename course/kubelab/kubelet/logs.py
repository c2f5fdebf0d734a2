"""Container logs in the CRI format, written by the runtime and read back for ``kubectl logs``.

Each line of a container's output becomes one line of its log file::

    2026-11-25T12:00:00.123456789Z stdout F hello world

(time, stream, tag, content): ``F`` marks a full line, ``P`` a piece of a longer one whose
rest follows. This is the format containerd writes to ``/var/log/pods`` and the kubelet
parses (``pkg/kubelet/kuberuntime/logs``). Each restart of a container writes a new file
(``<container>/<restartCount>.log``), which is how ``kubectl logs --previous`` finds the last run.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

MAX_LINE = 16 * 1024


def format_timestamp(ns: int) -> str:
    """``ns`` since the epoch as Go's RFC3339Nano in UTC (trailing zeros of the fraction dropped)."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    base = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{nanos:09d}".rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


def parse_timestamp(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 timestamp with up to nine fractional digits."""
    base, _, rest = text.partition(".")
    if not rest:
        base, zone = text[:19], text[19:]
        fraction = ""
    else:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        fraction, zone = rest[:digits], rest[digits:]
    when = dt.datetime.fromisoformat(base[:19] + (zone.replace("Z", "+00:00") or "+00:00"))
    return int(when.timestamp()) * 1_000_000_000 + int((fraction + "000000000")[:9])


class LogWriter:
    """Appends one container's stdout and stderr to its log file, a line at a time."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "ab")  # noqa: SIM115 — kept open for the container's life
        self._partial = {"stdout": b"", "stderr": b""}
        self._lock = threading.Lock()

    def write(self, stream: str, data: bytes) -> None:
        with self._lock:
            if self._file.closed:
                return
            stamp = format_timestamp(time.time_ns()).encode()
            buffer = self._partial[stream] + data
            prefix = stamp + b" " + stream.encode()
            *lines, rest = buffer.split(b"\n")
            out = [prefix + b" F " + line + b"\n" for line in lines]
            while len(rest) > MAX_LINE:
                out.append(prefix + b" P " + rest[:MAX_LINE] + b"\n")
                rest = rest[MAX_LINE:]
            self._partial[stream] = rest
            self._file.write(b"".join(out))
            self._file.flush()

    def end(self, stream: str) -> None:
        """The stream is closed: what is left of its last line is a line of its own."""
        with self._lock:
            rest, self._partial[stream] = self._partial[stream], b""
            if rest and not self._file.closed:
                stamp = format_timestamp(time.time_ns()).encode()
                self._file.write(stamp + b" " + stream.encode() + b" F " + rest + b"\n")
                self._file.flush()

    def flush(self) -> None:
        for stream in ("stdout", "stderr"):
            self.end(stream)

    def reopen(self) -> None:
        """Start a fresh file at the same path (after the old one was rotated away)."""
        with self._lock:
            self._file.close()
            self._file = open(self.path, "ab")  # noqa: SIM115

    def close(self) -> None:
        self.flush()
        with self._lock:
            self._file.close()


@dataclass(frozen=True)
class LogLine:
    timestamp: int
    stream: str
    full: bool
    content: bytes


def parse_line(raw: bytes) -> LogLine | None:
    """One line of a CRI log file, or None if it is not one."""
    parts = raw.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr") or parts[2] not in (b"F", b"P"):
        return None
    try:
        stamp = parse_timestamp(parts[0].decode())
    except ValueError:
        return None
    return LogLine(stamp, parts[1].decode(), parts[2] == b"F", parts[3] if len(parts) > 3 else b"")


@dataclass
class LogOptions:
    """What ``kubectl logs`` asks for: ``--tail``, ``--since``/``--since-time``, ``--timestamps``, ``--limit-bytes``."""

    tail: int | None = None
    since_ns: int | None = None
    timestamps: bool = False
    limit_bytes: int | None = None
    stream: str | None = None


def _render(lines: list[LogLine], options: LogOptions) -> bytes:
    """Joins a run of P pieces and their closing F line into one output line."""
    content = b"".join(line.content for line in lines) + b"\n"
    if options.timestamps:
        return format_timestamp(lines[0].timestamp).encode() + b" " + content
    return content


def _messages(raw_lines: Iterator[bytes], options: LogOptions) -> Iterator[list[LogLine]]:
    pending: dict[str, list[LogLine]] = {}
    for raw in raw_lines:
        line = parse_line(raw)
        if line is None:
            continue
        if options.stream and line.stream != options.stream:
            continue
        pending.setdefault(line.stream, []).append(line)
        if line.full:
            message = pending.pop(line.stream)
            if options.since_ns is None or message[0].timestamp >= options.since_ns:
                yield message


def read_logs(path: str | Path, options: LogOptions) -> bytes:
    """The whole (or the tail of the) log at ``path`` as ``kubectl logs`` prints it."""
    try:
        with open(path, "rb") as f:
            messages = list(_messages(iter(f), options))
    except FileNotFoundError:
        return b""
    if options.tail is not None and options.tail >= 0:
        messages = messages[-options.tail:] if options.tail else []
    out = b"".join(_render(m, options) for m in messages)
    if options.limit_bytes is not None:
        out = out[: options.limit_bytes]
    return out


def follow_logs(
    path: str | Path, options: LogOptions, still_running: Callable[[], bool], poll: float = 0.1
) -> Iterator[bytes]:
    """Yield the log at ``path`` as it grows, until the container stops and the file is read to the end."""
    remaining = options.limit_bytes
    first = read_logs(path, LogOptions(options.tail, options.since_ns, options.timestamps, None, options.stream))
    try:
        position = os.path.getsize(path)
    except OSError:
        position = 0
    if first:
        if remaining is not None:
            first = first[:remaining]
            remaining -= len(first)
        yield first
    buffered = b""
    pending: dict[str, list[LogLine]] = {}
    while remaining is None or remaining > 0:
        running = still_running()
        try:
            with open(path, "rb") as f:
                f.seek(position)
                chunk = f.read()
        except FileNotFoundError:
            chunk = b""
        position += len(chunk)
        buffered += chunk
        *complete, buffered = buffered.split(b"\n")
        out = []
        for raw in complete:
            line = parse_line(raw)
            if line is None or (options.stream and line.stream != options.stream):
                continue
            pending.setdefault(line.stream, []).append(line)
            if line.full:
                out.append(_render(pending.pop(line.stream), options))
        if out:
            data = b"".join(out)
            if remaining is not None:
                data = data[:remaining]
                remaining -= len(data)
            yield data
        elif not running:
            return
        else:
            time.sleep(poll)
