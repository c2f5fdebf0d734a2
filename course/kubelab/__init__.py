"""kubelab: Kubernetes from first principles, as graded Jupyter labs."""

from __future__ import annotations

__version__ = "0.1.0"
