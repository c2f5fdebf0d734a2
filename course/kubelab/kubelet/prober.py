"""Liveness, readiness and startup probes (``pkg/kubelet/prober``).

One worker thread per container and probe: after ``initialDelaySeconds`` it probes every
``periodSeconds`` (exec in the container, an HTTP GET, or a TCP connect, each within
``timeoutSeconds``), and only flips its result after ``failureThreshold`` failures or
``successThreshold`` successes in a row. Every failure is an ``Unhealthy`` event
(``Liveness probe failed: HTTP probe failed with statuscode: 500``). While a startup probe
has not succeeded, the others wait. A failed liveness or startup probe holds its result
until the container is replaced: the kubelet kills and restarts it.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubelab.kubelet.runtime import RuntimeService, RuntimeServiceError
from kubelab.network import host_port

PROBE_TYPES = {"liveness": "livenessProbe", "readiness": "readinessProbe", "startup": "startupProbe"}
MAX_OUTPUT = 10 * 1024


@dataclass
class ProbeResult:
    success: bool
    output: str = ""


def resolve_port(port: int | str, container: Mapping[str, Any]) -> int:
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"couldn't find port: {port} in {container.get('name')}")


def _dial_error(ip: str, port: int, e: OSError) -> str:
    if isinstance(e, socket.timeout | TimeoutError):
        return f"dial tcp {ip}:{port}: i/o timeout"
    reason = (e.strerror or str(e)).lower()
    return f"dial tcp {ip}:{port}: connect: {reason}"


def tcp_probe(ip: str, port: int, timeout: float) -> ProbeResult:
    try:
        with socket.create_connection((ip, port), timeout=timeout):
            return ProbeResult(True)
    except OSError as e:
        return ProbeResult(False, _dial_error(ip, port, e))


def http_probe(ip: str, port: int, get: Mapping[str, Any], timeout: float, user_agent: str) -> ProbeResult:
    host = get.get("host") or ip
    path = get.get("path") or "/"
    scheme = (get.get("scheme") or "HTTP").lower()
    url = f"{scheme}://{host}:{port}{path}"
    headers = {"User-Agent": user_agent, "Accept": "*/*"}
    headers.update({h["name"]: h["value"] for h in get.get("httpHeaders") or []})
    if scheme == "https":
        import ssl

        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=ssl._create_unverified_context()
        )
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read(MAX_OUTPUT).decode(errors="replace")
    except TimeoutError:
        return ProbeResult(False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)')
    except OSError as e:
        return ProbeResult(False, f'Get "{url}": {_dial_error(host, port, e)}')
    except http.client.HTTPException as e:
        return ProbeResult(False, f'Get "{url}": {e}')
    finally:
        connection.close()
    if 200 <= response.status < 400:
        return ProbeResult(True, body)
    return ProbeResult(False, f"HTTP probe failed with statuscode: {response.status}")


def exec_probe(runtime: RuntimeService, container_id: str, command: list[str], timeout: float) -> ProbeResult:
    try:
        result = runtime.exec_sync(container_id, command, timeout)
    except RuntimeServiceError as e:
        if e.code == "DeadlineExceeded":
            return ProbeResult(False, e.message)
        return ProbeResult(False, str(e))
    output = (result.stdout + result.stderr)[:MAX_OUTPUT]
    return ProbeResult(result.exit_code == 0, output)


def run_probe(probe: Mapping[str, Any], container: Mapping[str, Any], container_id: str, pod_ip: str,
              runtime: RuntimeService, user_agent: str) -> ProbeResult:
    """Run one probe once."""
    timeout = float(probe.get("timeoutSeconds") or 1)
    try:
        if "exec" in probe:
            return exec_probe(runtime, container_id, list(probe["exec"].get("command") or []), timeout)
        if "httpGet" in probe:
            port = resolve_port(probe["httpGet"].get("port", 80), container)
            return http_probe(pod_ip, host_port(port), probe["httpGet"], timeout, user_agent)
        if "tcpSocket" in probe:
            port = resolve_port(probe["tcpSocket"].get("port", 0), container)
            return tcp_probe(probe["tcpSocket"].get("host") or pod_ip, host_port(port), timeout)
    except ValueError as e:
        return ProbeResult(False, str(e))
    return ProbeResult(False, "unsupported probe handler: use exec, httpGet or tcpSocket")


@dataclass(frozen=True)
class Target:
    """The running container a worker probes."""

    pod_key: str
    pod_uid: str
    container: Mapping[str, Any]
    container_id: str
    started_at: float
    pod_ip: str


class _Worker:
    def __init__(self, manager: ProbeManager, kind: str, target: Target) -> None:
        self.manager = manager
        self.kind = kind
        self.target = target
        self.probe: Mapping[str, Any] = target.container[PROBE_TYPES[kind]]
        self.stop_event = threading.Event()
        self.result: bool | None = None
        self.run = 0
        self.last: bool | None = None
        self.on_hold = False
        self.thread = threading.Thread(
            target=self._loop, name=f"probe {kind} {target.pod_key}/{target.container['name']}", daemon=True
        )

    def _loop(self) -> None:
        # Probes run on a ticker of periodSeconds, the first tick one period after the container
        # started, and are skipped until initialDelaySeconds have passed since then.
        period = float(self.probe.get("periodSeconds") or 10)
        delay = float(self.probe.get("initialDelaySeconds") or 0)
        while not self.stop_event.wait(period):
            if time.time() - self.target.started_at >= delay:
                self._probe_once()

    def _probe_once(self) -> None:
        if self.on_hold:
            return
        t = self.target
        started = self.manager.is_started(t.pod_uid, t.container, t.container_id)
        if started == (self.kind == "startup"):
            return  # startup probes run until the container has started; the others only after
        outcome = run_probe(self.probe, self.target.container, self.target.container_id, self.target.pod_ip,
                            self.manager.runtime, self.manager.user_agent)
        if self.stop_event.is_set():
            return
        if not outcome.success:
            self.manager.record_failure(self.target, self.kind, outcome.output)
        self.run = self.run + 1 if outcome.success == self.last else 1
        self.last = outcome.success
        threshold = int(self.probe.get("successThreshold" if outcome.success else "failureThreshold") or 1)
        if self.run < threshold:
            return
        if self.result != outcome.success:
            self.result = outcome.success
            self.manager.changed(self.target)
        if not outcome.success and self.kind in ("liveness", "startup"):
            self.on_hold = True


class ProbeManager:
    """Runs the probes of every running container; reports changes through ``on_change(pod_key)``."""

    def __init__(self, runtime: RuntimeService, *, on_change: Callable[[str], None],
                 on_failure: Callable[[Target, str, str], None], kubelet_version: str = "1.30") -> None:
        self.runtime = runtime
        self.on_change = on_change
        self.on_failure = on_failure
        self.user_agent = f"kube-probe/{kubelet_version}"
        self._workers: dict[tuple[str, str, str], _Worker] = {}
        self._lock = threading.Lock()

    def ensure(self, target: Target) -> None:
        """Probe ``target`` (a running container) with each probe its spec has; replace workers of older containers."""
        name = target.container["name"]
        for kind, field in PROBE_TYPES.items():
            if not target.container.get(field):
                continue
            key = (target.pod_uid, name, kind)
            with self._lock:
                worker = self._workers.get(key)
                if worker is not None and worker.target.container_id == target.container_id:
                    continue
                if worker is not None:
                    worker.stop_event.set()
                worker = self._workers[key] = _Worker(self, kind, target)
            worker.thread.start()

    def remove_pod(self, pod_uid: str) -> None:
        with self._lock:
            doomed = [k for k in self._workers if k[0] == pod_uid]
            workers = [self._workers.pop(k) for k in doomed]
        for worker in workers:
            worker.stop_event.set()

    def stop(self) -> None:
        with self._lock:
            workers = list(self._workers.values())
            self._workers.clear()
        for worker in workers:
            worker.stop_event.set()

    def _worker(self, pod_uid: str, name: str, kind: str, container_id: str) -> _Worker | None:
        with self._lock:
            worker = self._workers.get((pod_uid, name, kind))
        if worker is None or worker.target.container_id != container_id:
            return None
        return worker

    def is_started(self, pod_uid: str, container: Mapping[str, Any], container_id: str) -> bool:
        """Whether the container has started: it has no startup probe, or that probe has succeeded."""
        if not container.get("startupProbe"):
            return True
        worker = self._worker(pod_uid, container["name"], "startup", container_id)
        return worker is not None and worker.result is True

    def is_ready(self, pod_uid: str, container: Mapping[str, Any], container_id: str) -> bool:
        """Readiness: no probe means ready once started; a probe must have succeeded."""
        if not container.get("readinessProbe"):
            return True
        worker = self._worker(pod_uid, container["name"], "readiness", container_id)
        return worker is not None and worker.result is True

    def failed(self, pod_uid: str, container: Mapping[str, Any], container_id: str) -> str | None:
        """``liveness`` or ``startup`` if that probe says the container must be restarted."""
        for kind in ("startup", "liveness"):
            worker = self._worker(pod_uid, container["name"], kind, container_id)
            if worker is not None and worker.result is False:
                return kind
        return None

    def changed(self, target: Target) -> None:
        self.on_change(target.pod_key)

    def record_failure(self, target: Target, kind: str, output: str) -> None:
        self.on_failure(target, kind, output)
