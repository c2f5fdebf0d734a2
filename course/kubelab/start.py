"""``kubelab start``: a cluster, the labs in your workspace, and JupyterLab open on them.

Backends: ``embedded`` (default) runs kubelab's own cluster — the named cluster if it is
already up (``kubelab up --detach``), else one for as long as JupyterLab runs; ``kind``
creates (or reuses) a kind cluster with ``kind create cluster``; ``kubeconfig`` uses any
cluster you can reach. Notebooks find the cluster through ``KUBECONFIG`` and
``KUBELAB_BACKEND``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from kubelab import workspace
from kubelab.launcher import DEFAULT_NAME, read_state
from kubelab.paths import ClusterDir
from kubelab.process import ManagedProcess

BACKENDS = ("embedded", "kind", "kubeconfig")


class StartError(RuntimeError):
    """The lab environment could not be started."""


def _free_port(preferred: int) -> int:
    for port in range(preferred, preferred + 100):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise StartError(f"no free port in {preferred}..{preferred + 99} for JupyterLab")


def kind_config(workers: int) -> str:
    """A kind cluster config: one control-plane node and ``workers`` worker nodes."""
    nodes = ["- role: control-plane"] + ["- role: worker"] * workers
    return "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n" + "\n".join(nodes) + "\n"


def kind_kubeconfig(name: str, workers: int, state_dir: Path) -> Path:
    """Create the kind cluster ``name`` unless it exists; write and return its kubeconfig."""
    kind = shutil.which("kind")
    if kind is None:
        raise StartError("the kind backend needs the 'kind' command: see https://kind.sigs.k8s.io/docs/user/quick-start/")
    clusters = subprocess.run([kind, "get", "clusters"], capture_output=True, text=True, timeout=60)
    if clusters.returncode != 0:
        raise StartError(f"'kind get clusters' failed: {clusters.stderr.strip()}")
    state_dir.mkdir(parents=True, exist_ok=True)
    if name not in clusters.stdout.split():
        config = state_dir / f"kind-{name}.yaml"
        config.write_text(kind_config(workers))
        print(f"creating kind cluster {name!r} (1 control-plane, {workers} workers); this takes a minute...")
        created = subprocess.run([kind, "create", "cluster", "--name", name, "--config", str(config)], timeout=600)
        if created.returncode != 0:
            raise StartError(f"'kind create cluster --name {name}' failed (is Docker running?)")
    exported = subprocess.run([kind, "get", "kubeconfig", "--name", name], capture_output=True, text=True, timeout=60)
    if exported.returncode != 0:
        raise StartError(f"'kind get kubeconfig --name {name}' failed: {exported.stderr.strip()}")
    path = state_dir / f"kind-{name}.kubeconfig"
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(exported.stdout)
    return path


def check_reachable(kubeconfig: Path) -> str:
    """The server URL of the kubeconfig's cluster, after checking it answers ``/version``."""
    import kubernetes.client

    from kubelab.kubeconfig import api_client

    try:
        client = api_client(kubeconfig)
    except Exception as e:
        raise StartError(f"cannot read kubeconfig {kubeconfig}: {e}") from e
    try:
        kubernetes.client.VersionApi(client).get_code()
    except Exception as e:
        raise StartError(f"the cluster in {kubeconfig} does not answer: {e}") from e
    finally:
        client.close()
    return str(client.configuration.host)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kubelab start", description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=None,
                        help=f"where your copies of the labs live (default {workspace.default_workspace()})")
    parser.add_argument("--backend", choices=BACKENDS, default="embedded", help="which cluster (default embedded)")
    parser.add_argument("--kubeconfig", type=Path, help="with --backend kubeconfig: the kubeconfig (default $KUBECONFIG)")
    parser.add_argument("--name", default=DEFAULT_NAME, help=f"the cluster's name (default {DEFAULT_NAME})")
    parser.add_argument("--nodes", type=int, default=2, help="worker nodes of a new cluster (default 2)")
    parser.add_argument("--store", choices=("etcd", "memory"), default="etcd", help="embedded: the store (default etcd)")
    parser.add_argument("--port", type=int, default=8888, help="JupyterLab's port, or the next free one (default 8888)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    args = parser.parse_args(argv)
    try:
        return _start(args)
    except StartError as e:
        print(f"kubelab start: {e}", file=sys.stderr)
        return 1


def _start(args: argparse.Namespace) -> int:
    root = (args.workspace or workspace.default_workspace()).expanduser().resolve()
    report = workspace.sync(root)
    print(f"labs in {root}" + (":" if report.lines() else " (up to date)"))
    for line in report.lines():
        print(line)

    cluster: Any = None
    state_dir = root / ".kubelab"
    if args.backend == "embedded":
        state = read_state(ClusterDir.named(args.name))
        if state is not None:
            kubeconfig = ClusterDir.named(args.name).kubeconfig
            print(f"using the running cluster {args.name!r} at {state['url']}")
        else:
            from kubelab.cluster import FULL, Cluster, ClusterError

            started = time.monotonic()
            cluster = Cluster(args.name, store=args.store, components=FULL, nodes=args.nodes)
            try:
                cluster.start()
            except ClusterError as e:
                raise StartError(f"could not start cluster {args.name!r}: {e}") from e
            kubeconfig = cluster.kubeconfig
            print(f"cluster {args.name!r} is ready in {time.monotonic() - started:.1f} s at {cluster.url}")
    elif args.backend == "kind":
        kubeconfig = kind_kubeconfig(args.name, args.nodes, state_dir)
        print(f"using kind cluster {args.name!r} at {check_reachable(kubeconfig)}")
    else:
        given = args.kubeconfig or (Path(os.environ["KUBECONFIG"]) if os.environ.get("KUBECONFIG") else None)
        kubeconfig = given or Path.home() / ".kube" / "config"
        print(f"using the cluster in {kubeconfig} at {check_reachable(kubeconfig)}")

    try:
        return _run_jupyterlab(root, kubeconfig, args)
    finally:
        if cluster is not None:
            cluster.stop()
            print(f"cluster {args.name!r} stopped")


def _run_jupyterlab(root: Path, kubeconfig: Path, args: argparse.Namespace) -> int:
    port = _free_port(args.port)
    token = secrets.token_hex(16)
    env = dict(os.environ, KUBECONFIG=str(kubeconfig), KUBELAB_BACKEND=args.backend, KUBELAB_CLUSTER=args.name)
    argv = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}", f"--port={port}",
            "--ip=127.0.0.1", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}"]
    if args.no_browser:
        argv.append("--no-browser")
    if os.geteuid() == 0:
        argv.append("--allow-root")  # containers and CI machines run as root
    jupyter = ManagedProcess("jupyterlab", argv, root / ".kubelab" / "jupyterlab.log", env=env,
                             expects_ready_report=False)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    jupyter.start()
    url = f"http://127.0.0.1:{port}/lab?token={token}"
    deadline = time.monotonic() + 120
    while not _answers(f"http://127.0.0.1:{port}/api/status?token={token}"):
        if not jupyter.alive() or time.monotonic() > deadline:
            jupyter.stop()
            raise StartError(f"JupyterLab did not start; see {jupyter.log}")
        time.sleep(0.2)
    print(f"JupyterLab is ready: {url}", flush=True)
    print(f"  export KUBECONFIG={kubeconfig}   (for kubectl in your own terminal)\nStop: Ctrl-C", flush=True)
    while not stop.wait(0.5):
        if not jupyter.alive():
            break
    jupyter.stop()
    return 0


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def update(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kubelab update", description="Bring new lab versions into your workspace.")
    parser.add_argument("--workspace", type=Path, default=None,
                        help=f"your workspace (default {workspace.default_workspace()})")
    args = parser.parse_args(argv)
    root = (args.workspace or workspace.default_workspace()).expanduser().resolve()
    report = workspace.sync(root)
    print(f"labs in {root}" + (":" if report.lines() else " are up to date"))
    for line in report.lines():
        print(line)
    return 0
