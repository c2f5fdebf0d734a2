"""Small helpers over object metadata: timestamps, ages, uids, owner references."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

_formatted_second: tuple[int, str] = (-1, "")
"""The last second :func:`now_rfc3339` formatted: every write stamps one or two times, mostly in the same second."""


def now_rfc3339() -> str:
    """The current time as Kubernetes writes it: ``2026-11-25T12:00:00Z`` (whole seconds, UTC)."""
    global _formatted_second
    second = int(time.time())
    last, formatted = _formatted_second
    if second != last:
        formatted = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
        _formatted_second = (second, formatted)
    return formatted


def now_micro() -> str:
    """The current time with microseconds (``MicroTime``, used by Leases and events.k8s.io)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str) -> float:
    """Epoch seconds of an RFC 3339 timestamp (``Time`` or ``MicroTime``)."""
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def human_duration(seconds: float) -> str:
    """A duration as kubectl's AGE column shows it (``duration.HumanDuration``): 45s, 3m2s, 5h, 12d."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def age(timestamp: str | None, now: float) -> str:
    """The AGE cell for a creationTimestamp: ``<unknown>`` when it is missing."""
    if not timestamp:
        return "<unknown>"
    return human_duration(now - parse_time(timestamp))


def new_uid() -> str:
    return str(uuid.uuid4())


def controller_of(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The ownerReference with ``controller: true``, if any (``metav1.GetControllerOf``)."""
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None
