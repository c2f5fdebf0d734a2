"""``kubelab container-runtime``: a node's container runtime as its own process (its containerd).

The runtime, not the kubelet, is the parent of every container, so a killed or restarted
kubelet leaves the node's containers running and finds them again, as on a real node.
Stopping the runtime (SIGTERM) stops its containers; if the runtime dies any other way,
its reaper kills them (:mod:`kubelab.kubelet.reaper`), and when its parent (the ``kubelab
up`` supervisor, a notebook's kernel) dies, the runtime dies with it.

Start it before the node's kubelet and stop it after::

    python -m kubelab container-runtime --cluster-dir DIR --node NAME [--pod-cidr CIDR]

It reports ``{"socket": PATH}`` when ready (:func:`kubelab.process.report_ready`).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from kubelab.kubelet.cri_socket import RuntimeServer, socket_path
from kubelab.kubelet.process_runtime import ProcessRuntime
from kubelab.paths import ClusterDir
from kubelab.process import report_ready, watch_parent


def argv(cluster_dir: ClusterDir, node: str, pod_cidr: str = "") -> list[str]:
    """The command line that runs node ``node``'s runtime (for :class:`kubelab.process.ManagedProcess`)."""
    args = [sys.executable, "-m", "kubelab", "container-runtime", "--cluster-dir", str(cluster_dir.root),
            "--node", node]
    return args + (["--pod-cidr", pod_cidr] if pod_cidr else [])


def main(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kubelab container-runtime", description=__doc__.split("\n")[0])
    parser.add_argument("--cluster-dir", required=True, type=Path, help="the cluster's directory")
    parser.add_argument("--node", required=True, help="the node's name")
    parser.add_argument("--pod-cidr", default="", help="the node's pod CIDR (else set later by the kubelet)")
    parser.add_argument("--grace", type=float, default=2.0,
                        help="seconds containers get between SIGTERM and SIGKILL on shutdown (default 2)")
    options = parser.parse_args(args)
    watch_parent()
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    node_dir = ClusterDir(options.cluster_dir).node(options.node)
    runtime = ProcessRuntime(node_dir, pod_cidr=options.pod_cidr).start()
    server = RuntimeServer(runtime, socket_path(node_dir)).start()
    report_ready(socket=str(server.path))
    stopping.wait()
    server.stop()
    runtime.shutdown(options.grace)
    return 0
