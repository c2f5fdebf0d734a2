"""Containers as processes: the runtime behind every kubelab node.

Each container is a process (in a session and process group of its own) started from a
catalogue image (:mod:`kubelab.images`). What a real runtime gets from namespaces and
cgroups is done by hand here:

- **filesystem**: a container has a root directory, ``pods/<uid>/containers/<id>/``, holding
  its image's files, its own ``/tmp`` and a symlink for each volume mount. Its programs find
  files through ``$KUBELAB_ROOT``; in the command line, arguments that name a path inside a
  mount, the image's files or ``/tmp`` are rewritten to the host path, so
  ``cat /etc/config/key`` reads the mounted ConfigMap. Everything else is the host's.
- **network**: each pod gets its own address from the node's pod CIDR (all of 127/8 is
  loopback), passed as ``$KUBELAB_POD_IP``; ports below 1024 move by
  :data:`~kubelab.network.PRIVILEGED_PORT_OFFSET` when this user may not bind them.
- **logs**: stdout and stderr are pipes the runtime reads, writing each line to the
  container's log file in the CRI format (``<RFC3339Nano> stdout F <line>``).
- **memory limit**: the resident memory of the container's session is watched; over the
  limit the whole group is SIGKILLed and the container exits ``OOMKilled`` with code 137.
- **PID 1 semantics**: SIGTERM goes to the container's main process only; when that
  process exits, whatever it left behind is killed, as when a PID namespace ends.
- **no orphans**: a :mod:`~kubelab.kubelet.reaper` kills every container if the runtime dies.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, NoReturn

from kubelab import __version__, images
from kubelab.kubelet import logs, reaper
from kubelab.kubelet.image_store import ImageStore
from kubelab.kubelet.runtime import (
    Container,
    ContainerConfig,
    ContainerFilter,
    ContainerState,
    ContainerStatus,
    ExecSyncResponse,
    Image,
    PodSandbox,
    PodSandboxConfig,
    PodSandboxFilter,
    PodSandboxState,
    PodSandboxStatus,
    RuntimeCondition,
    RuntimeServiceError,
    RuntimeStatus,
    VersionResponse,
    not_found,
)
from kubelab.kubelet.shim import EventLoop, ExitWatcher, Reaper
from kubelab.network import PRIVILEGED_PORT_OFFSET, can_bind_privileged

RESOLVER = Path(__file__).resolve().parent.parent / "dns" / "resolver.py"

RUNTIME_NAME = "kubelab"
RUNTIME_API_VERSION = "v1"
MEMORY_CHECK_INTERVAL = 0.1
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _now() -> int:
    return time.time_ns()


def _exit_code(returncode: int) -> int:
    """A process's exit status as a container reports it: 128+N for death by signal N."""
    return 128 - returncode if returncode < 0 else returncode


def _matches(labels: dict[str, str], selector: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


class _PodNetwork:
    """Host-local IPAM: hands out the addresses of the node's pod CIDR in turn (.1 is the gateway)."""

    def __init__(self) -> None:
        self.cidr = ""
        self._hosts: list[str] = []
        self._used: set[str] = set()
        self._next = 0

    def configure(self, cidr: str) -> None:
        network = ipaddress.ip_network(cidr)
        self.cidr = cidr
        self._hosts = [str(ip) for ip in network.hosts()][1:]

    def allocate(self) -> str:
        for i in range(len(self._hosts)):
            ip = self._hosts[(self._next + i) % len(self._hosts)]
            if ip not in self._used:
                self._used.add(ip)
                self._next = (self._next + i + 1) % len(self._hosts)
                return ip
        raise RuntimeServiceError(
            "Unknown",
            f"failed to setup network for sandbox: failed to allocate for range 0: "
            f"no IP addresses available in range set: {self.cidr}",
        )

    def release(self, ip: str) -> None:
        self._used.discard(ip)


class _PathMap:
    """Container paths → host paths, and the rewriting of command lines that name them."""

    def __init__(self, mapping: dict[str, str]) -> None:
        normalized = {k.rstrip("/"): v for k, v in mapping.items() if k.rstrip("/")}
        self.mapping = dict(sorted(normalized.items(), key=lambda kv: -len(kv[0])))
        self._pattern: re.Pattern[str] | None = None
        if self.mapping:
            alternatives = "|".join(re.escape(p) for p in self.mapping)
            # A mapped path counts only as a whole path, not inside another path or word.
            self._pattern = re.compile(rf"(?<![\w.~+/-])({alternatives})(?![\w.~+-])")

    def host_path(self, path: str) -> str:
        for container_path, host in self.mapping.items():
            if path == container_path or path.startswith(container_path + "/"):
                return host + path[len(container_path):]
        return path

    def rewrite(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self.mapping[m.group(1)], text)


@dataclass
class _Sandbox:
    id: str
    config: PodSandboxConfig
    created_at: int
    ip: str
    state: PodSandboxState = PodSandboxState.READY


@dataclass
class _Container:
    id: str
    sandbox_id: str
    config: ContainerConfig
    image: images.ResolvedImage
    created_at: int
    root: Path
    paths: _PathMap
    argv: list[str]
    env: dict[str, str]
    cwd: str
    log_path: str
    state: ContainerState = ContainerState.CREATED
    started_at: int = 0
    finished_at: int = 0
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    process: subprocess.Popen[bytes] | None = None
    oom_killed: bool = False
    exited: threading.Event = field(default_factory=threading.Event)
    execs: set[subprocess.Popen[bytes]] = field(default_factory=set)
    log: logs.LogWriter | None = None


class ProcessRuntime:
    """A CRI runtime (:class:`~kubelab.kubelet.runtime.Runtime`) whose containers are processes.

    ``node_dir`` is the node's directory (``ClusterDir.node(name)``): pods live in
    ``pods/<uid>/``, pulled images in ``images/``. Call :meth:`start` before use and
    :meth:`shutdown` to stop every container.
    """

    def __init__(self, node_dir: Path, *, pod_cidr: str = "", python: str = sys.executable) -> None:
        self.node_dir = Path(node_dir)
        self.python = python
        self._lock = threading.RLock()
        self._sandboxes: dict[str, _Sandbox] = {}
        self._containers: dict[str, _Container] = {}
        self._network = _PodNetwork()
        if pod_cidr:
            self._network.configure(pod_cidr)
        self.images = ImageStore(self.node_dir / "images", python)
        self.token = secrets.token_hex(16)
        self._reaper = Reaper(self.token)
        self._loop: EventLoop | None = None
        self._exits: ExitWatcher | None = None
        self._stopping = threading.Event()
        self._monitor: threading.Thread | None = None
        self.port_offset = 0 if can_bind_privileged() else PRIVILEGED_PORT_OFFSET

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> ProcessRuntime:
        (self.node_dir / "pods").mkdir(parents=True, exist_ok=True)
        self._reaper.start()
        self._loop = EventLoop()
        self._exits = ExitWatcher(self._loop)
        self._monitor = threading.Thread(target=self._watch_memory, name="runtime-memory", daemon=True)
        self._monitor.start()
        return self

    def shutdown(self, grace: float = 2.0) -> None:
        """Stop every container (SIGTERM, then SIGKILL after ``grace`` seconds) and the runtime's threads."""
        with self._lock:
            running = [c for c in self._containers.values() if c.state == ContainerState.RUNNING]
        threads = [threading.Thread(target=self.stop_container, args=(c.id, grace)) for c in running]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self._stopping.set()
        if self._monitor:
            self._monitor.join(timeout=5)
        if self._loop:
            self._loop.stop()
        self._reaper.stop()

    # -- version and status -------------------------------------------------------------

    def version(self) -> VersionResponse:
        return VersionResponse("0.1.0", RUNTIME_NAME, __version__, RUNTIME_API_VERSION)

    def status(self) -> RuntimeStatus:
        network = RuntimeCondition("NetworkReady", True)
        if not self._network.cidr:
            network = RuntimeCondition(
                "NetworkReady", False, "NetworkPluginNotReady",
                "Network plugin returns error: cni plugin not initialized",
            )
        return RuntimeStatus([RuntimeCondition("RuntimeReady", True), network])

    def update_runtime_config(self, pod_cidr: str) -> None:
        with self._lock:
            if pod_cidr and pod_cidr != self._network.cidr:
                self._network.configure(pod_cidr)

    # -- sandboxes ------------------------------------------------------------------------

    def run_pod_sandbox(self, config: PodSandboxConfig) -> str:
        with self._lock:
            if not self._network.cidr:
                raise RuntimeServiceError(
                    "Unknown", "failed to setup network for sandbox: cni plugin not initialized"
                )
            sandbox = _Sandbox(secrets.token_hex(32), config, _now(), self._network.allocate())
            self._sandboxes[sandbox.id] = sandbox
        pod_dir = self._pod_dir(config)
        pod_dir.mkdir(parents=True, exist_ok=True)
        if config.dns_config is not None:
            dns = config.dns_config
            lines = [f"search {' '.join(dns.searches)}"] if dns.searches else []
            lines += [f"nameserver {server}" for server in dns.servers]
            lines += [f"options {' '.join(dns.options)}"] if dns.options else []
            (pod_dir / "resolv.conf").write_text("\n".join(lines) + "\n")
        return sandbox.id

    def stop_pod_sandbox(self, pod_sandbox_id: str) -> None:
        sandbox = self._sandbox(pod_sandbox_id)
        with self._lock:
            running = [c.id for c in self._containers.values()
                       if c.sandbox_id == pod_sandbox_id and c.state == ContainerState.RUNNING]
        for container_id in running:
            self.stop_container(container_id, 0)
        with self._lock:
            if sandbox.state == PodSandboxState.READY:
                sandbox.state = PodSandboxState.NOTREADY
                self._network.release(sandbox.ip)

    def remove_pod_sandbox(self, pod_sandbox_id: str) -> None:
        with self._lock:
            if pod_sandbox_id not in self._sandboxes:
                return
        self.stop_pod_sandbox(pod_sandbox_id)
        with self._lock:
            ids = [c.id for c in self._containers.values() if c.sandbox_id == pod_sandbox_id]
        for container_id in ids:
            self.remove_container(container_id)
        with self._lock:
            self._sandboxes.pop(pod_sandbox_id, None)

    def pod_sandbox_status(self, pod_sandbox_id: str) -> PodSandboxStatus:
        s = self._sandbox(pod_sandbox_id)
        ip = s.ip if s.state == PodSandboxState.READY else ""
        return PodSandboxStatus(s.id, s.config.metadata, s.state, s.created_at, ip,
                                dict(s.config.labels), dict(s.config.annotations))

    def list_pod_sandbox(self, filter: PodSandboxFilter | None = None) -> list[PodSandbox]:
        f = filter or PodSandboxFilter()
        with self._lock:
            sandboxes = list(self._sandboxes.values())
        return [
            PodSandbox(s.id, s.config.metadata, s.state, s.created_at, dict(s.config.labels),
                       dict(s.config.annotations))
            for s in sandboxes
            if (not f.id or s.id == f.id) and (f.state is None or s.state == f.state)
            and _matches(s.config.labels, f.label_selector)
        ]

    def _sandbox(self, pod_sandbox_id: str) -> _Sandbox:
        with self._lock:
            sandbox = self._sandboxes.get(pod_sandbox_id)
        if sandbox is None:
            raise not_found(f'an error occurred when try to find sandbox "{pod_sandbox_id}": not found')
        return sandbox

    def _pod_dir(self, config: PodSandboxConfig) -> Path:
        return self.node_dir / "pods" / config.metadata.uid

    # -- containers -----------------------------------------------------------------------

    def create_container(
        self, pod_sandbox_id: str, config: ContainerConfig, sandbox_config: PodSandboxConfig
    ) -> str:
        sandbox = self._sandbox(pod_sandbox_id)
        if sandbox.state != PodSandboxState.READY:
            raise RuntimeServiceError("Unknown", f'sandbox container "{pod_sandbox_id}" is not running')
        image = self.images.present(config.image.image)
        if image is None:
            raise RuntimeServiceError(
                "NotFound", f'failed to create containerd container: get image "{config.image.image}": not found'
            )
        container_id = secrets.token_hex(32)
        root = self._pod_dir(sandbox.config) / "containers" / container_id[:12]
        argv = list(config.command) + list(config.args) if config.command else (
            list(image.config.entrypoint) + (list(config.args) if config.args else list(image.config.cmd))
        )
        if not argv:
            raise RuntimeServiceError("InvalidArgument", "no command specified")
        paths, cwd = self._make_root(root, image, config)
        env = self._environment(sandbox, image, config, root, paths)
        log_path = ""
        if sandbox.config.log_directory and config.log_path:
            log_path = str(Path(sandbox.config.log_directory) / config.log_path)
        container = _Container(
            container_id, pod_sandbox_id, config, image, _now(), root, paths,
            [paths.rewrite(a) for a in argv], env, cwd, log_path,
        )
        with self._lock:
            self._containers[container_id] = container
        return container_id

    def _make_root(self, root: Path, image: images.ResolvedImage, config: ContainerConfig) -> tuple[_PathMap, str]:
        """Lay out the container's root directory; return its path map and working directory."""
        root.mkdir(parents=True, exist_ok=True)
        (root / "tmp").mkdir(exist_ok=True)
        mapping: dict[str, str] = {"/tmp": str(root / "tmp")}
        for container_path, content in image.config.files.items():
            host = root / container_path.lstrip("/")
            host.parent.mkdir(parents=True, exist_ok=True)
            host.write_text(content)
            mapping[str(Path(container_path).parent)] = str(host.parent)
        for mount in config.mounts:
            link = root / mount.container_path.strip("/")
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.is_file():
                link.unlink()
            elif link.is_dir():
                shutil.rmtree(link)
            link.symlink_to(mount.host_path)
            mapping[mount.container_path] = mount.host_path
        working_dir = config.working_dir or image.config.working_dir or "/"
        if working_dir.rstrip("/") and _PathMap(mapping).host_path(working_dir) == working_dir:
            (root / working_dir.lstrip("/")).mkdir(parents=True, exist_ok=True)
            mapping[working_dir] = str(root / working_dir.strip("/"))
        paths = _PathMap(mapping)
        return paths, paths.host_path(working_dir) if working_dir.rstrip("/") else str(root)

    def _environment(self, sandbox: _Sandbox, image: images.ResolvedImage, config: ContainerConfig, root: Path,
                     paths: _PathMap) -> dict[str, str]:
        bin_dir = self.images.bin_dir(image)
        env = dict(image.config.env)
        env.update({kv.key: kv.value for kv in config.envs})
        env["PATH"] = f"{bin_dir}:{env.get('PATH') or images.STANDARD_PATH}"
        env.setdefault("HOSTNAME", sandbox.config.hostname or sandbox.config.metadata.name)
        env.setdefault("HOME", str(root / "root"))
        env["TMPDIR"] = paths.host_path("/tmp")
        if image.config.host_python:
            env["PYTHONPATH"] = str(images.PYTHON_SITE)
        env["KUBELAB_POD_IP"] = sandbox.ip
        env["KUBELAB_ROOT"] = str(root)
        env["KUBELAB_PORT_OFFSET"] = str(self.port_offset)
        if sandbox.config.dns_config is not None:
            # The images' Python resolves names through the pod's resolv.conf with this module.
            env["KUBELAB_RESOLV_CONF"] = str(self._pod_dir(sandbox.config) / "resolv.conf")
            env["KUBELAB_RESOLVER"] = str(RESOLVER)
        env[reaper.MARKER] = self.token
        return env

    def start_container(self, container_id: str) -> None:
        c = self._container(container_id)
        if c.state != ContainerState.CREATED:
            raise RuntimeServiceError(
                "Unknown", f'failed to start containerd task "{container_id}": cannot start a container in state '
                f"{c.state.value}"
            )
        executable = shutil.which(c.argv[0], path=c.env["PATH"]) if "/" not in c.argv[0] else c.argv[0]
        if executable is None or not os.access(executable, os.X_OK):
            detail = (f'exec: "{c.argv[0]}": executable file not found in $PATH' if executable is None
                      else f'exec: "{c.argv[0]}": permission denied')
            self._start_failed(c, detail)
        log = logs.LogWriter(c.log_path) if c.log_path else None
        try:
            process = subprocess.Popen(
                c.argv, executable=executable, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=c.env, cwd=c.cwd, start_new_session=True,
            )
        except OSError as e:
            if log:
                log.close()
            self._start_failed(c, f'exec: "{c.argv[0]}": {e.strerror.lower() if e.strerror else e}')
        self._reaper.add(process.pid)
        with self._lock:
            c.process, c.log = process, log
            c.state, c.started_at = ContainerState.RUNNING, _now()
        assert self._loop is not None and self._exits is not None
        for stream, pipe in (("stdout", process.stdout), ("stderr", process.stderr)):
            assert pipe is not None
            os.set_blocking(pipe.fileno(), False)
            self._loop.watch(pipe.fileno(), self._pump(c, stream, pipe))
        self._exits.watch(process, lambda: self._on_exit(c))

    def _start_failed(self, c: _Container, detail: str) -> NoReturn:
        message = (
            "failed to create containerd task: failed to create shim task: OCI runtime create failed: "
            f"runc create failed: unable to start container process: {detail}: unknown"
        )
        with self._lock:
            now = _now()
            c.state, c.started_at, c.finished_at = ContainerState.EXITED, now, now
            c.exit_code, c.reason, c.message = 128, "StartError", message
            c.exited.set()
        raise RuntimeServiceError("Unknown", message)

    def _pump(self, c: _Container, stream: str, pipe: IO[bytes]) -> Callable[[], None]:
        fd = pipe.fileno()

        def readable() -> None:
            if pipe.closed:
                return
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if data:
                if c.log:
                    c.log.write(stream, data)
                return
            assert self._loop is not None
            self._loop.unwatch(fd)
            pipe.close()
            if c.log:
                c.log.end(stream)

        return readable

    def _on_exit(self, c: _Container) -> None:
        assert c.process is not None
        returncode = c.process.wait()
        # What the main process left behind dies with it, as in a PID namespace.
        with contextlib.suppress(OSError):
            os.killpg(c.process.pid, signal.SIGKILL)
        for proc in list(c.execs):
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
        self._reaper.discard(c.process.pid)
        for pipe, stream in ((c.process.stdout, "stdout"), (c.process.stderr, "stderr")):
            if pipe is not None and c.log:
                self._drain(pipe, stream, c.log)
        with self._lock:
            c.finished_at = _now()
            c.exit_code = _exit_code(returncode)
            if c.oom_killed:
                c.reason = "OOMKilled"
            else:
                c.reason = "Completed" if c.exit_code == 0 else "Error"
            c.state = ContainerState.EXITED
            if c.log:
                c.log.flush()
        c.exited.set()

    @staticmethod
    def _drain(pipe: IO[bytes], stream: str, log: logs.LogWriter) -> None:
        while not pipe.closed:
            try:
                data = os.read(pipe.fileno(), 65536)
            except OSError:
                return
            if not data:
                return
            log.write(stream, data)

    def stop_container(self, container_id: str, timeout: float) -> None:
        c = self._container(container_id)
        if c.state == ContainerState.CREATED:
            with self._lock:
                c.state, c.finished_at, c.exit_code, c.reason = ContainerState.EXITED, _now(), 0, "Completed"
                c.exited.set()
            return
        if c.state != ContainerState.RUNNING or c.process is None:
            return
        if timeout > 0:
            with contextlib.suppress(OSError):
                os.kill(c.process.pid, signal.SIGTERM)
            if c.exited.wait(timeout):
                return
        with contextlib.suppress(OSError):
            os.killpg(c.process.pid, signal.SIGKILL)
        c.exited.wait(10)

    def remove_container(self, container_id: str) -> None:
        with self._lock:
            c = self._containers.get(container_id)
        if c is None:
            return
        if c.state == ContainerState.RUNNING:
            self.stop_container(container_id, 0)
        with self._lock:
            self._containers.pop(container_id, None)
        if c.log:
            c.log.close()
        shutil.rmtree(c.root, ignore_errors=True)

    def list_containers(self, filter: ContainerFilter | None = None) -> list[Container]:
        f = filter or ContainerFilter()
        with self._lock:
            containers = list(self._containers.values())
        return [
            Container(c.id, c.sandbox_id, c.config.metadata, c.config.image, c.image.digest, c.state,
                      c.created_at, dict(c.config.labels), dict(c.config.annotations))
            for c in containers
            if (not f.id or c.id == f.id) and (f.state is None or c.state == f.state)
            and (not f.pod_sandbox_id or c.sandbox_id == f.pod_sandbox_id)
            and _matches(c.config.labels, f.label_selector)
        ]

    def container_status(self, container_id: str) -> ContainerStatus:
        c = self._container(container_id)
        with self._lock:
            return ContainerStatus(
                c.id, c.config.metadata, c.state, c.created_at, c.started_at, c.finished_at, c.exit_code,
                replace(c.config.image, image=c.image.name), c.image.repo_digest, c.reason, c.message,
                dict(c.config.labels), dict(c.config.annotations), list(c.config.mounts), c.log_path,
                c.process.pid if c.process and c.state == ContainerState.RUNNING else 0,
            )

    def _container(self, container_id: str) -> _Container:
        with self._lock:
            c = self._containers.get(container_id)
        if c is None:
            raise not_found(f'an error occurred when try to find container "{container_id}": not found')
        return c

    def reopen_container_log(self, container_id: str) -> None:
        c = self._container(container_id)
        if c.state != ContainerState.RUNNING:
            raise RuntimeServiceError("FailedPrecondition", "container is not running")
        if c.log:
            c.log.reopen()

    # -- exec -----------------------------------------------------------------------------

    def _exec_argv(self, c: _Container, cmd: list[str]) -> tuple[str, list[str]]:
        """The program to run for ``cmd`` and its arguments (``argv[0]`` as given, as a shell would)."""
        if c.state != ContainerState.RUNNING:
            raise RuntimeServiceError("FailedPrecondition", f'container "{c.id}" is not running')
        if not cmd:
            raise RuntimeServiceError("InvalidArgument", "command must not be empty")
        argv = [c.paths.rewrite(a) for a in cmd]
        executable = shutil.which(argv[0], path=c.env["PATH"]) if "/" not in argv[0] else argv[0]
        if executable is None or not os.path.exists(executable):
            raise RuntimeServiceError(
                "Unknown",
                f'failed to exec in container: failed to start exec "{secrets.token_hex(32)}": OCI runtime exec '
                f'failed: exec failed: unable to start container process: exec: "{cmd[0]}": executable file not '
                f"found in $PATH: unknown",
            )
        return executable, argv

    def exec(
        self, container_id: str, cmd: list[str], *, tty: bool,
        stdin: int | None, stdout: int | None, stderr: int | None,
    ) -> int:
        c = self._container(container_id)
        executable, argv = self._exec_argv(c, cmd)
        if tty:
            # The terminal becomes the controlling terminal of a new session (setsid + TIOCSCTTY).
            argv = [sys.executable, "-S", "-E", "-c",
                    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
                    "os.execv(sys.argv[1], sys.argv[2:])", executable, *argv]
            executable = sys.executable
        process = subprocess.Popen(
            argv, executable=executable, stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=stdout if stdout is not None else subprocess.DEVNULL,
            stderr=stderr if stderr is not None else subprocess.DEVNULL,
            env=c.env, cwd=c.cwd, start_new_session=True,
        )
        return self._wait_exec(c, process)

    def _wait_exec(self, c: _Container, process: subprocess.Popen[bytes], timeout: float | None = None) -> int:
        self._reaper.add(process.pid)
        with self._lock:
            c.execs.add(process)
        try:
            return _exit_code(process.wait(timeout=timeout))
        finally:
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)
            with self._lock:
                c.execs.discard(process)
            self._reaper.discard(process.pid)

    def exec_sync(self, container_id: str, cmd: list[str], timeout: float) -> ExecSyncResponse:
        c = self._container(container_id)
        executable, argv = self._exec_argv(c, cmd)
        process = subprocess.Popen(
            argv, executable=executable, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=c.env, cwd=c.cwd, start_new_session=True,
        )
        self._reaper.add(process.pid)
        with self._lock:
            c.execs.add(process)
        try:
            out, err = process.communicate(timeout=timeout if timeout > 0 else None)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise RuntimeServiceError("DeadlineExceeded", f"command {json.dumps(shlex.join(cmd))} timed out") from None
        finally:
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)
            with self._lock:
                c.execs.discard(process)
            self._reaper.discard(process.pid)
        return ExecSyncResponse(out.decode(errors="replace"), err.decode(errors="replace"),
                                _exit_code(process.returncode))

    # -- memory limits ----------------------------------------------------------------------

    def _watch_memory(self) -> None:
        while not self._stopping.wait(MEMORY_CHECK_INTERVAL):
            self._reaper.check()
            with self._lock:
                limited = {c.process.pid: c for c in self._containers.values()
                           if c.state == ContainerState.RUNNING and c.process
                           and c.config.linux.resources.memory_limit_in_bytes > 0}
            if not limited:
                continue
            for sid, rss in _resident_memory_by_session(set(limited)).items():
                c = limited[sid]
                if rss > c.config.linux.resources.memory_limit_in_bytes and not c.oom_killed:
                    c.oom_killed = True
                    with contextlib.suppress(OSError):
                        os.killpg(sid, signal.SIGKILL)

    def memory_usage(self, container_id: str) -> int:
        """Bytes resident in the container's processes now (0 when it is not running)."""
        c = self._container(container_id)
        if c.state != ContainerState.RUNNING or c.process is None:
            return 0
        return _resident_memory_by_session({c.process.pid}).get(c.process.pid, 0)

    # -- images ---------------------------------------------------------------------------

    def pull_image(self, image: str) -> str:
        return self.images.pull(image)

    def image_status(self, image: str) -> Image | None:
        return self.images.status(image)

    def list_images(self) -> list[Image]:
        return self.images.list()

    def remove_image(self, image: str) -> None:
        self.images.remove(image)


def _resident_memory_by_session(sessions: set[int]) -> dict[int, int]:
    """Resident bytes of all processes in each of ``sessions`` (by session id), from ``/proc``."""
    totals = dict.fromkeys(sessions, 0)
    try:
        entries = os.listdir("/proc")
    except OSError:
        return totals
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        session, rss = int(fields[3]), int(fields[21])
        if session in totals:
            totals[session] += rss * PAGE_SIZE
    return totals
