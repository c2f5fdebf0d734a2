"""The container runtime interface (CRI) the kubelet drives, in miniature.

The shapes and names follow the CRI's ``runtime/v1`` API (``k8s.io/cri-api``):
``RunPodSandbox`` is :meth:`RuntimeService.run_pod_sandbox`, ``ContainerStatus`` is
:meth:`RuntimeService.container_status`, and so on, so each call maps to its upstream
counterpart. The kubelet never starts a process itself: it asks a runtime, as the real one
asks containerd. :class:`~kubelab.kubelet.process_runtime.ProcessRuntime` is the runtime that
runs containers as processes; :class:`~kubelab.kubelet.cri_socket.RemoteRuntime` reaches one
that runs as the node's own daemon.

Times are nanoseconds since the epoch, as in the CRI.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol


class ContainerState(enum.StrEnum):
    """Where a container is in its life."""

    CREATED = "CONTAINER_CREATED"
    RUNNING = "CONTAINER_RUNNING"
    EXITED = "CONTAINER_EXITED"
    UNKNOWN = "CONTAINER_UNKNOWN"


class PodSandboxState(enum.StrEnum):
    """Whether a pod sandbox (its network identity) is up."""

    READY = "SANDBOX_READY"
    NOTREADY = "SANDBOX_NOTREADY"


class RuntimeServiceError(Exception):
    """A runtime call failed; ``code`` is a gRPC status code name (``NotFound``, ``Unknown``...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        # How a gRPC error prints, so kubelet events read like a real node's.
        return f"rpc error: code = {self.code} desc = {self.message}"


def not_found(message: str) -> RuntimeServiceError:
    return RuntimeServiceError("NotFound", message)


@dataclass
class PodSandboxMetadata:
    name: str
    uid: str
    namespace: str
    attempt: int = 0


@dataclass
class DNSConfig:
    """CRI's DNSConfig: what the sandbox's ``resolv.conf`` says."""

    servers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)


@dataclass
class PodSandboxConfig:
    metadata: PodSandboxMetadata
    hostname: str = ""
    log_directory: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    dns_config: DNSConfig | None = None


@dataclass
class PodSandbox:
    id: str
    metadata: PodSandboxMetadata
    state: PodSandboxState
    created_at: int
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass
class PodSandboxStatus:
    id: str
    metadata: PodSandboxMetadata
    state: PodSandboxState
    created_at: int
    ip: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass
class PodSandboxFilter:
    id: str = ""
    state: PodSandboxState | None = None
    label_selector: dict[str, str] = field(default_factory=dict)


@dataclass
class ContainerMetadata:
    name: str
    attempt: int = 0


@dataclass
class ImageSpec:
    image: str


@dataclass
class KeyValue:
    key: str
    value: str


@dataclass
class Mount:
    """A host directory or file seen at ``container_path`` inside the container."""

    container_path: str
    host_path: str
    readonly: bool = False


@dataclass
class LinuxContainerResources:
    memory_limit_in_bytes: int = 0
    cpu_quota: int = 0
    cpu_period: int = 0


@dataclass
class LinuxContainerConfig:
    resources: LinuxContainerResources = field(default_factory=LinuxContainerResources)


@dataclass
class ContainerConfig:
    """What to run: ``command`` replaces the image's entrypoint, ``args`` its default arguments.

    ``log_path`` is relative to the sandbox's ``log_directory``.
    """

    metadata: ContainerMetadata
    image: ImageSpec
    command: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    working_dir: str = ""
    envs: list[KeyValue] = field(default_factory=list)
    mounts: list[Mount] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    log_path: str = ""
    stdin: bool = False
    tty: bool = False
    linux: LinuxContainerConfig = field(default_factory=LinuxContainerConfig)


@dataclass
class Container:
    id: str
    pod_sandbox_id: str
    metadata: ContainerMetadata
    image: ImageSpec
    image_ref: str
    state: ContainerState
    created_at: int
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass
class ContainerStatus:
    """A container's state; ``reason`` is ``Completed``, ``Error``, ``OOMKilled`` or ``StartError`` once exited."""

    id: str
    metadata: ContainerMetadata
    state: ContainerState
    created_at: int
    started_at: int
    finished_at: int
    exit_code: int
    image: ImageSpec
    image_ref: str
    reason: str = ""
    message: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    mounts: list[Mount] = field(default_factory=list)
    log_path: str = ""
    pid: int = 0


@dataclass
class ContainerFilter:
    id: str = ""
    state: ContainerState | None = None
    pod_sandbox_id: str = ""
    label_selector: dict[str, str] = field(default_factory=dict)


@dataclass
class ExecSyncResponse:
    stdout: str
    stderr: str
    exit_code: int


@dataclass
class Image:
    """An image present on the node: ``id`` is its digest, ``repo_digests`` its ``repo@sha256:...`` names."""

    id: str
    repo_tags: list[str]
    repo_digests: list[str]
    size: int


@dataclass
class RuntimeCondition:
    type: str
    status: bool
    reason: str = ""
    message: str = ""


@dataclass
class RuntimeStatus:
    conditions: list[RuntimeCondition]

    def condition(self, type: str) -> RuntimeCondition | None:
        return next((c for c in self.conditions if c.type == type), None)


@dataclass
class VersionResponse:
    version: str
    runtime_name: str
    runtime_version: str
    runtime_api_version: str


class RuntimeService(Protocol):
    """Pods and containers (CRI ``RuntimeService``)."""

    def version(self) -> VersionResponse: ...

    def status(self) -> RuntimeStatus: ...

    def update_runtime_config(self, pod_cidr: str) -> None: ...

    def run_pod_sandbox(self, config: PodSandboxConfig) -> str: ...

    def stop_pod_sandbox(self, pod_sandbox_id: str) -> None: ...

    def remove_pod_sandbox(self, pod_sandbox_id: str) -> None: ...

    def pod_sandbox_status(self, pod_sandbox_id: str) -> PodSandboxStatus: ...

    def list_pod_sandbox(self, filter: PodSandboxFilter | None = None) -> list[PodSandbox]: ...

    def create_container(
        self, pod_sandbox_id: str, config: ContainerConfig, sandbox_config: PodSandboxConfig
    ) -> str: ...

    def start_container(self, container_id: str) -> None: ...

    def stop_container(self, container_id: str, timeout: float) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; return once the container has exited."""
        ...

    def remove_container(self, container_id: str) -> None: ...

    def list_containers(self, filter: ContainerFilter | None = None) -> list[Container]: ...

    def container_status(self, container_id: str) -> ContainerStatus: ...

    def exec_sync(self, container_id: str, cmd: list[str], timeout: float) -> ExecSyncResponse: ...

    def exec(
        self, container_id: str, cmd: list[str], *, tty: bool,
        stdin: int | None, stdout: int | None, stderr: int | None,
    ) -> int:
        """Run ``cmd`` in the container on the given file descriptors; return its exit code when it ends."""
        ...

    def reopen_container_log(self, container_id: str) -> None: ...


class ImageService(Protocol):
    """Images on the node (CRI ``ImageService``)."""

    def list_images(self) -> list[Image]: ...

    def image_status(self, image: str) -> Image | None: ...

    def pull_image(self, image: str) -> str:
        """Pull ``image`` and return its reference (the digest the runtime knows it by)."""
        ...

    def remove_image(self, image: str) -> None: ...


class Runtime(RuntimeService, ImageService, Protocol):
    """Both halves, as one runtime endpoint serves them."""
