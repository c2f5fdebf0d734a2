"""The API server: configuration, start and stop, and ``python -m kubelab apiserver``.

Mirrors ``k8s.io/apiserver/pkg/server`` (``GenericAPIServer``): one HTTPS listener on
127.0.0.1 with the cluster's serving certificate, every request through
:class:`~kubelab.apiserver.handlers.APIHandler`, one registry per resource over one
:class:`~kubelab.store.storage.Storage`.

In-process (tests, notebooks)::

    server = APIServer(APIServerConfig(cluster_dir=ClusterDir(path))).start()
    ...  # server.url, server.token
    server.stop()

A lab plugs in its own key-value store (``kv=``) or its own registry for one resource
(``registries={"configmaps": factory}``, where ``factory(info, storage)`` returns a
:class:`~kubelab.apiserver.registry.Registry`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import platform
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from kubelab.api import validation
from kubelab.api.resources import ResourceInfo, ResourceRegistry
from kubelab.apiserver import admission, errors
from kubelab.apiserver.conversion import ConvertingStorage
from kubelab.apiserver.crds import CRDStore, CustomResourceDefinitions
from kubelab.apiserver.discovery import Discovery
from kubelab.apiserver.handlers import APIHandler
from kubelab.apiserver.health import Health
from kubelab.apiserver.namespaces import NamespaceCache, NamespaceStore
from kubelab.apiserver.openapi import OpenAPIDocuments
from kubelab.apiserver.proxy import KubeletProxy
from kubelab.apiserver.registry import Registry, Store
from kubelab.apiserver.resources import finalize_strategy_for, status_strategy_for, strategy_for
from kubelab.apiserver.services import ServiceStore
from kubelab.network import AddressPlan
from kubelab.paths import ClusterDir
from kubelab.store.errors import Unavailable
from kubelab.store.kv import KV
from kubelab.store.storage import Storage

log = logging.getLogger("kubelab.apiserver")

KUBERNETES_VERSION = ("1", "33", "v1.33.0")
RegistryFactory = Callable[[ResourceInfo, Storage], Registry]


@dataclass
class APIServerConfig:
    """How to run the API server; certificates and the token come from ``cluster_dir``."""

    cluster_dir: ClusterDir
    store: str = "memory"
    """``memory`` (an in-memory MVCC store) or ``etcd`` (``etcd_servers``)."""
    etcd_servers: str = ""
    host: str = "127.0.0.1"
    port: int = 0
    """0 picks a free port."""
    service_cidr: str = str(AddressPlan().service_network)
    default_not_ready_toleration_seconds: int = 300
    default_unreachable_toleration_seconds: int = 300
    max_request_bytes: int = 3 * 1024 * 1024
    min_request_timeout: int = 1800
    """Watches without ``timeoutSeconds`` end after between this and twice this many seconds."""
    compaction_interval: float = 300.0
    """Seconds between compactions of the store's history (``--etcd-compaction-interval``); 0 never."""
    store_wait: float = 20.0
    """Seconds to wait at start for the store to answer: etcd may still be starting."""


class APIServer:
    """The embedded cluster's kube-apiserver."""

    def __init__(
        self,
        config: APIServerConfig,
        *,
        kv: KV | None = None,
        registries: Mapping[str, RegistryFactory] | None = None,
    ) -> None:
        self.config = config
        self.token = config.cluster_dir.token.read_text().strip()
        self.resources = ResourceRegistry()
        self._kv = kv
        self._owns_kv = kv is None
        self._factories = dict(registries or {})
        self._registries: dict[tuple[str, str, str, str], Registry] = {}
        self.port = config.port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.BaseRunner | None = None
        self.storage: Storage
        self.discovery: Discovery
        self.health: Health
        self.admission: admission.Admission
        self.openapi: OpenAPIDocuments
        self.crds: CustomResourceDefinitions
        self.proxy: KubeletProxy
        self.namespace_cache: NamespaceCache | None = None

    @property
    def url(self) -> str:
        return f"https://{self.config.host}:{self.port}"

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> APIServer:
        """Serve in a background thread with its own event loop; return once listening and ready."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="apiserver", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.serve(), loop).result()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop serving, close the store, end the thread."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        if loop.is_running():
            asyncio.run_coroutine_threadsafe(self.shutdown(), loop).result(timeout=30)
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=30)
        loop.close()

    def __enter__(self) -> APIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def serve(self) -> None:
        """Open the store, bind the port, create the bootstrap objects, start answering."""
        from kubelab.apiserver import bootstrap

        config = self.config
        if self._kv is None:
            self._kv = _open_kv(config)
        self.storage = Storage(self._kv)
        if config.compaction_interval > 0:
            self.storage.start_compactor(config.compaction_interval)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((config.host, config.port))
        self.port = sock.getsockname()[1]
        self.discovery = Discovery(self.resources, f"{config.host}:{self.port}")
        self.openapi = OpenAPIDocuments(self.resources)
        self.crds = CustomResourceDefinitions(self, self._resources_changed)
        self.proxy = KubeletProxy(self.token)
        self.health = Health(self._store_check)
        namespaces = self.resources.get("", "v1", "namespaces")
        assert namespaces is not None
        if namespaces.group_resource not in self._factories:  # a lab's own registry may keep them elsewhere
            self.namespace_cache = NamespaceCache(self.storage, namespaces.list_prefix())
        self.admission = admission.Admission([
            admission.NamespaceLifecycle(
                self._get_namespace, self.namespace_cache.get if self.namespace_cache else None
            ),
            admission.ServiceAccount(),
            admission.DefaultTolerationSeconds(
                config.default_not_ready_toleration_seconds, config.default_unreachable_toleration_seconds
            ),
        ])
        server = web.Server(APIHandler(self), handler_cancellation=True, access_log=None)
        self._runner = web.ServerRunner(server, access_log=None)
        await self._runner.setup()
        site = web.SockSite(self._runner, sock, ssl_context=_ssl_context(config.cluster_dir))
        await site.start()
        await self._wait_for_store()
        await bootstrap.ensure(self)
        crd_info = self.resources.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        assert crd_info is not None
        await self.crds.load(crd_info)
        if self.namespace_cache is not None:
            self.namespace_cache.start()
        self.health.bootstrapped.set()
        log.info("serving on %s (store: %s)", self.url, config.store if self._owns_kv else type(self._kv).__name__)

    async def shutdown(self) -> None:
        if self.namespace_cache is not None:
            await self.namespace_cache.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.proxy.close()
        await self.storage.stop_compactor()
        if self.storage.cacher is not None:
            await self.storage.cacher.stop()
        if self._kv is not None and self._owns_kv:
            await self._kv.close()

    def compact(self) -> int:
        """Compact the store's history up to its current revision now; return that revision.

        Watches and lists from an older resourceVersion then get 410 Expired, as after
        kube-apiserver's periodic compaction.
        """
        assert self._loop is not None

        async def run() -> int:
            revision = await self.storage.current_revision()
            await self.storage.compact(revision)
            return revision

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result()

    async def _wait_for_store(self) -> None:
        """Return once the store answers; etcd started beside this server may not be listening yet."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.store_wait
        while True:
            try:
                await self._store_check()
                return
            except Unavailable:
                if loop.time() >= deadline:
                    raise
            await asyncio.sleep(0.02)

    async def _store_check(self) -> None:
        assert self._kv is not None
        await self._kv.range(b"/registry/health")

    async def _get_namespace(self, name: str) -> dict[str, Any] | None:
        info = self.resources.get("", "v1", "namespaces")
        assert info is not None
        try:
            return await self.registry_for(info).get("", name)
        except errors.StatusError as e:
            if e.code == 404:
                return None
            raise

    # -- resources -----------------------------------------------------------------------

    def registry_for(self, info: ResourceInfo, subresource: str = "") -> Registry:
        """The registry serving ``info`` (or one of its subresources), made on first use."""
        key = (info.group, info.version, info.plural, subresource)
        registry = self._registries.get(key)
        if registry is None:
            registry = self._build_registry(info, subresource)
            self._registries[key] = registry
        return registry

    def _build_registry(self, info: ResourceInfo, subresource: str) -> Any:
        # Pods, events and scale import their rules here, when first served, not at start.
        from kubelab.apiserver.pods import BindingREST, EvictionREST, PodStore
        from kubelab.apiserver.resources import events
        from kubelab.apiserver.scale import ScaleREST

        gr = (info.group, info.plural)
        crd = self.crds.crd_for(info) if info.crd else None
        if not subresource:
            factory = self._factories.get(info.group_resource)
            if factory is not None:
                return factory(info, self.storage)
            strategy = strategy_for(info, crd)
            if gr == ("", "pods"):
                return PodStore(info, self.storage, strategy)
            if gr == ("", "services"):
                return ServiceStore(info, self.storage, strategy, service_cidr=self.config.service_cidr)
            if gr == ("", "namespaces"):
                return NamespaceStore(info, self.storage, strategy, name_fn=validation.name_is_dns_label)
            if gr == ("apiextensions.k8s.io", "customresourcedefinitions"):
                return CRDStore(info, self.storage, strategy, crds=self.crds)
            if gr == ("events.k8s.io", "events"):
                return Store(info, ConvertingStorage(self.storage, events.to_core, events.from_core), strategy)
            return Store(info, self.storage, strategy)
        if subresource == "status":
            return Store(info, self.storage, status_strategy_for(info, crd), subresource="status")
        if subresource == "scale":
            return ScaleREST(self.registry_for(info), _scale_paths(crd, info.version) if crd else None)
        if subresource == "binding":
            return BindingREST(info, self.storage)
        if subresource == "eviction":
            return EvictionREST(info, self.registry_for(info))
        if subresource == "finalize":
            return Store(info, self.storage, finalize_strategy_for(info), subresource="finalize")
        raise errors.method_not_supported(errors.GroupResource(info.group, info.plural), subresource)

    def _resources_changed(self) -> None:
        """Custom resources came or went: forget their registries, whose strategies hold the old CRD."""
        self._registries = {k: r for k, r in self._registries.items() if not r.info.crd}

    def allow_create_on_update(self, info: ResourceInfo) -> bool:
        """Whether a PUT to a missing object creates it (``AllowCreateOnUpdate``)."""
        return (info.group, info.plural) in _CREATE_ON_UPDATE

    def version_info(self) -> dict[str, str]:
        major, minor, git = KUBERNETES_VERSION
        return {
            "major": major,
            "minor": minor,
            "gitVersion": git,
            "gitCommit": "kubelab",
            "gitTreeState": "clean",
            "buildDate": "2025-04-23T00:00:00Z",
            "goVersion": f"python{platform.python_version()}",
            "compiler": "cpython",
            "platform": f"{sys.platform}/{platform.machine()}",
        }


_CREATE_ON_UPDATE = frozenset({
    ("", "endpoints"), ("", "events"), ("events.k8s.io", "events"), ("coordination.k8s.io", "leases"),
})


def _scale_paths(crd: dict[str, Any], version: str) -> dict[str, Any] | None:
    """The ``subresources.scale`` of one version of a CRD: where its replicas and selector live."""
    for served in (crd.get("spec") or {}).get("versions") or []:
        if served.get("name") == version:
            return (served.get("subresources") or {}).get("scale")
    return None


def _open_kv(config: APIServerConfig) -> KV:
    if config.store == "memory":
        from kubelab.store.memory import MemoryKV

        return MemoryKV()
    if config.store == "etcd":
        if not config.etcd_servers:
            raise ValueError("--store etcd needs --etcd-servers (e.g. http://127.0.0.1:2379)")
        from kubelab.store.etcd import EtcdKV

        return EtcdKV(config.etcd_servers.split(",")[0])
    raise ValueError(f"unknown store {config.store!r}: use 'memory' or 'etcd'")


def _ssl_context(cluster_dir: ClusterDir) -> ssl.SSLContext:
    # Not create_default_context(): it loads the system's CAs to verify client certificates,
    # which this server never asks for (clients send a bearer token), and that costs its start 30 ms.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cluster_dir.server_cert), str(cluster_dir.server_key))
    return context


def main(argv: list[str]) -> int:
    """``python -m kubelab apiserver``: serve until SIGTERM, or until the parent process dies."""
    import signal

    from kubelab.process import report_ready, watch_parent

    parser = argparse.ArgumentParser(prog="kubelab apiserver", description="Run the API server.")
    parser.add_argument("--cluster-dir", required=True, type=Path, help="the cluster's directory (PKI, token)")
    parser.add_argument("--store", choices=("memory", "etcd"), default="memory")
    parser.add_argument("--etcd-servers", default="", help="etcd client URL(s), comma-separated")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--service-cidr", default=str(AddressPlan().service_network),
                        help="where Services' ClusterIPs come from (default %(default)s)")
    args = parser.parse_args(argv)
    watch_parent()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = APIServerConfig(
        cluster_dir=ClusterDir(args.cluster_dir), store=args.store, etcd_servers=args.etcd_servers, port=args.port,
        service_cidr=args.service_cidr,
    )
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    server = APIServer(config).start()
    report_ready(port=server.port, url=server.url)
    stopping.wait()
    server.stop()
    return 0
