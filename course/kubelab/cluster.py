"""``kubelab.Cluster``: start an embedded cluster, use it, stop it.

    with Cluster() as cluster:                      # a throw-away cluster
        v1 = kubernetes.client.CoreV1Api(cluster.api_client())
        cluster.kubectl("get", "pods", "-A")

The API server (and etcd, with ``store="etcd"``) run as child processes that die with
this one. Every later component (scheduler, controllers, kubelets, ...) is started by the
same launcher, either as its own process or in-process from an object the caller passes.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import kubernetes.client

from kubelab.component import Component
from kubelab.kubeconfig import api_client, write_kubeconfig
from kubelab.network import PLAN_FILE, AddressPlan, SlotLease, SlotsExhausted, acquire_slot
from kubelab.paths import ClusterDir
from kubelab.pki import ensure_pki
from kubelab.process import ManagedProcess
from kubelab.store.etcd_server import EtcdServer

if TYPE_CHECKING:
    from kubelab.apiserver.server import APIServer, RegistryFactory
    from kubelab.store.kv import KV

StoreName = Literal["memory", "etcd"]

CONTROL_PLANE = ("scheduler", "controller-manager")
"""The control-plane components besides the API server, in the order they start."""

ADDONS = ("cloud-controller-manager", "dns", "ingress-controller")
"""Cluster-wide add-ons: LoadBalancer addresses, cluster DNS, the ingress controller."""

FULL = CONTROL_PLANE + ADDONS
"""Every cluster-wide component: what ``kubelab up`` and ``kubelab start`` run."""


class ClusterError(RuntimeError):
    """The cluster could not be started, reached or stopped."""


def kubectl_binary(version: str | None = None) -> str:
    """The ``kubectl`` to run: the default one, or ``kubectl.<version>`` (e.g. ``"1.27"``) beside it."""
    default = shutil.which("kubectl")
    if default is None:
        raise ClusterError("kubectl is not on PATH: install it to use kubectl with kubelab")
    if version is None:
        return default
    candidate = Path(os.path.realpath(default)).parent / f"kubectl.{version}"
    if not candidate.exists():
        raise ClusterError(f"kubectl {version} is not installed (looked for {candidate})")
    return str(candidate)


class Cluster:
    """An embedded Kubernetes cluster on this machine.

    ``name=None`` makes a throw-away cluster in a temporary directory, removed by
    :meth:`stop`; a named cluster lives in ``$KUBELAB_HOME/clusters/<name>`` and keeps its
    state (with ``store="etcd"``) between runs.

    ``components`` names the parts to run besides the API server (any of :data:`FULL`:
    the :data:`CONTROL_PLANE` and the :data:`ADDONS`); each runs as its own process.
    ``nodes`` nodes (``node-1``, ``node-2``, ...) each get a container runtime, a kubelet
    and a kube-proxy, also processes;
    ``kubelet_options`` are passed to every kubelet (``backoff_scale=0.1`` makes
    CrashLoopBackOff ten times faster).

    ``kv`` (your etcd-shaped store, lab 01) or ``registries`` (your request path for a
    resource, lab 02) make the API server run in this process, on top of them. ``disable`` names components
    (``"scheduler"``) not to start and built-in controllers the controller-manager leaves out. ``replace`` swaps a component
    (``"scheduler"``) or one controller (``"replicaset"``) for an object of yours that runs
    in this process — :meth:`plug` does the same on a running cluster.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        store: StoreName = "memory",
        home: Path | None = None,
        components: Iterable[str] = (),
        disable: Iterable[str] = (),
        replace: Mapping[str, Any] | None = None,
        nodes: int = 0,
        kubelet_options: Mapping[str, Any] | None = None,
        kv: KV | None = None,
        registries: Mapping[str, RegistryFactory] | None = None,
    ) -> None:
        if store not in ("memory", "etcd"):
            raise ValueError(f"unknown store {store!r}: use 'memory' or 'etcd'")
        self.components = list(dict.fromkeys(components))
        unknown = [c for c in self.components if c not in FULL]
        if unknown:
            raise ValueError(f"unknown components {', '.join(unknown)}: known are {', '.join(FULL)}")
        disable = set(disable)
        self.components = [c for c in self.components if c not in disable]
        disable -= set(FULL)
        if not 0 <= nodes <= 250:
            raise ValueError(f"nodes must be between 0 and 250, not {nodes}")
        self.node_names = [f"node-{i + 1}" for i in range(nodes)]
        self.kubelet_options = dict(kubelet_options or {})
        self.disabled = set(disable)
        if self.disabled:
            from kubelab.controllers.manager import BUILTIN_CONTROLLERS

            unknown = sorted(self.disabled - set(BUILTIN_CONTROLLERS))
            if unknown:
                raise ValueError(
                    f"cannot disable {', '.join(unknown)}: known are the components {', '.join(FULL)} "
                    f"and the controllers {', '.join(BUILTIN_CONTROLLERS)}"
                )
        self.replaced: dict[str, Any] = {}
        self._pending_replacements = dict(replace or {})
        self.processes: dict[str, ManagedProcess] = {}
        self._in_process: dict[str, Component] = {}
        self.store: StoreName = store
        self._tmp: Path | None = None
        if name is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="kubelab-"))
            name = "lab-" + secrets.token_hex(3)
            self.dir = ClusterDir(self._tmp / name)
        elif home is not None:
            self.dir = ClusterDir(Path(home) / "clusters" / name)
        else:
            self.dir = ClusterDir.named(name)
        self.name = name
        self.etcd: EtcdServer | None = None
        self.apiserver: ManagedProcess | None = None
        self.apiserver_in_process: APIServer | None = None
        self.kv = kv
        self.registries = dict(registries or {})
        self.url = ""
        self.addresses = AddressPlan(0)
        self._slot: SlotLease | None = None
        self._client: kubernetes.client.ApiClient | None = None

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> Cluster:
        """Start every part and return when the API server answers ``/readyz``."""
        self.dir.create()
        ensure_pki(self.dir)
        try:
            self._take_address_slot()
            if self.store == "etcd":
                # The API server starts while etcd does, and waits for it: both start in the time of the slower.
                self.etcd = EtcdServer(self.dir.etcd_data, self.dir.log("etcd"))
                self.etcd.spawn()
            self.url = self._start_apiserver()
            write_kubeconfig(self.dir, self.url)
            self.wait_ready()
            self._start_components()
            for name, obj in self._pending_replacements.items():
                self.plug(name, obj)
            self._write_state()
        except SlotsExhausted as e:
            self.stop()
            raise ClusterError(str(e)) from e
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every part; a throw-away cluster's directory is removed."""
        for name in list(self._in_process):
            self._in_process.pop(name).stop()
        for process in reversed(list(self.processes.values())):
            process.stop()
        self.processes.clear()
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.apiserver:
            self.apiserver.stop()
        if self.apiserver_in_process:
            self.apiserver_in_process.stop()
            self.apiserver_in_process = None
        if self.etcd:
            self.etcd.stop()
        if self.dir.state.exists():
            self.dir.state.unlink()
        if self._slot is not None:
            self._slot.release()
            self._slot = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _write_state(self) -> None:
        state: dict[str, Any] = {
            "name": self.name,
            "url": self.url,
            "store": self.store,
            "slot": self.addresses.slot,
            "supervisor": os.getpid(),
            "processes": {"apiserver": self.apiserver.pid if self.apiserver else None},
        }
        state["processes"].update({name: p.pid for name, p in self.processes.items()})
        state["in_process"] = sorted(self._in_process)
        if self.etcd and self.etcd.process:
            state["processes"]["etcd"] = self.etcd.process.pid
            state["etcd"] = self.etcd.endpoint
        self.dir.state.write_text(json.dumps(state, indent=2))

    def _start_apiserver(self, port: int = 0) -> str:
        """Start the API server (a process, or in this process with your store/registries); its URL."""
        etcd = self.etcd.endpoint if self.etcd else ""
        if self.kv is not None or self.registries:
            from kubelab.apiserver.server import APIServer, APIServerConfig

            if self.etcd:
                self.etcd.wait_healthy()

            config = APIServerConfig(self.dir, store=self.store, etcd_servers=etcd,
                                     service_cidr=str(self.addresses.service_network))
            self.apiserver_in_process = APIServer(config, kv=self.kv, registries=self.registries).start()
            return self.apiserver_in_process.url
        argv = [sys.executable, "-m", "kubelab", "apiserver", "--cluster-dir", str(self.dir.root),
                "--service-cidr", str(self.addresses.service_network), "--store", self.store, "--port", str(port)]
        if etcd:
            argv += ["--etcd-servers", etcd]
        # The API server verifies no TLS peer against the system's CAs; without them, importing
        # aiohttp does not parse the system's CA bundle twice, a quarter of the server's start.
        env = dict(os.environ, SSL_CERT_FILE=os.devnull)
        self.apiserver = ManagedProcess("apiserver", argv, self.dir.log("apiserver"), env=env)
        self.apiserver.spawn()
        if self.etcd:
            self.etcd.wait_healthy()
        return f"https://127.0.0.1:{self.apiserver.wait_ready()['port']}"

    def _take_address_slot(self) -> None:
        """Hold this cluster's address slot: the one it had before (named clusters), else a free one."""
        recorded = (self.dir.root / PLAN_FILE).exists()
        if recorded and self._tmp is None:
            self._slot = acquire_slot(AddressPlan.load(self.dir.root).slot)
        else:
            self._slot = acquire_slot(from_top=self._tmp is not None)
        self.addresses = AddressPlan(self._slot.slot)
        self.addresses.save(self.dir.root)

    # -- components ------------------------------------------------------------------------

    def process_names(self) -> list[str]:
        """Every process this cluster runs besides etcd and the API server, in start order."""
        names = list(self.components)
        for node in self.node_names:
            names += [f"container-runtime-{node}", f"kubelet-{node}", f"kube-proxy-{node}"]
        return names

    def _argv(self, name: str) -> list[str]:
        base = [sys.executable, "-m", "kubelab"]
        if name in CONTROL_PLANE:
            argv = [*base, name, "--kubeconfig", str(self.kubeconfig)]
            if name == "controller-manager":
                from kubelab.controllers.manager import BUILTIN_CONTROLLERS

                off = sorted((self.disabled | set(self.replaced)) & set(BUILTIN_CONTROLLERS))
                if off:
                    argv += ["--disable", ",".join(off)]
            return argv
        slot = ["--address-slot", str(self.addresses.slot)]
        if name in ADDONS:
            return [*base, name, "--kubeconfig", str(self.kubeconfig), *slot]
        kind, _, node = name.partition("-node-")
        index = self.node_names.index(f"node-{node}")
        if kind == "container-runtime":
            from kubelab.kubelet import runtime_daemon

            return runtime_daemon.argv(self.dir, f"node-{node}", self.addresses.pod_cidr(index))
        if kind == "kube-proxy":
            return [*base, "kube-proxy", "--kubeconfig", str(self.kubeconfig), "--node", f"node-{node}",
                    "--node-ip", self.addresses.node_ip(index), *slot]
        argv = [*base, "kubelet", "--kubeconfig", str(self.kubeconfig), "--cluster-dir", str(self.dir.root),
                "--node", f"node-{node}", "--node-index", str(index)]
        for option, value in self.kubelet_options.items():
            argv += [f"--{option.replace('_', '-')}", str(value)]
        return argv

    def _start_components(self) -> None:
        """Start the processes in waves: each wave's at once, then wait for all of them."""
        runtimes = [n for n in self.process_names() if n.startswith("container-runtime-")]
        node_agents = [n for n in self.process_names() if n.startswith(("kubelet-", "kube-proxy-"))]
        waves = [self.components + runtimes, node_agents]
        for wave in waves:
            for process in [self._spawn(name) for name in wave]:
                process.wait_ready()

    def _spawn(self, name: str) -> ManagedProcess:
        process = ManagedProcess(name, self._argv(name), self.dir.log(name))
        self.processes[name] = process
        process.spawn()
        return process

    def restart_component(self, name: str) -> None:
        """Start (again) a component's process, e.g. after :meth:`kill_component`.

        ``"apiserver"`` comes back on the same port, so clients and kubeconfigs keep working;
        ``"etcd"`` on the same ports and data.
        """
        if name == "apiserver" and self.apiserver is not None:
            self.apiserver.stop()
            self._start_apiserver(port=int(self.url.rsplit(":", 1)[1]))
            self.wait_ready()
            self._write_state()
            return
        if name == "etcd" and self.etcd is not None:
            self.etcd.stop()
            self.etcd.start()
            self._write_state()
            return
        if name not in self.process_names():
            raise ClusterError(f"{name!r} is not one of this cluster's processes ({', '.join(self.process_names())})")
        old = self.processes.pop(name, None)
        if old is not None:
            old.stop()
        self._spawn(name).wait_ready()
        self._write_state()

    def stop_component(self, name: str) -> None:
        """Stop a component's process gracefully (SIGTERM), as ``systemctl stop`` would."""
        self._process(name).stop()

    def kill_component(self, name: str) -> None:
        """Kill a component's process at once (SIGKILL), as a crash would."""
        self._process(name).kill()

    def pause_heartbeats(self, node: str, paused: bool = True) -> None:
        """Make a node's kubelet stop (or resume) renewing its Lease and status, as a hung kubelet would."""
        self._process(f"kubelet-{node}").signal(signal.SIGUSR1 if paused else signal.SIGUSR2)

    def _process(self, name: str) -> ManagedProcess:
        if name == "apiserver" and self.apiserver is not None:
            return self.apiserver
        if name == "etcd" and self.etcd is not None and self.etcd.process is not None:
            return self.etcd.process
        if name not in self.processes:
            raise ClusterError(f"no process called {name!r} runs in this cluster ({', '.join(self.processes)})")
        return self.processes[name]

    def plug(self, name: str, obj: Any) -> None:
        """Replace a component or a controller with ``obj``, which then runs in this process.

        ``name`` is a component such as ``"scheduler"``, ``"dns"`` or a node's
        ``"kubelet-node-1"`` / ``"kube-proxy-node-1"`` (``obj`` is a
        :class:`~kubelab.component.Component`), or a controller's name such as ``"replicaset"``
        (``obj`` is a controller the controller-manager could run). The built-in one stops
        first; a kubelet of yours talks to the node's container runtime, which keeps running.
        """
        from kubelab.controllers.manager import BUILTIN_CONTROLLERS, ControllerManager

        if name in self.replaced:
            self.unplug(name)
        if name in FULL or name in self.process_names():
            if not isinstance(obj, Component):
                raise TypeError(f"a {name} must have start(client) and stop() methods, got {type(obj).__name__}")
            if name in self.processes:
                self.processes.pop(name).stop()
            component: Component = obj
        elif name in BUILTIN_CONTROLLERS:
            self.replaced[name] = obj
            if "controller-manager" in self.processes:
                self.restart_component("controller-manager")
            others = [c for c in BUILTIN_CONTROLLERS if c != name]
            component = ControllerManager({name: obj}, disabled=others)
        else:
            raise ValueError(
                f"cannot plug {name!r}: use one of {', '.join(FULL)}, a node's kubelet or kube-proxy "
                f"(kubelet-node-1, kube-proxy-node-1) or a controller ({', '.join(BUILTIN_CONTROLLERS)})"
            )
        self.replaced[name] = obj
        component.start(self.api_client())
        self._in_process[name] = component
        self._write_state()

    def unplug(self, name: str) -> None:
        """Stop your replacement of ``name`` and bring the built-in one back."""
        if name not in self.replaced:
            raise ClusterError(f"{name!r} is not replaced in this cluster")
        self._in_process.pop(name).stop()
        del self.replaced[name]
        if name in self.process_names():
            self._spawn(name).wait_ready()
        elif "controller-manager" in self.processes:
            self.restart_component("controller-manager")
        self._write_state()

    # -- using the cluster ---------------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        return self.dir.kubeconfig

    @property
    def token(self) -> str:
        return self.dir.token.read_text().strip()

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.dir.ca_cert))

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        """GET a path of the API server with the cluster's token; return (status, body)."""
        request = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(request, context=self.ssl_context(), timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until ``/readyz`` answers 200."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                status, body = self.get("/readyz", timeout=2)
                if status == 200:
                    return
                last = f"HTTP {status}: {body[:200]!r}"
            except OSError as e:
                last = str(e)
            if self.apiserver and not self.apiserver.alive():
                raise ClusterError(f"the API server exited; see {self.apiserver.log}")
            time.sleep(0.02)
        raise ClusterError(f"the API server was not ready within {timeout:.0f} s ({last})")

    def api_client(self) -> kubernetes.client.ApiClient:
        """An official-client ``ApiClient`` for this cluster (one, shared)."""
        if self._client is None:
            self._client = api_client(self.kubeconfig)
        return self._client

    def kubectl(
        self, *args: str, version: str | None = None, input: str | None = None, check: bool = True,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this cluster; raise on a non-zero exit when ``check``."""
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig))
        result = subprocess.run(
            [kubectl_binary(version), *args], input=input, capture_output=True, text=True,
            env=env, timeout=timeout,
        )
        if check and result.returncode != 0:
            raise ClusterError(
                f"kubectl {' '.join(args)} exited {result.returncode}:\n{result.stderr}{result.stdout}"
            )
        return result
