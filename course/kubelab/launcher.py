"""``kubelab up / down / status / kubeconfig``: named clusters on this machine.

``kubelab up`` is the supervisor: it runs the cluster's processes and stops them when it
is interrupted. ``--detach`` starts that supervisor in the background and returns once the
cluster is ready; ``kubelab down`` asks it to stop. What runs where is in the cluster
directory's ``state.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from kubelab.paths import ClusterDir, home
from kubelab.process import pid_alive

DEFAULT_NAME = "kubelab"


def _name_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default=DEFAULT_NAME, help=f"the cluster's name (default {DEFAULT_NAME})")


def _cluster_dir(name: str) -> ClusterDir:
    try:
        return ClusterDir.named(name)
    except ValueError as e:
        raise SystemExit(f"kubelab: {e}") from e


def read_state(cluster: ClusterDir) -> dict[str, Any] | None:
    """The cluster's state.json if its supervisor is alive, else None."""
    try:
        state: dict[str, Any] = json.loads(cluster.state.read_text())
    except (OSError, ValueError):
        return None
    return state if pid_alive(state.get("supervisor")) else None


def up(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kubelab up", description="Start an embedded cluster.")
    _name_arg(parser)
    parser.add_argument(
        "--store", choices=("etcd", "memory"), default="etcd",
        help="etcd (a real etcd; state survives down/up) or memory (faster; state is lost) (default etcd)",
    )
    parser.add_argument("--nodes", type=int, default=2, help="how many nodes, each with a kubelet (default 2)")
    parser.add_argument("--detach", action="store_true", help="run in the background and return once ready")
    parser.add_argument(
        "--disable", default="", metavar="NAMES",
        help="components or built-in controllers not to run, comma-separated (e.g. scheduler,replicaset)",
    )
    args = parser.parse_args(argv)
    disable = [c for c in args.disable.split(",") if c]
    cluster_dir = _cluster_dir(args.name)
    running = read_state(cluster_dir)
    if running:
        print(
            f"kubelab: cluster {args.name!r} is already running (supervisor pid {running['supervisor']}); "
            f"stop it with 'kubelab down --name {args.name}'",
            file=sys.stderr,
        )
        return 1
    if args.detach:
        return _detach(args, disable, cluster_dir)
    return _supervise(args.name, args.store, disable, args.nodes)


def _supervise(name: str, store: str, disable: list[str], nodes: int) -> int:
    from kubelab.cluster import FULL, Cluster, ClusterError

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    started = time.monotonic()
    try:
        cluster = Cluster(
            name, store=store, components=FULL, disable=disable, nodes=nodes  # type: ignore[arg-type]
        )
        cluster.start()
    except (ClusterError, ValueError) as e:
        print(f"kubelab: could not start cluster {name!r}: {e}", file=sys.stderr)
        return 1
    print(
        f"cluster {name!r} is ready in {time.monotonic() - started:.1f} s at {cluster.url} (store: {store})\n"
        f"  export KUBECONFIG={cluster.kubeconfig}\n"
        f"  kubectl get namespaces\n"
        f"logs: {cluster.dir.logs}   stop: Ctrl-C, or 'kubelab down --name {name}'",
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            if cluster.apiserver and not cluster.apiserver.alive():
                print(f"kubelab: the API server exited; see {cluster.apiserver.log}", file=sys.stderr)
                return 1
    finally:
        cluster.stop()
        print(f"cluster {name!r} stopped", flush=True)
    return 0


def _detach(args: argparse.Namespace, disable: list[str], cluster_dir: ClusterDir, timeout: float = 60.0) -> int:
    name, store = args.name, args.store
    cluster_dir.create()
    log = cluster_dir.log("supervisor")
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kubelab", "up", "--name", name, "--store", store, "--disable", ",".join(disable),
             "--nodes", str(args.nodes)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read_state(cluster_dir)
        if state and state.get("supervisor") == proc.pid:
            print(f"cluster {name!r} is ready at {state['url']} (store: {store})")
            print(f"export KUBECONFIG={cluster_dir.kubeconfig}")
            return 0
        if proc.poll() is not None:
            print(f"kubelab: cluster {name!r} failed to start:\n{_tail(log)}", file=sys.stderr)
            return 1
        time.sleep(0.05)
    proc.terminate()
    print(f"kubelab: cluster {name!r} was not ready within {timeout:.0f} s; see {log}", file=sys.stderr)
    return 1


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def down(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kubelab down", description="Stop a running cluster.")
    _name_arg(parser)
    args = parser.parse_args(argv)
    cluster_dir = _cluster_dir(args.name)
    state = read_state(cluster_dir)
    if state is None:
        print(f"cluster {args.name!r} is not running")
        return 0
    pid = int(state["supervisor"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    print(f"cluster {args.name!r} stopped")
    return 0


def status(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kubelab status", description="Show the clusters on this machine.")
    parser.add_argument("--name", help="only this cluster")
    args = parser.parse_args(argv)
    root = home() / "clusters"
    names = [args.name] if args.name else sorted(p.name for p in root.iterdir()) if root.is_dir() else []
    if not names:
        print(f"no clusters in {root}; start one with 'kubelab up'")
        return 0
    for name in names:
        state = read_state(_cluster_dir(name))
        if state is None:
            print(f"{name}: stopped")
            continue
        print(f"{name}: running at {state['url']} (store: {state['store']}, address slot {state.get('slot', 0)})")
        for component, pid in state.get("processes", {}).items():
            print(f"  {component:<20} pid {pid:<8} {'running' if pid_alive(pid) else 'EXITED'}")
    return 0


def kubeconfig(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kubelab kubeconfig", description="Print a cluster's kubeconfig path.")
    _name_arg(parser)
    parser.add_argument("--export", action="store_true", help="print an 'export KUBECONFIG=...' line")
    args = parser.parse_args(argv)
    path = _cluster_dir(args.name).kubeconfig
    if not path.exists():
        print(f"kubelab: cluster {args.name!r} has no kubeconfig yet; start it with 'kubelab up'", file=sys.stderr)
        return 1
    print(f"export KUBECONFIG={path}" if args.export else path)
    return 0
