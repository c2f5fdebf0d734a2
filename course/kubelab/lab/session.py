"""A lab's own cluster: fresh and isolated, in one line, whatever backend the learner chose.

    cluster = start("03-scheduler", nodes=2)
    cluster.kubectl("get nodes")

``KUBELAB_BACKEND`` (set by ``kubelab start``) picks where it runs:

- ``embedded`` (default): a throw-away :class:`~kubelab.cluster.Cluster` with just what the
  lab asks for, gone when the lab closes it or the kernel ends;
- ``kind`` / ``kubeconfig``: the cluster in ``KUBECONFIG``, with a fresh namespace for the lab
  (left-overs of an earlier run of the same lab are deleted first). The built-in components
  keep running there, so a learner's component runs *beside* them (:meth:`LabCluster.run`),
  e.g. a scheduler with its own ``schedulerName``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shlex
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import kubernetes.client
import yaml

from kubelab import errors
from kubelab.client import Client
from kubelab.cluster import CONTROL_PLANE, Cluster, ClusterError, kubectl_binary
from kubelab.component import Component
from kubelab.kubeconfig import api_client

if TYPE_CHECKING:
    from kubelab.apiserver.server import RegistryFactory
    from kubelab.store.kv import KV

BACKENDS = ("embedded", "kind", "kubeconfig")
LAB_LABEL = "kubelab.io/lab"


class LabError(RuntimeError):
    """The lab's cluster could not be set up or used as asked."""


class Output(str):
    """Text a command printed; a notebook shows it as printed, not as a quoted string."""

    def __repr__(self) -> str:
        return str(self)


def backend() -> str:
    """The backend the labs run on: ``KUBELAB_BACKEND``, else ``embedded``."""
    chosen = os.environ.get("KUBELAB_BACKEND") or "embedded"
    if chosen not in BACKENDS:
        raise LabError(f"KUBELAB_BACKEND is {chosen!r}; use one of {', '.join(BACKENDS)}")
    return chosen


def _remote_kubeconfig() -> Path:
    given = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    path = Path(given) if given else Path.home() / ".kube" / "config"
    if not path.is_file():
        raise LabError(f"no kubeconfig at {path}: set KUBECONFIG, or start the labs with 'kubelab start'")
    return path


def namespace_name(lab: str) -> str:
    """A fresh namespace name for ``lab`` (``lab-03-scheduler-k2x9``), at most 63 characters."""
    stem = "lab-" + "".join(c if c.isalnum() else "-" for c in lab.lower()).strip("-")
    return f"{stem[:52].rstrip('-')}-{secrets.token_hex(2)}"


class LabCluster:
    """The cluster one lab works on, and the namespace its objects go to.

    Use :func:`start` to make one. ``kubectl`` and the clients default to the lab's
    namespace (``default`` on an embedded cluster, a fresh one elsewhere).
    """

    def __init__(self, lab: str, backend: str, kubeconfig: Path, namespace: str, cluster: Cluster | None) -> None:
        self.lab = lab
        self.backend = backend
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.cluster = cluster
        self._api_client: kubernetes.client.ApiClient | None = None
        self._client: Client | None = None
        self._running: list[Component] = []
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self.closed = False

    @property
    def embedded(self) -> bool:
        return self.cluster is not None

    def api_client(self) -> kubernetes.client.ApiClient:
        """An official-client ``ApiClient`` for this cluster (one, shared)."""
        if self._api_client is None:
            self._api_client = self.cluster.api_client() if self.cluster else api_client(self.kubeconfig)
        return self._api_client

    @property
    def client(self) -> Client:
        """A :class:`kubelab.client.Client` (plain dicts) for this cluster."""
        if self._client is None:
            self._client = Client(self.api_client())
        return self._client

    def kubectl(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60.0) -> Output:
        """Run the real kubectl on this cluster, in the lab's namespace; return what it printed.

        ``kubectl("get pods -o wide")`` and ``kubectl("get", "pods", "-o", "wide")`` are the same.
        A failing command raises :class:`LabError` with kubectl's message, unless ``check=False``
        (then its error text is returned with the output).
        """
        argv = shlex.split(args[0]) if len(args) == 1 else list(args)
        if argv and argv[0] == "kubectl":
            argv = argv[1:]
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig))
        try:
            result = subprocess.run([kubectl_binary(), *argv], input=input, capture_output=True, text=True,
                                    env=env, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise LabError(f"kubectl {' '.join(argv)} did not finish within {timeout:g} s") from e
        except ClusterError as e:
            raise LabError(str(e)) from e
        if result.returncode != 0 and check:
            raise LabError(f"kubectl {' '.join(argv)} failed: {(result.stderr or result.stdout).strip()}")
        return Output(result.stdout + (result.stderr if result.returncode != 0 else ""))

    def create(self, manifest: Mapping[str, Any] | str) -> dict[str, Any]:
        """Create one object (a dict or a YAML text) in the lab's namespace; return it as stored."""
        obj = yaml.safe_load(manifest) if isinstance(manifest, str) else dict(manifest)
        if not isinstance(obj, dict) or "kind" not in obj or "apiVersion" not in obj:
            raise LabError("a manifest needs apiVersion and kind")
        resource = self.client.resource_for(obj)
        namespace = self.namespace if resource.info.namespaced else None
        return resource.create(obj, namespace)

    def plug(self, name: str, obj: Any) -> None:
        """Replace the cluster's own ``name`` (``"scheduler"``, a controller...) with ``obj``.

        Only an embedded cluster lets a lab replace its parts; on another cluster, run yours
        beside the real one with :meth:`run`.
        """
        if self.cluster is None:
            raise LabError(
                f"the {self.backend} cluster's own {name} cannot be replaced from a notebook; "
                f"run yours beside it with cluster.run(...) instead"
            )
        self.cluster.plug(name, obj)

    def unplug(self, name: str) -> None:
        """Bring the cluster's own ``name`` back after :meth:`plug`."""
        if self.cluster is None:
            raise LabError(f"nothing was plugged into the {self.backend} cluster")
        self.cluster.unplug(name)

    def run(self, component: Component) -> Component:
        """Start ``component`` against this cluster, beside its own parts; it stops when the lab closes."""
        if not isinstance(component, Component):
            raise TypeError(f"a component needs start(client) and stop() methods, got {type(component).__name__}")
        component.start(self.api_client())
        self._running.append(component)
        return component

    def stop_running(self, component: Component) -> None:
        """Stop a component started with :meth:`run`."""
        if component in self._running:
            self._running.remove(component)
            component.stop()

    def close(self) -> None:
        """Stop what the lab started: its components, its throw-away cluster or its namespace."""
        if self.closed:
            return
        self.closed = True
        for component in reversed(self._running):
            component.stop()
        self._running.clear()
        if self._client is not None:
            self._client.close()
        if self.cluster is not None:
            self.cluster.stop()
        else:
            # Already gone, or the cluster went away first: either way nothing is left to clean.
            with contextlib.suppress(errors.ClientError):
                self.client.resource("v1", "namespaces").delete(self.namespace)
            if self._api_client is not None:
                self._api_client.close()
        if self._scratch is not None:
            self._scratch.cleanup()
        _OPEN.pop(self.lab, None)

    def __enter__(self) -> LabCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.cluster.url if self.cluster else str(self.kubeconfig)
        return f"<LabCluster {self.lab} ({self.backend}) at {where}, namespace {self.namespace}>"


_OPEN: dict[str, LabCluster] = {}


def start(
    lab: str,
    *,
    components: Iterable[str] = CONTROL_PLANE,
    nodes: int = 2,
    kubelet_options: Mapping[str, Any] | None = None,
    store: str = "memory",
    kv: KV | None = None,
    registries: Mapping[str, RegistryFactory] | None = None,
    backend_name: str | None = None,
) -> LabCluster:
    """A fresh cluster for ``lab``; the lab's earlier one (a re-run cell) is closed first.

    The keyword arguments say what an embedded cluster runs (see :class:`~kubelab.cluster.Cluster`);
    a store (``kv``) or request path (``registries``) of yours always gets an embedded cluster,
    since it must run in this process. ``backend_name`` overrides ``KUBELAB_BACKEND``.
    """
    previous = _OPEN.pop(lab, None)
    if previous is not None:
        previous.close()
    chosen = backend_name or ("embedded" if kv is not None or registries else backend())
    if chosen not in BACKENDS:
        raise LabError(f"unknown backend {chosen!r}; use one of {', '.join(BACKENDS)}")
    if chosen == "embedded":
        cluster = Cluster(
            components=components, nodes=nodes, kubelet_options=kubelet_options, store=store,  # type: ignore[arg-type]
            kv=kv, registries=registries,
        )
        try:
            cluster.start()
        except ClusterError as e:
            raise LabError(f"the lab's cluster did not start: {e}") from e
        lab_cluster = LabCluster(lab, chosen, cluster.kubeconfig, "default", cluster)
    else:
        lab_cluster = _remote(lab, chosen)
    _OPEN[lab] = lab_cluster
    return lab_cluster


def _remote(lab: str, chosen: str) -> LabCluster:
    source = _remote_kubeconfig()
    namespace = namespace_name(lab)
    scratch = tempfile.TemporaryDirectory(prefix="kubelab-lab-")
    config = yaml.safe_load(source.read_text()) or {}
    current = config.get("current-context")
    for context in config.get("contexts") or []:
        if context.get("name") == current:
            context.setdefault("context", {})["namespace"] = namespace
    kubeconfig = Path(scratch.name) / "kubeconfig"
    kubeconfig.touch(mode=0o600)
    kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))
    lab_cluster = LabCluster(lab, chosen, kubeconfig, namespace, None)
    lab_cluster._scratch = scratch
    namespaces = lab_cluster.client.resource("v1", "namespaces")
    try:
        for old in namespaces.list(label_selector={LAB_LABEL: lab})["items"]:
            if not old["metadata"].get("deletionTimestamp"):
                namespaces.delete(old["metadata"]["name"])
        namespaces.create({"apiVersion": "v1", "kind": "Namespace",
                           "metadata": {"name": namespace, "labels": {LAB_LABEL: lab}}})
    except errors.ClientError as e:
        scratch.cleanup()
        raise LabError(f"could not make the lab's namespace on the cluster in {source}: {e}") from e
    return lab_cluster


def close_all() -> None:
    """Close every lab cluster this process opened (run at exit)."""
    for lab_cluster in list(_OPEN.values()):
        lab_cluster.close()


atexit.register(close_all)
