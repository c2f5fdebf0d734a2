"""The cluster's address plan, all on loopback.

Linux routes the whole of 127.0.0.0/8 to the loopback interface, so every node, pod and
Service can have an address of its own without root. The Service and node ranges
echo kind's (10.96.0.0/12 Services, 172.18.0.0/16 nodes) so that what learners see here looks
like what they will see on a real cluster.

Several clusters may run on one machine at once (``kubelab up`` beside a lab's own
cluster, tests in parallel), and loopback is shared, so each running cluster holds a
*slot*; its addresses are derived from it (:class:`AddressPlan`). Slot 0 has exactly the
kind-like addresses (Services in 127.96.0.0/16, DNS at 127.96.0.10); slot 1 uses
127.97.0.0/16 and so on. A named cluster keeps its slot across restarts, since its stored
Services hold addresses from it; throw-away clusters take the highest free slot.

Ports below 1024 need privileges an ordinary user lacks (``nginx`` listens on 80). Where
they cannot be bound, a workload's port ``p`` is actually served on ``p + PRIVILEGED_PORT_OFFSET``
(80 → 10080), everywhere the same: the kubelet says so in the pod's events, kube-proxy and
the ingress controller connect there, and ``kubelab`` prints how to lift the restriction
(``sudo sysctl net.ipv4.ip_unprivileged_port_start=0``).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import ipaddress
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import IO

MAX_SLOTS = 32
CLUSTER_DOMAIN = "cluster.local"
NODE_PORT_RANGE = (30000, 32767)
PRIVILEGED_PORT_OFFSET = 10000
UNPRIVILEGED_HINT = "sudo sysctl net.ipv4.ip_unprivileged_port_start=0"
SLOT_DIR = Path(os.environ.get("KUBELAB_SLOT_DIR", "/tmp/kubelab-slots"))
PLAN_FILE = "network.json"


class SlotsExhausted(RuntimeError):
    """Every address slot on this machine is held by a running cluster."""


@dataclass(frozen=True)
class AddressPlan:
    """The addresses of the cluster that holds ``slot``."""

    slot: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.slot < MAX_SLOTS:
            raise ValueError(f"address slot {self.slot} is out of range 0..{MAX_SLOTS - 1}")

    @property
    def service_network(self) -> ipaddress.IPv4Network:
        """Where ClusterIPs come from: 127.96.0.0/16 in slot 0."""
        return ipaddress.IPv4Network(f"127.{96 + self.slot}.0.0/16")

    @property
    def kubernetes_service_ip(self) -> str:
        """The ``kubernetes`` Service's ClusterIP: the first address of the Service network."""
        return str(self.service_network.network_address + 1)

    @property
    def cluster_dns_ip(self) -> str:
        """The cluster DNS Service's ClusterIP: 127.96.0.10 in slot 0."""
        return str(self.service_network.network_address + 10)

    @property
    def load_balancer_network(self) -> ipaddress.IPv4Network:
        """Where LoadBalancer Services' external IPs come from: 127.240.0.0/24 in slot 0."""
        return ipaddress.IPv4Network(f"127.240.{self.slot}.0/24")

    @property
    def node_network(self) -> ipaddress.IPv4Network:
        """Every node address of the cluster: 127.18.0.0/24 in slot 0."""
        return ipaddress.IPv4Network(f"127.18.{self.slot}.0/24")

    @property
    def pod_network(self) -> ipaddress.IPv4Network:
        """Every pod address of the cluster (kube-proxy's ``--cluster-cidr``): 127.224.0.0/16 in slot 0."""
        return ipaddress.IPv4Network(f"127.{224 + self.slot}.0.0/16")

    @property
    def dns_server_ip(self) -> str:
        """Where the DNS server itself listens, behind the cluster DNS Service: 127.224.0.10 in slot 0.

        Add-ons that are pods on a real cluster (CoreDNS, the ingress controller) get addresses
        of the pod network that no node's pod CIDR holds (127.224.0.0/24 in slot 0).
        """
        return str(self.pod_network.network_address + 10)

    @property
    def ingress_controller_ip(self) -> str:
        """Where the ingress controller listens (ports 80 and 443): 127.224.0.11 in slot 0."""
        return str(self.pod_network.network_address + 11)

    def node_ip(self, index: int) -> str:
        """The InternalIP of the ``index``-th node (0-based): 127.18.0.2, 127.18.0.3, ... in slot 0."""
        if not 0 <= index < 253:
            raise ValueError(f"node index {index} is out of range 0..252")
        return f"127.18.{self.slot}.{index + 2}"

    def pod_cidr(self, index: int) -> str:
        """The pod CIDR of the ``index``-th node: 127.224.1.0/24, 127.224.2.0/24, ... in slot 0."""
        if not 0 <= index < 255:
            raise ValueError(f"node index {index} is out of range 0..254")
        return f"127.{224 + self.slot}.{index + 1}.0/24"

    def save(self, cluster_root: Path) -> None:
        (cluster_root / PLAN_FILE).write_text(json.dumps({"slot": self.slot}))

    @classmethod
    def load(cls, cluster_root: Path) -> AddressPlan:
        """The plan a cluster recorded in its directory (slot 0 if it never recorded one)."""
        try:
            return cls(int(json.loads((cluster_root / PLAN_FILE).read_text())["slot"]))
        except (OSError, ValueError, KeyError):
            return cls(0)


def _slot_argument(value: str) -> AddressPlan:
    try:
        return AddressPlan(int(value))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e) if "out of range" in str(e) else f"not a slot number: {value!r}") from e


def add_address_slot_argument(parser: argparse.ArgumentParser, what: str = "") -> None:
    """Give a component's command line ``--address-slot N``; ``args.addresses`` is then that slot's plan."""
    parser.add_argument("--address-slot", dest="addresses", type=_slot_argument, default="0", metavar="N",
                        help=f"the cluster's address slot{what} ('kubelab status' shows it; default: %(default)s)")


class SlotLease:
    """A held address slot: an exclusive lock that the kernel drops when this process dies."""

    def __init__(self, slot: int, handle: IO[str]) -> None:
        self.slot = slot
        self._handle: IO[str] | None = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _try_lock(slot: int) -> SlotLease | None:
    SLOT_DIR.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(PermissionError):
        SLOT_DIR.chmod(0o1777)
    # Read-only is enough for flock, and lets every user lock a file another user created.
    fd = os.open(SLOT_DIR / f"slot-{slot}.lock", os.O_RDONLY | os.O_CREAT, 0o644)
    handle = os.fdopen(fd)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return SlotLease(slot, handle)


def acquire_slot(preferred: int | None = None, *, from_top: bool = False) -> SlotLease:
    """Hold an address slot: ``preferred`` or nothing, else the lowest (or highest) free one."""
    if preferred is not None:
        lease = _try_lock(preferred)
        if lease is None:
            plan = AddressPlan(preferred)
            raise SlotsExhausted(
                f"this cluster's addresses (Services {plan.service_network}, nodes 127.18.{preferred}.0/24) "
                "are in use by another running cluster on this machine: stop that one first ('kubelab status')"
            )
        return lease
    order = range(MAX_SLOTS - 1, -1, -1) if from_top else range(MAX_SLOTS)
    for slot in order:
        lease = _try_lock(slot)
        if lease is not None:
            return lease
    raise SlotsExhausted(
        f"{MAX_SLOTS} kubelab clusters already run on this machine; stop one ('kubelab status', 'kubelab down')"
    )


@functools.cache
def can_bind_privileged() -> bool:
    """Whether this process may listen on ports below 1024."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", 1023))
        except PermissionError:
            return False
        except OSError:
            return True
    return True


def host_port(port: int) -> int:
    """The port actually listened on for a workload's ``port`` (see the module docstring)."""
    if port >= 1024 or can_bind_privileged():
        return port
    return port + PRIVILEGED_PORT_OFFSET
