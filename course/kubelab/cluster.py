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
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import kubernetes.client

from kubelab.kubeconfig import api_client, write_kubeconfig
from kubelab.paths import ClusterDir
from kubelab.pki import ensure_pki
from kubelab.process import ManagedProcess
from kubelab.store.etcd_server import EtcdServer

StoreName = Literal["memory", "etcd"]


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
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        store: StoreName = "memory",
        home: Path | None = None,
    ) -> None:
        if store not in ("memory", "etcd"):
            raise ValueError(f"unknown store {store!r}: use 'memory' or 'etcd'")
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
        self.url = ""
        self._client: kubernetes.client.ApiClient | None = None

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> Cluster:
        """Start every part and return when the API server answers ``/readyz``."""
        self.dir.create()
        ensure_pki(self.dir)
        try:
            argv = [sys.executable, "-m", "kubelab", "apiserver", "--cluster-dir", str(self.dir.root)]
            if self.store == "etcd":
                self.etcd = EtcdServer(self.dir.etcd_data, self.dir.log("etcd"))
                self.etcd.start()
                argv += ["--store", "etcd", "--etcd-servers", self.etcd.endpoint]
            else:
                argv += ["--store", "memory"]
            self.apiserver = ManagedProcess("apiserver", argv, self.dir.log("apiserver"))
            info = self.apiserver.start()
            self.url = f"https://127.0.0.1:{info['port']}"
            write_kubeconfig(self.dir, self.url)
            self.wait_ready()
            self._write_state()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every part; a throw-away cluster's directory is removed."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.apiserver:
            self.apiserver.stop()
        if self.etcd:
            self.etcd.stop()
        if self.dir.state.exists():
            self.dir.state.unlink()
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
            "supervisor": os.getpid(),
            "processes": {"apiserver": self.apiserver.pid if self.apiserver else None},
        }
        if self.etcd and self.etcd.process:
            state["processes"]["etcd"] = self.etcd.process.pid
            state["etcd"] = self.etcd.endpoint
        self.dir.state.write_text(json.dumps(state, indent=2))

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
