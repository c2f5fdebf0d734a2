"""The ``kubelab`` command.

Each subcommand lives in the module that does the work and is imported only when used,
so ``kubelab status`` starts fast and a component's process loads only what it needs.
A subcommand is a function ``main(argv: list[str]) -> int``.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "start": ("kubelab.start:main", "start a cluster and open JupyterLab on your copies of the labs"),
    "update": ("kubelab.start:update", "bring new lab versions into your workspace (never over your work)"),
    "up": ("kubelab.launcher:up", "start a cluster (foreground, or --detach)"),
    "down": ("kubelab.launcher:down", "stop a cluster started with --detach"),
    "status": ("kubelab.launcher:status", "show the clusters on this machine and their processes"),
    "kubeconfig": ("kubelab.launcher:kubeconfig", "print a cluster's kubeconfig path or an export line"),
    "bench": ("kubelab.bench:main", "measure the cluster against its speed targets"),
    "course": ("kubelab.course:main", "build labs/ from solutions/, or check that it is up to date"),
    "grade": ("kubelab.autograde.pipeline:main", "autograde a class's submissions of a lab, in parallel, sandboxed"),
}

COMPONENTS: dict[str, tuple[str, str]] = {
    "apiserver": ("kubelab.apiserver.server:main", "run the API server (started by 'kubelab up')"),
    "cloud-controller-manager": ("kubelab.cloud.service_controller:main",
                                 "run the load-balancer controller (LoadBalancer Services get an address)"),
    "controller-manager": ("kubelab.controllers.manager:main", "run the controllers (replicaset, deployment, ...)"),
    "container-runtime": ("kubelab.kubelet.runtime_daemon:main", "run a node's container runtime (started by 'kubelab up')"),
    "dns": ("kubelab.dns.cluster_dns:main", "run the cluster DNS server (answers for cluster.local, behind kube-dns)"),
    "ingress-controller": ("kubelab.ingress.controller:main", "run the ingress controller (IngressClass kubelab)"),
    "kube-proxy": ("kubelab.proxy.kube_proxy:main", "run kube-proxy for one node (Service IPs, NodePorts, LoadBalancer IPs)"),
    "scheduler": ("kubelab.scheduler:main", "run the scheduler (started by 'kubelab up'; --scheduler-name for a second one)"),
    "kubelet": ("kubelab.kubelet.kubelet:main", "run a node's kubelet (started by 'kubelab up')"),
}


def _usage() -> str:
    lines = ["usage: kubelab <command> [options]", "", "commands:"]
    lines += [f"  {name:<20} {help}" for name, (_, help) in COMMANDS.items()]
    lines += ["", "components (run as their own process by 'kubelab up'):"]
    lines += [f"  {name:<20} {help}" for name, (_, help) in COMPONENTS.items()]
    lines += ["", "Run 'kubelab <command> --help' for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] == "--version":
        from kubelab import __version__

        print(f"kubelab {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    target = COMMANDS.get(name) or COMPONENTS.get(name)
    if target is None:
        print(f"kubelab: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module, function = target[0].split(":")
    return int(getattr(importlib.import_module(module), function)(rest) or 0)
