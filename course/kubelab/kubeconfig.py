"""The kubeconfig file: how kubectl and the official Python client find and trust a cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes.client
import kubernetes.config
import yaml

from kubelab.paths import ClusterDir


def write_kubeconfig(cluster: ClusterDir, server: str) -> Path:
    """Write the cluster's kubeconfig (CA, server URL, bearer token) and return its path."""
    name = f"kubelab-{cluster.name}"
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": name, "cluster": {"server": server, "certificate-authority": str(cluster.ca_cert)}}
        ],
        "users": [{"name": name, "user": {"token": cluster.token.read_text().strip()}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name, "namespace": "default"}}],
        "current-context": name,
        "preferences": {},
    }
    tmp = cluster.kubeconfig.with_suffix(".tmp")
    tmp.touch(mode=0o600, exist_ok=True)
    tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    tmp.replace(cluster.kubeconfig)
    return cluster.kubeconfig


def api_client(kubeconfig: str | Path, context: str | None = None) -> kubernetes.client.ApiClient:
    """An official-client ``ApiClient`` for the cluster a kubeconfig points at."""
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(
        config_file=str(kubeconfig), context=context, client_configuration=configuration
    )
    # With a token, the loader's hook sets the host again before every request, and each time the
    # client reads the proxy variables from the whole environment anew (50 µs a request): they are
    # read once now, for this host, instead.
    configuration.proxy = configuration.proxy
    return kubernetes.client.ApiClient(configuration)
