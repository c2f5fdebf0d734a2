"""The kubelet: the node agent that makes the pods bound to its node run (``pkg/kubelet``).

It registers its Node and keeps it and its Lease fresh (:mod:`~kubelab.kubelet.node_status`),
watches the pods bound to it, and converges each one in a reconcile loop (``syncPod``): set
up the volumes, create the sandbox, start init containers then containers through the
runtime (:mod:`~kubelab.kubelet.runtime_manager`), restart what exits as the restart
policy and the back-off say, probe what runs (:mod:`~kubelab.kubelet.prober`), and write
the pod's status (:mod:`~kubelab.kubelet.status_manager`). A relister (the PLEG) notices
containers that exit; housekeeping kills what no pod accounts for. A deleted pod is
stopped with its grace period, then removed from the API.

The containers belong to the node's runtime, not to the kubelet: killing the kubelet
leaves them running, and a new kubelet adopts them.

In-process::

    kubelet = Kubelet("node-1", cluster_dir=cluster.dir, node_index=0)
    kubelet.start(api_client)        # the node's runtime must be running (runtime_daemon)
    ...
    kubelet.stop()

As a process: ``python -m kubelab kubelet --kubeconfig K --cluster-dir D --node node-1 --node-index 0``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kubernetes.client

from kubelab import errors, network
from kubelab.client import Client
from kubelab.component import serve
from kubelab.kubelet import pod_status
from kubelab.kubelet.backoff import Backoff
from kubelab.kubelet.cri_socket import RemoteRuntime, socket_path
from kubelab.kubelet.image_manager import ImageManager
from kubelab.kubelet.node_status import KUBELET_VERSION, NodeStatus
from kubelab.kubelet.pod_status import ProbeState, RuntimePod
from kubelab.kubelet.prober import ProbeManager, Target
from kubelab.kubelet.runtime import ContainerState, PodSandboxFilter, Runtime, RuntimeServiceError
from kubelab.kubelet.runtime_manager import POD_NAME, POD_NAMESPACE, POD_UID, RuntimeManager
from kubelab.kubelet.status_manager import StatusManager
from kubelab.kubelet.volumes import MountError, VolumeManager
from kubelab.paths import ClusterDir
from kubelab.runtime import Controller, EventRecorder, Informer, Result, SharedInformerFactory, deep_copy

log = logging.getLogger(__name__)

Obj = Mapping[str, Any]
DEFAULT_PORT = 10250
ORPHAN_GRACE = 2.0


class Kubelet:
    """One node's kubelet (a :class:`kubelab.component.Component`).

    ``backoff_scale`` multiplies every back-off (CrashLoopBackOff, ImagePullBackOff): 0.1
    turns 10 s … 5 min into 1 s … 30 s. ``runtime`` defaults to the node's runtime daemon.
    """

    def __init__(
        self,
        node_name: str,
        *,
        cluster_dir: ClusterDir | Path,
        node_index: int = 0,
        runtime: Runtime | None = None,
        backoff_scale: float = 1.0,
        port: int = DEFAULT_PORT,
        status_update_frequency: float = 10.0,
        lease_renew_interval: float = 10.0,
        sync_frequency: float = 20.0,
        relist_period: float = 1.0,
        workers: int = 10,
    ) -> None:
        self.node_name = node_name
        self.cluster_dir = cluster_dir if isinstance(cluster_dir, ClusterDir) else ClusterDir(Path(cluster_dir))
        self.node_dir = self.cluster_dir.node(node_name)
        self.node_index = node_index
        plan = network.AddressPlan.load(self.cluster_dir.root)
        self.node_ip = plan.node_ip(node_index)
        self.pod_cidr = plan.pod_cidr(node_index)
        self.cluster_dns = plan.cluster_dns_ip
        self.runtime: Runtime = runtime if runtime is not None else RemoteRuntime(socket_path(self.node_dir))
        self.backoff_scale = backoff_scale
        self.port = port
        self.status_update_frequency = status_update_frequency
        self.lease_renew_interval = lease_renew_interval
        self.sync_frequency = sync_frequency
        self.relist_period = relist_period
        self.workers = workers
        self.reasons: dict[tuple[str, str], tuple[str, str]] = {}
        self._terminating: set[str] = set()
        self._deleted: dict[str, Obj] = {}
        self._start_times: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.client: Client | None = None
        self.server: Any = None

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self, client: kubernetes.client.ApiClient) -> None:
        """Register the node and start syncing its pods; returns once the node is registered."""
        from kubelab.kubelet.server import KubeletServer

        self.client = Client(client)
        self._wait_for_runtime()
        self.runtime.update_runtime_config(self.pod_cidr)
        self.recorder = EventRecorder(self.client, "kubelet", host=self.node_name)
        self.informers = SharedInformerFactory(self.client)
        self.config_maps = self.informers.informer("v1", "configmaps")
        self.secrets = self.informers.informer("v1", "secrets")
        self.services = self.informers.informer("v1", "services")
        self.pods = Informer(self.client.resource("v1", "pods"), field_selector=f"spec.nodeName={self.node_name}",
                             name=f"pods on {self.node_name}")
        self.server = KubeletServer(self, host=self.node_ip, port=self.port)
        self.server.start()
        self.node = NodeStatus(
            self.client, self.runtime, node_name=self.node_name, node_ip=self.node_ip, pod_cidr=self.pod_cidr,
            disk_path=self.cluster_dir.root, port=self.server.port,
            status_update_frequency=self.status_update_frequency,
            lease_renew_interval=self.lease_renew_interval, images=self._node_images,
        )
        self.node.register()
        self.status_manager = StatusManager(self.client)
        self.probes = ProbeManager(self.runtime, on_change=self._enqueue, on_failure=self._probe_failed,
                                   kubelet_version=KUBELET_VERSION.lstrip("v").rsplit(".", 1)[0])
        self.volumes = VolumeManager(
            self.node_dir, self.node_name, self.client, config_maps=self._lookup(self.config_maps),
            secrets=self._lookup(self.secrets), token=self.cluster_dir.token.read_text().strip(),
            ca_cert=self.cluster_dir.ca_cert.read_bytes(),
        )
        self.runtime_manager = RuntimeManager(
            self.runtime, node_dir=self.node_dir,
            images=ImageManager(self.runtime, Backoff(scale=self.backoff_scale)),
            volumes=self.volumes, probes=self.probes, record=self._record,
            backoff=Backoff(scale=self.backoff_scale), reasons=self.reasons,
            config_maps=self._lookup(self.config_maps), secrets=self._lookup(self.secrets),
            services=lambda: list(self.services.cache.list()), allocatable=self.node.allocatable,
            cluster_dns=self.cluster_dns,
            host_ip=self.node_ip,
        )
        self.controller = Controller(f"kubelet {self.node_name}", self.sync, workers=self.workers)
        self.pods.add_event_handler(self._pod_added, self._pod_updated, self._pod_deleted)
        for informer in (self.pods, self.config_maps, self.secrets, self.services):
            self.controller.waits_for(informer)
        self.informers.start()
        self.pods.start()
        self.controller.start()
        self.node.start()
        for target, name in ((self._relist_loop, "pleg"), (self._housekeeping_loop, "housekeeping")):
            thread = threading.Thread(target=target, name=f"kubelet {self.node_name} {name}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        """Stop the kubelet (its containers keep running, as on a real node)."""
        self._stopping.set()
        for part in ("controller", "node", "pods"):
            if hasattr(self, part):
                getattr(self, part).stop()
        if hasattr(self, "informers"):
            self.informers.shutdown()
        if hasattr(self, "probes"):
            self.probes.stop()
        if self.server is not None:
            self.server.stop()
        for thread in self._threads:
            thread.join(10)
        if hasattr(self, "recorder"):
            self.recorder.stop()
        if self.client is not None:
            self.client.close()

    def _wait_for_runtime(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.runtime.version()
                return
            except RuntimeServiceError as e:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"kubelet {self.node_name}: the container runtime is not reachable: {e}; "
                        f"start it first (python -m kubelab container-runtime --node {self.node_name} ...)"
                    ) from e
                time.sleep(0.1)

    # -- fault injection (for the node-lifecycle lab) -------------------------------------------------

    def pause_heartbeats(self) -> None:
        """Stop renewing the Lease and the node status, as a hung kubelet would; pods keep running."""
        self.node.heartbeats.clear()

    def resume_heartbeats(self) -> None:
        self.node.heartbeats.set()

    # -- helpers ---------------------------------------------------------------------------------------

    @staticmethod
    def _lookup(informer: Informer) -> Any:
        def find(namespace: str, name: str) -> Obj | None:
            return informer.cache.get(name, namespace)

        return find

    def _record(self, pod: Obj, type: str, reason: str, message: str) -> None:
        self.recorder.event(pod, type, reason, message)  # type: ignore[arg-type]

    @staticmethod
    def _key(pod: Obj) -> str:
        return f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"

    def _pod_added(self, pod: Obj) -> None:
        self._enqueue(self._key(pod))

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        # A change of status alone is (almost always) this kubelet's own write: nothing to do
        # (``podsDifferSemantically`` in pkg/kubelet/config).
        if old.get("spec") != new.get("spec") or _meaning(old) != _meaning(new):
            self._enqueue(self._key(new))

    def _pod_deleted(self, pod: Obj) -> None:
        # The last state of a pod removed from the API: what its containers are stopped with.
        with self._lock:
            self._deleted[self._key(pod)] = pod
        self._enqueue(self._key(pod))

    def _enqueue(self, key: str) -> None:
        self.controller.queue.add(key)

    def _probe_failed(self, target: Target, kind: str, output: str) -> None:
        pod = self.pods.cache.get_by_key(target.pod_key)
        if pod is not None:
            self._record(pod, "Warning", "Unhealthy", f"{kind.capitalize()} probe failed: {output}")

    def _node_images(self) -> list[dict[str, Any]]:
        try:
            found = self.runtime.list_images()
        except RuntimeServiceError:
            return []
        return [{"names": image.repo_digests + image.repo_tags, "sizeBytes": image.size} for image in found]

    # -- the sync loop -------------------------------------------------------------------------------------

    def sync(self, key: str) -> Result | None:
        """Converge the pod ``key`` (``namespace/name``) one step; the reconcile of the kubelet's controller."""
        cached = self.pods.cache.get_by_key(key)
        with self._lock:
            deleted = self._deleted.pop(key, None)
        if cached is None:
            if deleted is not None:
                # Removed from the API at once (force-deleted): stop it as its spec says, all the same.
                self._begin_termination(deep_copy(deleted), in_api=False)
            self._kill_orphans(key, keep_uid=deleted["metadata"]["uid"] if deleted is not None else "")
            return None
        pod: dict[str, Any] = deep_copy(cached)
        uid = pod["metadata"]["uid"]
        self._kill_orphans(key, keep_uid=uid)
        if pod["metadata"].get("deletionTimestamp"):
            self._begin_termination(pod)
            return None
        with self._lock:
            if uid in self._terminating:
                return None
        runtime_pod = self.runtime_manager.get_pod_status(uid)
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            self._finish(pod, runtime_pod)
            return None
        try:
            volume_paths = self.volumes.set_up(pod)
        except MountError as e:
            self._record(pod, "Warning", "FailedMount", str(e))
            self._write_status(pod, runtime_pod)
            return Result(requeue_after=2.0)
        result = self.runtime_manager.sync_pod(pod, runtime_pod, volume_paths)
        runtime_pod = self.runtime_manager.get_pod_status(uid)
        self.runtime_manager.garbage_collect(runtime_pod)
        self._watch_probes(key, pod, runtime_pod)
        status = self._write_status(pod, runtime_pod)
        if status["phase"] in ("Succeeded", "Failed"):
            self._finish(pod, runtime_pod)
            return None
        requeue = self.sync_frequency if result.requeue_after is None else min(result.requeue_after, self.sync_frequency)
        return Result(requeue_after=requeue)

    def _watch_probes(self, key: str, pod: Obj, runtime_pod: RuntimePod) -> None:
        spec = pod.get("spec") or {}
        for c in spec.get("initContainers", []) + spec.get("containers", []):
            latest = runtime_pod.latest(c["name"])
            if latest is not None and latest.state == ContainerState.RUNNING:
                self.probes.ensure(Target(key, runtime_pod.uid, c, latest.id, latest.started_at / 1e9, runtime_pod.ip))

    def _probe_state(self, pod: Obj, runtime_pod: RuntimePod) -> ProbeState:
        spec = pod.get("spec") or {}
        ready, started = {}, {}
        for c in spec.get("initContainers", []) + spec.get("containers", []):
            latest = runtime_pod.latest(c["name"])
            if latest is not None and latest.state == ContainerState.RUNNING:
                started[latest.id] = self.probes.is_started(runtime_pod.uid, c, latest.id)
                ready[latest.id] = self.probes.is_ready(runtime_pod.uid, c, latest.id)
        return ProbeState(ready, started)

    def _write_status(self, pod: Obj, runtime_pod: RuntimePod, terminal: bool = False) -> dict[str, Any]:
        uid = runtime_pod.uid
        now = pod_status.rfc3339(time.time_ns())
        with self._lock:
            start = self._start_times.setdefault(uid, (pod.get("status") or {}).get("startTime") or now)
        reasons = {name: reason for (u, name), reason in list(self.reasons.items()) if u == uid}
        status = pod_status.generate_pod_status(
            pod, runtime_pod, reasons=reasons, probes=self._probe_state(pod, runtime_pod), host_ip=self.node_ip,
            start_time=start, now=now, terminal=terminal, previous=self.status_manager.last(uid),
        )
        self.status_manager.set_pod_status(pod, status)
        return status

    def _finish(self, pod: Obj, runtime_pod: RuntimePod) -> None:
        """A pod that will run no more: stop what is left of it and free its address."""
        if runtime_pod.ready_sandbox is not None or runtime_pod.running():
            self.runtime_manager.kill_pod(pod, runtime_pod)
            self.probes.remove_pod(runtime_pod.uid)

    # -- deletion ---------------------------------------------------------------------------------------------

    def _begin_termination(self, pod: dict[str, Any], in_api: bool = True) -> None:
        uid = pod["metadata"]["uid"]
        with self._lock:
            if uid in self._terminating:
                return
            self._terminating.add(uid)
        threading.Thread(target=self._terminate, args=(pod, in_api), name=f"terminate {pod['metadata']['name']}",
                         daemon=True).start()

    def _terminate(self, pod: dict[str, Any], in_api: bool) -> None:
        """Stop a deleted pod within its grace period, write its final status, then remove it from the API."""
        uid = pod["metadata"]["uid"]
        try:
            runtime_pod = self.runtime_manager.get_pod_status(uid)
            grace = pod["metadata"].get("deletionGracePeriodSeconds")
            self.runtime_manager.kill_pod(pod, runtime_pod, None if grace is None else float(grace))
            self.probes.remove_pod(uid)
            runtime_pod = self.runtime_manager.get_pod_status(uid)
            if in_api:
                cached = self.pods.cache.get_by_key(f"{pod['metadata']['namespace']}/{pod['metadata']['name']}")
                current = deep_copy(cached) if cached is not None and cached["metadata"]["uid"] == uid else pod
                self._write_status(current, runtime_pod, terminal=True)
            self.runtime_manager.remove_pod(runtime_pod)
            self.volumes.tear_down(uid)
            if in_api:
                self.status_manager.delete_pod(current)
            self.status_manager.forget(uid)
        except (errors.ClientError, RuntimeServiceError) as e:
            log.warning("terminating pod %s: %s; retrying", pod["metadata"]["name"], e)
            with self._lock:
                self._terminating.discard(uid)
                if not in_api:
                    self._deleted[f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"] = pod
            self.controller.queue.add_after(f"{pod['metadata']['namespace']}/{pod['metadata']['name']}", 1.0)
            return
        with self._lock:
            self._terminating.discard(uid)
            self._start_times.pop(uid, None)
        for k in [k for k in self.reasons if k[0] == uid]:
            self.reasons.pop(k, None)

    def _kill_orphans(self, key: str, keep_uid: str) -> None:
        """Kill and remove sandboxes of pod ``key`` that belong to no current pod (force-deleted, or replaced)."""
        namespace, _, name = key.partition("/")
        sandboxes = self.runtime.list_pod_sandbox(
            PodSandboxFilter(label_selector={POD_NAMESPACE: namespace, POD_NAME: name})
        )
        for uid in {s.labels.get(POD_UID, "") for s in sandboxes} - {keep_uid}:
            with self._lock:
                if uid in self._terminating:
                    continue
            self._remove_orphan(uid)

    def _remove_orphan(self, uid: str) -> None:
        runtime_pod = self.runtime_manager.get_pod_status(uid)
        stops = [threading.Thread(target=self.runtime.stop_container, args=(c.id, ORPHAN_GRACE))
                 for c in runtime_pod.running()]
        for t in stops:
            t.start()
        for t in stops:
            t.join()
        self.runtime_manager.remove_pod(runtime_pod)
        self.probes.remove_pod(uid)
        self.volumes.tear_down(uid)
        self.status_manager.forget(uid)

    # -- the PLEG and housekeeping ------------------------------------------------------------------------------

    def _relist_loop(self) -> None:
        """Relist the runtime's containers and resync every pod whose containers changed state (the generic PLEG)."""
        previous: dict[str, tuple[ContainerState, str]] = {}
        while not self._stopping.wait(self.relist_period):
            try:
                containers = self.runtime.list_containers()
            except RuntimeServiceError as e:
                log.warning("%s: relisting the runtime failed: %s", self.node_name, e)
                continue
            current = {c.id: (c.state, f"{c.labels.get(POD_NAMESPACE)}/{c.labels.get(POD_NAME)}") for c in containers}
            changed = {key for cid, (state, key) in current.items() if previous.get(cid, (None, ""))[0] != state}
            changed |= {key for cid, (_, key) in previous.items() if cid not in current}
            for key in changed:
                self._enqueue(key)
            previous = current

    def _housekeeping_loop(self) -> None:
        """Every few seconds: kill what no pod on this node accounts for (``HandlePodCleanups``)."""
        while not self._stopping.wait(2.0):
            if not self.pods.has_synced():
                continue
            try:
                known = {p["metadata"]["uid"] for p in self.pods.cache.list()}
                with self._lock:
                    busy = set(self._terminating)
                for sandbox in self.runtime.list_pod_sandbox():
                    uid = sandbox.labels.get(POD_UID, "")
                    if uid and uid not in known and uid not in busy:
                        self._remove_orphan(uid)
                pods_dir = self.node_dir / "pods"
                if pods_dir.is_dir():
                    live = {s.labels.get(POD_UID) for s in self.runtime.list_pod_sandbox()}
                    for directory in pods_dir.iterdir():
                        if directory.name not in known and directory.name not in live and directory.name not in busy:
                            self.volumes.tear_down(directory.name)
            except (RuntimeServiceError, errors.ClientError, OSError) as e:
                log.warning("%s: housekeeping failed: %s", self.node_name, e)


def _meaning(pod: Obj) -> tuple[Any, ...]:
    meta = pod.get("metadata") or {}
    return (meta.get("uid"), meta.get("labels"), meta.get("annotations"), meta.get("deletionTimestamp"),
            meta.get("deletionGracePeriodSeconds"))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kubelab kubelet", description="Run one node's kubelet.")
    parser.add_argument("--kubeconfig", required=True, help="the kubeconfig of the cluster")
    parser.add_argument("--cluster-dir", required=True, type=Path, help="the cluster's directory")
    parser.add_argument("--node", required=True, help="the node's name")
    parser.add_argument("--node-index", type=int, default=0, help="the node's index: its IP and pod CIDR (default 0)")
    parser.add_argument("--backoff-scale", type=float, default=1.0,
                        help="multiply every back-off by this (0.1: CrashLoopBackOff from 1 s to 30 s) (default 1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"the kubelet's HTTPS port (default {DEFAULT_PORT})")
    parser.add_argument("--lease-renew-interval", type=float, default=10.0,
                        help="seconds between heartbeats (default 10)")
    parser.add_argument("--status-update-frequency", type=float, default=10.0,
                        help="seconds between node status checks (default 10)")
    parser.add_argument("--sync-frequency", type=float, default=20.0,
                        help="seconds between resyncs of each pod (default 20)")
    parser.add_argument("--relist-period", type=float, default=1.0,
                        help="seconds between relists of the runtime's containers (default 1)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    kubelet = Kubelet(args.node, cluster_dir=args.cluster_dir, node_index=args.node_index,
                      backoff_scale=args.backoff_scale, port=args.port, lease_renew_interval=args.lease_renew_interval,
                      status_update_frequency=args.status_update_frequency, sync_frequency=args.sync_frequency,
                      relist_period=args.relist_period)
    # SIGUSR1 pauses the heartbeats (a hung kubelet), SIGUSR2 resumes them.
    signal.signal(signal.SIGUSR1, lambda *_: kubelet.pause_heartbeats())
    signal.signal(signal.SIGUSR2, lambda *_: kubelet.resume_heartbeats())
    return serve(kubelet, args.kubeconfig, f"kubelet {args.node}")
