"""Turning a pod spec into sandboxes and containers on the runtime (``pkg/kubelet/kuberuntime``).

:meth:`RuntimeManager.sync_pod` is one step of convergence, ``SyncPod`` in
``kuberuntime_manager.go``: work out what to do (``computePodActions``: create the sandbox,
start the next init container, start or restart containers, kill unhealthy ones), then do
it, starting each container as ``startContainer`` does: back-off check, image, environment,
mounts, create, start, each failure recorded as the kubelet records it. What could not be
done is left in the reason cache (``CrashLoopBackOff``, ``ErrImagePull``...), which the pod
status shows as the container's waiting reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubelab.dns.resolver import ResolvConf, pod_resolv_conf
from kubelab.kubelet import env as environment
from kubelab.kubelet import logs
from kubelab.kubelet.backoff import Backoff, format_duration
from kubelab.kubelet.image_manager import ImageManager, ImagePullError
from kubelab.kubelet.pod_status import RuntimePod, should_restart
from kubelab.kubelet.prober import ProbeManager, resolve_port
from kubelab.kubelet.runtime import (
    ContainerConfig,
    ContainerFilter,
    ContainerMetadata,
    ContainerState,
    ContainerStatus,
    DNSConfig,
    ImageSpec,
    KeyValue,
    LinuxContainerConfig,
    LinuxContainerResources,
    PodSandboxConfig,
    PodSandboxFilter,
    PodSandboxMetadata,
    PodSandboxState,
    Runtime,
    RuntimeServiceError,
)
from kubelab.kubelet.volumes import MountError, VolumeManager
from kubelab.network import CLUSTER_DOMAIN, PRIVILEGED_PORT_OFFSET, UNPRIVILEGED_HINT, host_port

log = logging.getLogger(__name__)

Obj = Mapping[str, Any]
POD_NAME = "io.kubernetes.pod.name"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
POD_UID = "io.kubernetes.pod.uid"
CONTAINER_NAME = "io.kubernetes.container.name"
CONTAINER_HASH = "io.kubernetes.container.hash"
RESTART_COUNT = "io.kubernetes.container.restartCount"
MESSAGE_POLICY = "io.kubernetes.container.terminationMessagePolicy"
MINIMUM_GRACE = 2.0
FALLBACK_LOG_LINES = 80
FALLBACK_LOG_BYTES = 2048
KEEP_PER_CONTAINER = 2

Recorder = Callable[[Obj, str, str, str], None]
"""Record an event about a pod: (pod, type, reason, message)."""


def pod_full_name(pod: Obj) -> str:
    """``name_namespace(uid)``, how the kubelet names a pod in its messages (``format.Pod``)."""
    meta = pod.get("metadata") or {}
    return f"{meta.get('name')}_{meta.get('namespace')}({meta.get('uid')})"


def container_hash(container: Obj) -> str:
    return hashlib.sha256(json.dumps(container, sort_keys=True).encode()).hexdigest()[:8]


def memory_limit(container: Obj) -> int:
    limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    if limit is None:
        return 0
    from kubelab.api.quantity import parse_quantity

    return parse_quantity(limit).value()


@dataclass
class SyncResult:
    """What a sync could not finish: when to look again."""

    requeue_after: float | None = None

    def again_in(self, seconds: float) -> None:
        if self.requeue_after is None or seconds < self.requeue_after:
            self.requeue_after = max(seconds, 0.05)


class RuntimeManager:
    """Drives one node's runtime for the kubelet."""

    def __init__(
        self, runtime: Runtime, *, node_dir: Path, images: ImageManager, volumes: VolumeManager,
        probes: ProbeManager, record: Recorder, backoff: Backoff, reasons: dict[tuple[str, str], tuple[str, str]],
        config_maps: environment.Lookup, secrets: environment.Lookup, services: Callable[[], list[Obj]],
        allocatable: Callable[[], Mapping[str, str]], host_ip: str, cluster_dns: str = "",
    ) -> None:
        self.runtime = runtime
        self.cluster_dns = cluster_dns
        self.host_resolv_conf = _host_resolv_conf()
        self.node_dir = node_dir
        self.images = images
        self.volumes = volumes
        self.probes = probes
        self.record = record
        self.backoff = backoff
        self.reasons = reasons
        self.config_maps = config_maps
        self.secrets = secrets
        self.services = services
        self.allocatable = allocatable
        self.host_ip = host_ip
        self._remapped: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    # -- what the runtime holds -----------------------------------------------------------------

    def get_pod_status(self, uid: str) -> RuntimePod:
        """The pod's sandboxes and containers, newest first, with termination messages filled in."""
        sandboxes = [self.runtime.pod_sandbox_status(s.id)
                     for s in self.runtime.list_pod_sandbox(PodSandboxFilter(label_selector={POD_UID: uid}))]
        sandboxes.sort(key=lambda s: s.created_at, reverse=True)
        containers = []
        for listed in self.runtime.list_containers(ContainerFilter(label_selector={POD_UID: uid})):
            try:
                containers.append(self.runtime.container_status(listed.id))
            except RuntimeServiceError:
                continue  # removed meanwhile
        containers.sort(key=lambda c: c.created_at, reverse=True)
        for status in containers:
            if status.state == ContainerState.EXITED and not status.message:
                status.message = self._termination_message(uid, status)
        return RuntimePod(uid, sandboxes, containers)

    def _termination_message(self, uid: str, c: ContainerStatus) -> str:
        message = self.volumes.termination_message(uid, c.metadata.name, c.metadata.attempt)
        if message or c.annotations.get(MESSAGE_POLICY) != "FallbackToLogsOnError" or c.exit_code == 0:
            return message
        tail = logs.read_logs(c.log_path, logs.LogOptions(tail=FALLBACK_LOG_LINES)) if c.log_path else b""
        return tail[-FALLBACK_LOG_BYTES:].decode(errors="replace")

    # -- one step of convergence -------------------------------------------------------------------

    def sync_pod(self, pod: Obj, runtime_pod: RuntimePod, volume_paths: Mapping[str, str]) -> SyncResult:
        """Create what is missing and restart what must be restarted; never blocks on a back-off."""
        result = SyncResult()
        spec = pod.get("spec") or {}
        meta = pod.get("metadata") or {}
        uid = meta["uid"]
        sandbox = runtime_pod.ready_sandbox
        if sandbox is None:
            if runtime_pod.containers and spec.get("restartPolicy") == "Never" and not self._anything_to_start(
                    pod, runtime_pod):
                return result
            for old in runtime_pod.sandboxes:
                self.runtime.stop_pod_sandbox(old.id)
            config = self.sandbox_config(pod, attempt=len(runtime_pod.sandboxes))
            try:
                sandbox_id = self.runtime.run_pod_sandbox(config)
            except RuntimeServiceError as e:
                self.record(pod, "Warning", "FailedCreatePodSandBox", f"Failed to create pod sandbox: {e}")
                result.again_in(2)
                return result
            runtime_pod.sandboxes.insert(0, self.runtime.pod_sandbox_status(sandbox_id))
            sandbox = runtime_pod.sandboxes[0]
        config = self.sandbox_config(pod, attempt=sandbox.metadata.attempt)
        view = _with_ips(pod, sandbox.ip, self.host_ip)

        # Liveness and startup failures, and changed definitions: kill now, restart below or next sync.
        for c in spec.get("initContainers", []) + spec.get("containers", []):
            latest = runtime_pod.latest(c["name"])
            if latest is None or latest.state != ContainerState.RUNNING:
                continue
            failed = self.probes.failed(uid, c, latest.id)
            if failed:
                message = f"Container {c['name']} failed {failed} probe, will be restarted"
                self.kill_container(pod, c, latest, message, self._probe_grace(pod, c, failed))
                result.again_in(0.05)
            elif latest.annotations.get(CONTAINER_HASH) != container_hash(c):
                self.kill_container(pod, c, latest, f"Container {c['name']} definition changed, will be restarted",
                                    self._grace(pod))
                result.again_in(0.05)

        # Init containers run one at a time, each to success, before any regular container.
        for c in spec.get("initContainers") or []:
            latest = runtime_pod.latest(c["name"])
            if latest is not None and latest.state == ContainerState.RUNNING:
                return result
            if latest is not None and latest.state == ContainerState.EXITED and latest.exit_code == 0:
                continue
            if latest is not None and spec.get("restartPolicy") == "Never":
                return result  # failed for good: the pod fails
            self._start(pod, view, c, runtime_pod, sandbox.id, config, volume_paths, result)
            return result

        for c in spec.get("containers") or []:
            latest = runtime_pod.latest(c["name"])
            if latest is not None and latest.state == ContainerState.RUNNING:
                self.reasons.pop((uid, c["name"]), None)
                continue
            if should_restart(c, pod, runtime_pod):
                self._start(pod, view, c, runtime_pod, sandbox.id, config, volume_paths, result)
        return result

    def _anything_to_start(self, pod: Obj, runtime_pod: RuntimePod) -> bool:
        spec = pod.get("spec") or {}
        return any(should_restart(c, pod, runtime_pod) for c in spec.get("containers") or [])

    def sandbox_config(self, pod: Obj, attempt: int = 0) -> PodSandboxConfig:
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        labels = {POD_NAME: meta["name"], POD_NAMESPACE: meta.get("namespace") or "default", POD_UID: meta["uid"]}
        return PodSandboxConfig(
            PodSandboxMetadata(meta["name"], meta["uid"], meta.get("namespace") or "default", attempt),
            hostname=spec.get("hostname") or meta["name"],
            log_directory=str(self.node_dir / "pods" / meta["uid"] / "logs"),
            labels=labels,
            dns_config=self._dns_config(pod),
        )

    def _dns_config(self, pod: Obj) -> DNSConfig:
        """The pod's resolver settings for its dnsPolicy (``pkg/kubelet/network/dns``)."""
        conf = pod_resolv_conf(pod, nameserver=self.cluster_dns, cluster_domain=CLUSTER_DOMAIN,
                               host=self.host_resolv_conf)
        options = [f"{k}:{v}" if v else k for k, v in conf.options.items()]
        return DNSConfig(servers=list(conf.nameservers), searches=list(conf.search), options=options)

    # -- starting a container ------------------------------------------------------------------------

    def _start(self, pod: Obj, view: Obj, container: Obj, runtime_pod: RuntimePod, sandbox_id: str,
               sandbox_config: PodSandboxConfig, volume_paths: Mapping[str, str], result: SyncResult) -> None:
        meta = pod.get("metadata") or {}
        uid, name = meta["uid"], container["name"]
        latest = runtime_pod.latest(name)
        key = f"{meta.get('name')}_{meta.get('namespace')}_{uid}_{name}_{container_hash(container)}"
        if latest is not None and latest.state == ContainerState.EXITED:
            finished = latest.finished_at / 1e9
            if self.backoff.is_in_backoff_since(key, finished):
                self.record(pod, "Warning", "BackOff",
                            f"Back-off restarting failed container {name} in pod {pod_full_name(pod)}")
                self.reasons[(uid, name)] = (
                    "CrashLoopBackOff",
                    f"back-off {format_duration(self.backoff.get(key))} restarting failed container={name} "
                    f"pod={pod_full_name(pod)}",
                )
                result.again_in(self.backoff.remaining(key, finished))
                return
            self.backoff.next(key, finished)

        def record(type: str, reason: str, message: str) -> None:
            self.record(pod, type, reason, message)

        try:
            self.images.ensure_image_exists(pod, container, record)
        except ImagePullError as e:
            if e.reason in ("ErrImagePull", "ImagePullBackOff"):
                record("Warning", "Failed", f"Error: {e.reason}")
            self.reasons[(uid, name)] = (e.reason, e.message)
            remaining = self.images.backoff.remaining_since_update(self.images.backoff_key(pod, container))
            # Look again while the back-off lasts (the pod then shows ImagePullBackOff), and when it ends.
            result.again_in(remaining / 2 if e.reason == "ErrImagePull" else remaining or 1)
            return
        attempt = latest.metadata.attempt + 1 if latest is not None else 0
        try:
            config = self.container_config(pod, view, container, attempt, volume_paths)
        except (environment.ConfigError, MountError) as e:
            record("Warning", "Failed", f"Error: {e}")
            self.reasons[(uid, name)] = ("CreateContainerConfigError", str(e))
            result.again_in(2)
            return
        try:
            container_id = self.runtime.create_container(sandbox_id, config, sandbox_config)
        except RuntimeServiceError as e:
            record("Warning", "Failed", f"Error: {e.message}")
            self.reasons[(uid, name)] = ("CreateContainerError", e.message)
            result.again_in(2)
            return
        record("Normal", "Created", f"Created container: {name}")
        try:
            self.runtime.start_container(container_id)
        except RuntimeServiceError as e:
            record("Warning", "Failed", f"Error: {e.message}")
            self.reasons[(uid, name)] = ("RunContainerError", e.message)
            result.again_in(0.05)
            return
        record("Normal", "Started", f"Started container {name}")
        self.reasons.pop((uid, name), None)
        self._report_remapped_ports(pod, container, view)
        post_start = (container.get("lifecycle") or {}).get("postStart")
        if post_start:
            error = self.run_handler(post_start, container, container_id, view)
            if error is not None:
                record("Warning", "FailedPostStartHook", f"PostStartHook failed: {error}")
                status = self.runtime.container_status(container_id)
                self.kill_container(pod, container, status, f"FailedPostStartHook: {error}", self._grace(pod))

    def container_config(self, pod: Obj, view: Obj, container: Obj, attempt: int,
                         volume_paths: Mapping[str, str]) -> ContainerConfig:
        """The CRI config of the container's ``attempt``-th run; raises ConfigError or MountError."""
        meta = pod.get("metadata") or {}
        variables = environment.make_environment(
            view, container, config_maps=self.config_maps, secrets=self.secrets, services=self.services(),
            allocatable=self.allocatable(),
        )
        command, args = environment.expand_command(container, variables)
        return ContainerConfig(
            ContainerMetadata(container["name"], attempt),
            ImageSpec(container.get("image") or ""),
            command=command,
            args=args,
            working_dir=container.get("workingDir") or "",
            envs=[KeyValue(k, v) for k, v in variables],
            mounts=self.volumes.mounts(pod, container, volume_paths, attempt),
            labels={POD_NAME: meta["name"], POD_NAMESPACE: meta.get("namespace") or "default", POD_UID: meta["uid"],
                    CONTAINER_NAME: container["name"]},
            annotations={CONTAINER_HASH: container_hash(container), RESTART_COUNT: str(attempt),
                         MESSAGE_POLICY: container.get("terminationMessagePolicy") or "File"},
            log_path=f"{container['name']}/{attempt}.log",
            stdin=bool(container.get("stdin")),
            tty=bool(container.get("tty")),
            linux=LinuxContainerConfig(LinuxContainerResources(memory_limit_in_bytes=memory_limit(container))),
        )

    def _report_remapped_ports(self, pod: Obj, container: Obj, view: Obj) -> None:
        uid = (pod.get("metadata") or {})["uid"]
        ip = (view.get("status") or {}).get("podIP", "")
        for port in container.get("ports") or []:
            number = int(port.get("containerPort") or 0)
            if 0 < number < 1024 and host_port(number) != number and (uid, number) not in self._remapped:
                self._remapped.add((uid, number))
                self.record(
                    pod, "Normal", "PortRemapped",
                    f"Container port {number} is served on {ip}:{number + PRIVILEGED_PORT_OFFSET}: this user may "
                    f"not bind ports below 1024; Services, DNS and Ingress still reach it as port {number}. "
                    f"To serve it on {number} itself: {UNPRIVILEGED_HINT}",
                )

    # -- lifecycle handlers and killing ----------------------------------------------------------------

    def run_handler(self, handler: Obj, container: Obj, container_id: str, view: Obj,
                    timeout: float = 30.0) -> str | None:
        """Run a postStart/preStop handler; return None on success, else what went wrong."""
        if "exec" in handler:
            try:
                response = self.runtime.exec_sync(container_id, list(handler["exec"].get("command") or []), timeout)
            except RuntimeServiceError as e:
                return str(e)
            if response.exit_code != 0:
                return (f"command {json.dumps(' '.join(handler['exec'].get('command') or []))} exited with "
                        f"{response.exit_code}: {response.stdout}{response.stderr}")
            return None
        if "httpGet" in handler:
            get = handler["httpGet"]
            try:
                port = host_port(resolve_port(get.get("port", 80), container))
            except ValueError as e:
                return str(e)
            host = get.get("host") or (view.get("status") or {}).get("podIP", "")
            url = f"{(get.get('scheme') or 'HTTP').lower()}://{host}:{port}{get.get('path') or '/'}"
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    response.read()
            except OSError as e:
                return f"Get {json.dumps(url)}: {e}"
            return None
        if "sleep" in handler:
            time.sleep(min(float(handler["sleep"].get("seconds") or 0), timeout))
            return None
        return "unsupported lifecycle handler: use exec, httpGet or sleep"

    def _grace(self, pod: Obj) -> float:
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        if meta.get("deletionGracePeriodSeconds") is not None:
            return float(meta["deletionGracePeriodSeconds"])
        grace = spec.get("terminationGracePeriodSeconds")
        return float(30 if grace is None else grace)

    def _probe_grace(self, pod: Obj, container: Obj, kind: str) -> float:
        probe = container.get(f"{kind}Probe") or {}
        if probe.get("terminationGracePeriodSeconds") is not None:
            return float(probe["terminationGracePeriodSeconds"])
        return self._grace(pod)

    def kill_container(self, pod: Obj, container: Obj | None, status: ContainerStatus, message: str,
                       grace: float) -> None:
        """Stop one container as ``killContainer`` does: Killing event, preStop hook, SIGTERM, grace, SIGKILL."""
        self.record(pod, "Normal", "Killing", message)
        started = time.monotonic()
        pre_stop = ((container or {}).get("lifecycle") or {}).get("preStop")
        if pre_stop and status.state == ContainerState.RUNNING:
            view = _with_ips(pod, "", self.host_ip)
            error = self.run_handler(pre_stop, container or {}, status.id, view, timeout=max(grace, 0.1))
            if error is not None:
                self.record(pod, "Warning", "FailedPreStopHook", f"PreStopHook failed: {error}")
        # Every container gets a minimal shutdown window, even when deleted with grace 0.
        remaining = max(grace - (time.monotonic() - started), MINIMUM_GRACE)
        try:
            self.runtime.stop_container(status.id, remaining)
        except RuntimeServiceError as e:
            log.warning("stopping container %s: %s", status.id, e)

    def kill_pod(self, pod: Obj, runtime_pod: RuntimePod, grace: float | None = None) -> None:
        """Stop every running container of the pod (in parallel, each with its preStop hook), then the sandbox."""
        spec = pod.get("spec") or {}
        specs = {c["name"]: c for c in spec.get("initContainers", []) + spec.get("containers", [])}
        grace = self._grace(pod) if grace is None else grace
        threads = [
            threading.Thread(
                target=self.kill_container,
                args=(pod, specs.get(c.metadata.name), c, f"Stopping container {c.metadata.name}", grace),
            )
            for c in runtime_pod.running()
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for sandbox in runtime_pod.sandboxes:
            if sandbox.state == PodSandboxState.READY:
                self.runtime.stop_pod_sandbox(sandbox.id)

    def garbage_collect(self, runtime_pod: RuntimePod) -> None:
        """Remove exited containers (and their logs) older than the newest two of each name.

        The newest two are all that status (``state`` and ``lastState``) and ``logs --previous``
        need; a crash loop would otherwise pile up a container per restart.
        """
        kept: dict[str, int] = {}
        for c in runtime_pod.containers:
            name = c.metadata.name
            kept[name] = kept.get(name, 0) + 1
            if kept[name] > KEEP_PER_CONTAINER and c.state == ContainerState.EXITED:
                try:
                    self.runtime.remove_container(c.id)
                except RuntimeServiceError as e:
                    log.warning("removing container %s: %s", c.id, e)
                    continue
                if c.log_path:
                    Path(c.log_path).unlink(missing_ok=True)

    def remove_pod(self, runtime_pod: RuntimePod) -> None:
        """Remove the pod's sandboxes and containers from the runtime (they must be stopped)."""
        for sandbox in runtime_pod.sandboxes:
            self.runtime.remove_pod_sandbox(sandbox.id)


def _with_ips(pod: Obj, pod_ip: str, host_ip: str) -> dict[str, Any]:
    """The pod as the downward API sees it: with the pod's and the node's addresses."""
    status = dict(pod.get("status") or {})
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    status["hostIP"] = host_ip
    status["hostIPs"] = [{"ip": host_ip}]
    return {**pod, "status": status}


def _host_resolv_conf() -> ResolvConf | None:
    """This machine's resolver settings, for ``dnsPolicy: Default`` (None where there are none)."""
    try:
        return ResolvConf.parse(Path("/etc/resolv.conf").read_text())
    except OSError:
        return None
