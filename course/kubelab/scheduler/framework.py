"""The scheduling framework's vocabulary: statuses, cycle state, extension points, the fit error.

Mirrors ``pkg/scheduler/framework/interface.go``, ``cycle_state.go`` and the ``FitError`` of
``types.go``. A plugin is a plain class with a ``name`` and one method per extension point
it takes part in; the profile finds out which by the methods it has, so one class may
filter *and* score (as ``NodeResourcesFit`` does).

Scheduling one pod runs, in order::

    PreFilter → Filter (per node) → PostFilter (only if no node fits)
    → PreScore → Score (per node) → NormalizeScore → Reserve → Bind

A filter or pre-filter returns ``None`` for "fits", or a :class:`Status` saying why not.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from kubelab.scheduler.nodeinfo import NodeInfo, PodInfo
    from kubelab.scheduler.queue import QueuedPodInfo

__all__ = [
    "MAX_NODE_SCORE",
    "MIN_NODE_SCORE",
    "BindPlugin",
    "ClusterEvent",
    "Code",
    "CycleState",
    "Diagnosis",
    "EnqueueExtensions",
    "FilterPlugin",
    "FitError",
    "NodeToStatus",
    "PostFilterPlugin",
    "PreEnqueuePlugin",
    "PreFilterPlugin",
    "PreFilterResult",
    "PreScorePlugin",
    "QueueSortPlugin",
    "ReservePlugin",
    "ScorePlugin",
    "Status",
]

MAX_NODE_SCORE = 100
"""The highest score a score plugin may give a node (after normalizing)."""
MIN_NODE_SCORE = 0


class Code(enum.IntEnum):
    """What a plugin's answer means (``framework.Code``)."""

    SUCCESS = 0
    ERROR = 1
    """Something went wrong inside the plugin; the pod is retried after a back-off."""
    UNSCHEDULABLE = 2
    """The pod does not fit, but preempting pods could make room."""
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3
    """The pod does not fit, and preemption would not help (a taint, a label...)."""
    WAIT = 4
    SKIP = 5
    """The plugin has nothing to do for this pod; its later extension points are skipped."""
    PENDING = 6


@dataclass(frozen=True, slots=True)
class Status:
    """A plugin's verdict: a code, the reasons shown to the user, and the plugin that gave it."""

    code: Code = Code.SUCCESS
    reasons: tuple[str, ...] = ()
    plugin: str = ""

    @classmethod
    def unschedulable(cls, *reasons: str) -> Status:
        return cls(Code.UNSCHEDULABLE, reasons)

    @classmethod
    def unresolvable(cls, *reasons: str) -> Status:
        """``UnschedulableAndUnresolvable``: rejected, and preemption would not help."""
        return cls(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, reasons)

    @classmethod
    def error(cls, message: str) -> Status:
        return cls(Code.ERROR, (message,))

    @property
    def message(self) -> str:
        return ", ".join(self.reasons)

    def is_success(self) -> bool:
        return self.code == Code.SUCCESS

    def is_rejected(self) -> bool:
        """Whether the pod was found not to fit (as opposed to an error)."""
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE, Code.PENDING)

    def with_plugin(self, plugin: str) -> Status:
        return Status(self.code, self.reasons, plugin)


SKIP = Status(Code.SKIP)


def is_success(status: Status | None) -> bool:
    """``None`` counts as success, as a nil ``*Status`` does upstream."""
    return status is None or status.code == Code.SUCCESS


class CycleState:
    """Data plugins share while one pod is scheduled (``framework.CycleState``).

    A plugin writes what its PreFilter or PreScore computed under its own key and reads
    it back in Filter or Score, so per-node work stays small. The state lives for one
    scheduling cycle only.
    """

    __slots__ = ("_data", "skip_filter_plugins", "skip_score_plugins")

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self.skip_filter_plugins: set[str] = set()
        self.skip_score_plugins: set[str] = set()

    def write(self, key: str, value: Any) -> None:
        self._data[key] = value

    def read(self, key: str) -> Any:
        """The value stored under ``key``; KeyError if no plugin wrote it this cycle."""
        try:
            return self._data[key]
        except KeyError:
            raise KeyError(f"{key!r} was not written to the cycle state (did its PreFilter/PreScore run?)") from None

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def clone(self) -> CycleState:
        """A copy whose values are cloned when they know how (a ``clone()`` method)."""
        copy = CycleState()
        copy._data = {k: v.clone() if hasattr(v, "clone") else v for k, v in self._data.items()}
        copy.skip_filter_plugins = set(self.skip_filter_plugins)
        copy.skip_score_plugins = set(self.skip_score_plugins)
        return copy


@dataclass(frozen=True)
class PreFilterResult:
    """A PreFilter's answer that only these nodes can fit (e.g. node affinity to one node name)."""

    node_names: frozenset[str]

    def merge(self, other: PreFilterResult | None) -> PreFilterResult:
        if other is None:
            return self
        return PreFilterResult(self.node_names & other.node_names)


@dataclass(frozen=True)
class ClusterEvent:
    """A change in the cluster that may make a rejected pod schedulable (``fwk.ClusterEvent``).

    ``resource`` is ``Node``, ``Pod`` (an assigned pod), ``Namespace``...; ``action`` is
    ``Add``, ``Delete``, ``Update`` or a narrower update such as ``UpdateNodeTaint``.
    A registered ``Update`` matches every narrower update; ``*`` matches anything.
    """

    resource: str
    action: str

    def matches(self, incoming: ClusterEvent) -> bool:
        """Whether ``incoming`` is this event or a more specific one."""
        if self.resource not in ("*", incoming.resource):
            return False
        return self.action in ("*", incoming.action) or (
            self.action == "Update" and incoming.action.startswith("Update")
        )


# Extension points. Each is one method; a plugin implements the ones it needs.


@runtime_checkable
class QueueSortPlugin(Protocol):
    name: str

    def less(self, a: QueuedPodInfo, b: QueuedPodInfo) -> bool:
        """Whether ``a`` should be scheduled before ``b``."""
        ...


@runtime_checkable
class PreEnqueuePlugin(Protocol):
    name: str

    def pre_enqueue(self, pod: dict[str, Any]) -> Status | None:
        """Whether the pod may enter the active queue at all (e.g. no scheduling gates)."""
        ...


@runtime_checkable
class PreFilterPlugin(Protocol):
    name: str

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
    ) -> PreFilterResult | Status | None:
        """Compute what Filter needs, once per pod. ``Status(SKIP)`` skips this plugin's Filter.

        Return a :class:`PreFilterResult` to restrict the nodes worth filtering, or a
        rejecting :class:`Status` when no node can fit.
        """
        ...


@runtime_checkable
class FilterPlugin(Protocol):
    name: str

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        """``None`` if the pod may run on the node; otherwise a Status with the reason."""
        ...


@runtime_checkable
class PostFilterPlugin(Protocol):
    name: str

    def post_filter(
        self, state: CycleState, pod: PodInfo, statuses: NodeToStatus
    ) -> tuple[str | None, Status]:
        """Called when no node fits: try to make room (preemption). Returns a nominated node and a status.

        The node is where the pod should go once room is made; ``""`` clears an earlier
        nomination; ``None`` leaves it as it is.
        """
        ...


@runtime_checkable
class PreScorePlugin(Protocol):
    name: str

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        """Compute what Score needs, once per pod. ``Status(SKIP)`` skips this plugin's Score."""
        ...


@runtime_checkable
class ScorePlugin(Protocol):
    name: str

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        """A score for the node; higher is better. 0–100 unless ``normalize_score`` rescales it."""
        ...


@runtime_checkable
class ScoreExtensions(Protocol):
    def normalize_score(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> None:
        """Rescale every node's score (``{node name: score}``, changed in place) into 0–100."""
        ...


@runtime_checkable
class ReservePlugin(Protocol):
    name: str

    def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        ...

    def unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        ...


@runtime_checkable
class BindPlugin(Protocol):
    name: str

    def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        """Tell the API server the pod runs on ``node_name``. ``Status(SKIP)`` leaves it to the next binder."""
        ...


@runtime_checkable
class EnqueueExtensions(Protocol):
    name: str

    def events_to_register(self) -> list[ClusterEvent]:
        """The cluster events that may make a pod this plugin rejected schedulable."""
        ...


# Diagnosis of a pod that fits nowhere.


class NodeToStatus:
    """Why each node was rejected; nodes never examined share ``absent`` (``framework.NodeToStatus``)."""

    __slots__ = ("absent", "statuses")

    def __init__(self, statuses: Mapping[str, Status] | None = None,
                 absent: Status = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE)) -> None:
        self.statuses: dict[str, Status] = dict(statuses or {})
        self.absent = absent

    def get(self, node_name: str) -> Status:
        return self.statuses.get(node_name, self.absent)

    def set(self, node_name: str, status: Status) -> None:
        self.statuses[node_name] = status

    def __len__(self) -> int:
        return len(self.statuses)


@dataclass
class Diagnosis:
    """What a failed scheduling attempt found (``framework.Diagnosis``)."""

    node_to_status: NodeToStatus = field(default_factory=NodeToStatus)
    unschedulable_plugins: set[str] = field(default_factory=set)
    pre_filter_msg: str = ""
    post_filter_msg: str = ""

    def add_plugin_status(self, status: Status) -> None:
        if status.plugin and status.is_rejected():
            self.unschedulable_plugins.add(status.plugin)


NO_NODE_AVAILABLE_MSG = "0/{} nodes are available"


class FitError(Exception):
    """No node fits the pod. ``str()`` is the FailedScheduling message users see.

    ``0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint
    {dedicated: gpu}. preemption: 0/3 nodes are available: 3 Preemption is not helpful
    for scheduling.`` — reasons counted over nodes and sorted as text, as upstream does.
    """

    def __init__(self, pod: PodInfo, num_all_nodes: int, diagnosis: Diagnosis) -> None:
        super().__init__()
        self.pod = pod
        self.num_all_nodes = num_all_nodes
        self.diagnosis = diagnosis

    def __str__(self) -> str:
        message = NO_NODE_AVAILABLE_MSG.format(self.num_all_nodes) + ":"
        diagnosis = self.diagnosis
        if diagnosis.pre_filter_msg:
            message += f" {diagnosis.pre_filter_msg}."
        else:
            histogram = reason_histogram(diagnosis.node_to_status, self.num_all_nodes)
            if histogram:
                message += " " + ", ".join(histogram) + "."
        if diagnosis.post_filter_msg:
            message += " " + diagnosis.post_filter_msg
        return message


def reason_histogram(statuses: NodeToStatus, num_all_nodes: int) -> list[str]:
    """``["1 Insufficient cpu", "2 node(s) were unschedulable"]``: each reason with its node count, sorted."""
    counts: dict[str, int] = {}
    for status in statuses.statuses.values():
        for reason in status.reasons:
            counts[reason] = counts.get(reason, 0) + 1
    absent = num_all_nodes - len(statuses)
    if absent > 0:
        for reason in statuses.absent.reasons:
            counts[reason] = counts.get(reason, 0) + absent
    return sorted(f"{count} {reason}" for reason, count in counts.items())
