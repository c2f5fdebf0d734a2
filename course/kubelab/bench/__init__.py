"""``kubelab bench <what>``: measure the cluster against the project's speed targets and print a table."""

from __future__ import annotations

import importlib
import math
import statistics
import sys
from collections.abc import Sequence

BENCHMARKS: dict[str, tuple[str, str]] = {
    "api": ("kubelab.bench.api:run", "API server: time to ready; create/get/list/watch latency and throughput"),
    "scheduler": ("kubelab.bench.scheduler:run", "scheduler: pods bound per second, 1,000 pods on 100 and 1,000 nodes"),
    "controllers": ("kubelab.bench.controllers:run", "controllers: a Deployment of 100 replicas to 100 pods bound"),
    "pods": ("kubelab.bench.pods:run", "kubelet: pod startup latency (create → Running, → Ready) for 50 and 200 pods"),
    "network": ("kubelab.bench.network:run", "kube-proxy: requests/s through a ClusterIP and a NodePort against direct"),
    "labs": ("kubelab.bench.labs:run", "labs: each solution notebook's run time in a fresh kernel, and its autograde time"),
}


def percentile(samples: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0–100) of ``samples``, nearest-rank."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples) if samples else float("nan")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]], title: str = "") -> None:
    """Print rows under headers, columns aligned, as a plain-text table."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    if title:
        print(f"\n{title}")
    for i, row in enumerate(cells):
        print("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths, strict=True))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    sys.stdout.flush()


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "—"  # not measured, or not meaningful for this row
        return f"{value:.1f}" if value >= 10 else f"{value:.2f}"
    return str(value)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in BENCHMARKS:
        print("usage: kubelab bench <benchmark> [options]\n\nbenchmarks:")
        for name, (_, help) in BENCHMARKS.items():
            print(f"  {name:<12} {help}")
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    module, function = BENCHMARKS[argv[0]][0].split(":")
    return int(getattr(importlib.import_module(module), function)(argv[1:]) or 0)
