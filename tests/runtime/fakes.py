"""An in-memory resource with a change log, standing in for the API server in informer tests.

It lists, and watches from any version it still remembers: older versions raise Expired
after :meth:`FakeResource.compact`, as etcd compaction makes the real server answer 410.
Tests can also end open watches (a server timeout) or break them with an ERROR event.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from typing import Any

from kubelab import errors


def pod(name: str, namespace: str = "default", **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels}, "spec": {}}


class FakeWatch:
    def __init__(self, resource: FakeResource, version: int) -> None:
        self.resource = resource
        self.resource_version = str(version)
        self._next = version
        self._stopped = False
        self.ended = False
        self.error: dict[str, Any] | None = None

    def stop(self) -> None:
        with self.resource.cond:
            self._stopped = True
            self.resource.cond.notify_all()

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        cond = self.resource.cond
        with cond:
            while not self._stopped:
                pending = [e for e in self.resource.log if e[0] > self._next]
                for version, type, obj in pending:
                    self._next = version
                    self.resource_version = str(version)
                    cond.release()
                    try:
                        yield type, copy.deepcopy(obj)
                    finally:
                        cond.acquire()
                if self.error is not None:
                    raise errors.from_status(self.error)
                if self.ended:
                    return
                if not pending:
                    cond.wait(1)


class FakeResource:
    def __init__(self, kind: str = "Pod", api_version: str = "v1") -> None:
        self.kind, self.api_version = kind, api_version
        self.cond = threading.Condition()
        self.objects: dict[str, dict[str, Any]] = {}
        self.log: list[tuple[int, str, dict[str, Any]]] = []
        self.version = 1
        self.compacted = 0
        self.watches: list[FakeWatch] = []
        self.lists = 0
        self.watch_versions: list[str | None] = []
        self.fail_next: list[Exception] = []

    def _change(self, type: str, obj: dict[str, Any]) -> dict[str, Any]:
        with self.cond:
            self.version += 1
            obj = copy.deepcopy(obj)
            obj.setdefault("apiVersion", self.api_version)
            obj.setdefault("kind", self.kind)
            obj["metadata"]["resourceVersion"] = str(self.version)
            key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
            if type == "DELETED":
                self.objects.pop(key, None)
            else:
                self.objects[key] = obj
            self.log.append((self.version, type, obj))
            self.cond.notify_all()
            return obj

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self._change("ADDED", obj)

    def update(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self._change("MODIFIED", obj)

    def delete(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self._change("DELETED", obj)

    def compact(self) -> None:
        with self.cond:
            self.compacted = self.version

    def end_watches(self) -> None:
        with self.cond:
            for w in self.watches:
                w.ended = True
            self.cond.notify_all()

    def expire_watches(self) -> None:
        with self.cond:
            for w in self.watches:
                w.error = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old resource version"}
            self.cond.notify_all()

    def list(self, namespace=None, *, label_selector=None, field_selector=None) -> dict[str, Any]:
        with self.cond:
            self.lists += 1
            if self.fail_next:
                raise self.fail_next.pop(0)
            items = []
            for obj in self.objects.values():
                item = copy.deepcopy(obj)
                del item["apiVersion"], item["kind"]
                items.append(item)
            return {"apiVersion": self.api_version, "kind": f"{self.kind}List",
                    "metadata": {"resourceVersion": str(self.version)}, "items": items}

    def watch(self, namespace=None, *, resource_version=None, label_selector=None, field_selector=None,
              allow_bookmarks=True, timeout_seconds=None) -> FakeWatch:
        with self.cond:
            self.watch_versions.append(resource_version)
            if self.fail_next:
                raise self.fail_next.pop(0)
            version = int(resource_version or self.version)
            if version < self.compacted:
                raise errors.Expired({"code": 410, "reason": "Expired",
                                      "message": f"too old resource version: {version} ({self.compacted})"})
            w = FakeWatch(self, version)
            self.watches.append(w)
            return w
