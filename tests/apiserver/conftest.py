"""Fixtures: an in-process API server per test module, raw HTTPS, the official client, real kubectl."""

from __future__ import annotations

import http.client
import json
import os
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest

from kubelab.apiserver.server import APIServer, APIServerConfig
from kubelab.cluster import kubectl_binary
from kubelab.kubeconfig import api_client, write_kubeconfig
from kubelab.paths import ClusterDir
from kubelab.pki import ensure_pki
from kubelab.store.etcd_server import EtcdServer

KUBECTL_VERSIONS = ("1.27", "1.30", "1.33")
STORES = ("memory", "etcd")


@dataclass
class Reply:
    """One raw HTTP answer."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Raw:
    """Raw HTTPS requests to a server, with or without its token."""

    def __init__(self, server: APIServer) -> None:
        self.server = server
        self.context = ssl.create_default_context(cafile=str(server.config.cluster_dir.ca_cert))

    def __call__(
        self, method: str, path: str, body: Any = None, *, token: str | None = "default",
        headers: dict[str, str] | None = None, content_type: str = "application/json",
    ) -> Reply:
        conn = http.client.HTTPSConnection("127.0.0.1", self.server.port, context=self.context, timeout=30)
        hdrs = dict(headers or {})
        if token == "default":
            token = self.server.token
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            hdrs.setdefault("Content-Type", content_type)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            return Reply(resp.status, resp.headers, resp.read())
        finally:
            conn.close()


class Kubectl:
    """The real kubectl, one version, pointed at a server's kubeconfig."""

    def __init__(self, kubeconfig: Path, version: str | None = None) -> None:
        self.kubeconfig = kubeconfig
        self.version = version
        self.binary = kubectl_binary(version)

    def __call__(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig))
        result = subprocess.run(
            [self.binary, *args], input=input, capture_output=True, text=True, env=env, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {self.version} {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stderr}{result.stdout}")
        return result


def start_server(root: Path, **config: Any) -> APIServer:
    cluster_dir = ClusterDir(root)
    ensure_pki(cluster_dir)
    server = APIServer(APIServerConfig(cluster_dir=cluster_dir, **config)).start()
    write_kubeconfig(cluster_dir, server.url)
    return server


@pytest.fixture(scope="session")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    """One real etcd for the session's API servers (each module's server shares it)."""
    home = tmp_path_factory.mktemp("etcd")
    etcd = EtcdServer(home / "data", home / "etcd.log", unsafe_no_fsync=True)
    etcd.start()
    yield etcd
    etcd.stop()


@pytest.fixture(scope="module", params=STORES)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[APIServer]:
    """An in-process API server for the module, once per store: memory, then a real etcd."""
    config: dict[str, Any] = {"store": request.param}
    if request.param == "etcd":
        config["etcd_servers"] = request.getfixturevalue("etcd").endpoint
    server = start_server(tmp_path_factory.mktemp("apiserver") / "cluster", **config)
    yield server
    server.stop()


@pytest.fixture
def make_server() -> Iterator[Any]:
    """A function that starts an API server in a cluster directory; every one started is stopped."""
    started: list[APIServer] = []

    def make(root: Path, **config: Any) -> APIServer:
        started.append(start_server(root, **config))
        return started[-1]

    yield make
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def raw(server: APIServer) -> Raw:
    return Raw(server)


@pytest.fixture(scope="module")
def api(server: APIServer) -> Iterator[kubernetes.client.ApiClient]:
    client = api_client(server.config.cluster_dir.kubeconfig)
    yield client
    client.close()


@pytest.fixture(scope="module")
def core(api: kubernetes.client.ApiClient) -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(api)


@pytest.fixture
def namespace(core: kubernetes.client.CoreV1Api) -> str:
    """A fresh namespace for one test."""
    name = "t-" + uuid.uuid4().hex[:8]
    core.create_namespace({"metadata": {"name": name}})
    return name


@pytest.fixture(params=KUBECTL_VERSIONS)
def kubectl(request: pytest.FixtureRequest, server: APIServer) -> Kubectl:
    """The real kubectl against the module's server, once per version in :data:`KUBECTL_VERSIONS`."""
    return Kubectl(server.config.cluster_dir.kubeconfig, request.param)


@pytest.fixture
def kubectl_at(server: APIServer):
    """A function from a kubectl version to that kubectl, against the module's server."""
    return lambda version: Kubectl(server.config.cluster_dir.kubeconfig, version)
