"""Where a cluster keeps its state: one directory per cluster, everything inside it.

``$KUBELAB_HOME/clusters/<name>/`` (``KUBELAB_HOME`` defaults to ``~/.kubelab``)::

    pki/ca.crt, pki/ca.key              the cluster's own certificate authority
    pki/apiserver.crt, apiserver.key    the API server's serving certificate
    token                               the bearer token every client presents
    kubeconfig                          what kubectl and the Python client read
    state.json                          which processes run, on which ports
    etcd/                               etcd's data directory (``--store etcd``)
    logs/<component>.log                each component's log
    nodes/<node>/pods/<uid>/            each pod's directory on each node
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

NAME_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def home() -> Path:
    """The directory that holds every kubelab cluster on this machine."""
    return Path(os.environ.get("KUBELAB_HOME") or Path.home() / ".kubelab")


@dataclass(frozen=True)
class ClusterDir:
    """The directory of one cluster and the files inside it."""

    root: Path

    @classmethod
    def named(cls, name: str) -> ClusterDir:
        """The directory of the cluster called ``name`` under :func:`home`."""
        if not NAME_PATTERN.match(name):
            raise ValueError(
                f"invalid cluster name {name!r}: use lower-case letters, digits and '-', "
                "starting and ending with a letter or digit"
            )
        return cls(home() / "clusters" / name)

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def ca_cert(self) -> Path:
        return self.pki / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.pki / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.pki / "apiserver.crt"

    @property
    def server_key(self) -> Path:
        return self.pki / "apiserver.key"

    @property
    def token(self) -> Path:
        return self.root / "token"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def node(self, node: str) -> Path:
        return self.root / "nodes" / node

    def create(self) -> None:
        """Make the directory tree, private to this user."""
        for d in (self.root, self.pki, self.logs):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
