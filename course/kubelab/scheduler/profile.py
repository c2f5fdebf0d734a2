"""A scheduling profile: the plugins at each extension point, and how to run them.

Mirrors ``pkg/scheduler/framework/runtime/framework.go`` with upstream's "multi-point"
configuration: a profile is an ordered list of plugins (plus a weight for each score
plugin), and every plugin takes part in each extension point whose method it has. The
order of the list is the order plugins run in, so the cheap filters go first, as in
the default profile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from kubelab.scheduler.framework import (
    MAX_NODE_SCORE,
    MIN_NODE_SCORE,
    BindPlugin,
    ClusterEvent,
    Code,
    CycleState,
    EnqueueExtensions,
    FilterPlugin,
    NodeToStatus,
    PostFilterPlugin,
    PreEnqueuePlugin,
    PreFilterPlugin,
    PreFilterResult,
    PreScorePlugin,
    QueueSortPlugin,
    ReservePlugin,
    ScoreExtensions,
    ScorePlugin,
    Status,
)
from kubelab.scheduler.nodeinfo import NodeInfo, PodInfo

__all__ = ["DEFAULT_SCHEDULER_NAME", "Nominator", "PluginError", "Profile", "ProfileError"]

DEFAULT_SCHEDULER_NAME = "default-scheduler"


class Nominator(Protocol):
    """Where pods nominated to a node by preemption are kept (the scheduling queue, upstream's ``PodNominator``)."""

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]:
        ...

    def has_nominated_pods(self) -> bool:
        ...


class ProfileError(ValueError):
    """The plugins given cannot make a working profile (no binder, two queue sorts...)."""


class PluginError(RuntimeError):
    """A plugin raised, or answered something out of range; the pod is retried after a back-off."""


class Profile:
    """The plugins one scheduler runs, grouped by extension point (``frameworkImpl``)."""

    def __init__(
        self,
        plugins: Sequence[Any],
        weights: Mapping[str, int] | None = None,
        name: str = DEFAULT_SCHEDULER_NAME,
    ) -> None:
        self.name = name
        self.nominator: Nominator | None = None
        """Set by the scheduler: room reserved by preemption is respected when filtering."""
        self.plugins = list(plugins)
        weights = dict(weights or {})
        seen: set[str] = set()
        for plugin in self.plugins:
            plugin_name = getattr(plugin, "name", None)
            if not isinstance(plugin_name, str) or not plugin_name:
                raise ProfileError(f"{plugin!r} has no name: give every plugin class a `name` string")
            if plugin_name in seen:
                raise ProfileError(f"plugin {plugin_name!r} appears twice in the profile")
            seen.add(plugin_name)
        self.queue_sort = [p for p in self.plugins if isinstance(p, QueueSortPlugin)]
        if len(self.queue_sort) != 1:
            raise ProfileError(
                f"a profile needs exactly one queue sort plugin (with a `less` method), "
                f"got {len(self.queue_sort)}: {[p.name for p in self.queue_sort]}"
            )
        self.pre_enqueue: list[PreEnqueuePlugin] = [p for p in self.plugins if isinstance(p, PreEnqueuePlugin)]
        self.pre_filter: list[PreFilterPlugin] = [p for p in self.plugins if isinstance(p, PreFilterPlugin)]
        self.filter: list[FilterPlugin] = [p for p in self.plugins if isinstance(p, FilterPlugin)]
        self.post_filter: list[PostFilterPlugin] = [p for p in self.plugins if isinstance(p, PostFilterPlugin)]
        self.pre_score: list[PreScorePlugin] = [p for p in self.plugins if isinstance(p, PreScorePlugin)]
        self.score: list[tuple[ScorePlugin, int]] = []
        self._normalizers: dict[str, ScoreExtensions] = {}
        for p in self.plugins:
            if isinstance(p, ScorePlugin):
                weight = weights.pop(p.name, 1)
                if not isinstance(weight, int) or weight <= 0:
                    raise ProfileError(f"score plugin {p.name!r} has weight {weight!r}: weights must be positive integers")
                self.score.append((p, weight))
                if isinstance(p, ScoreExtensions):
                    self._normalizers[p.name] = p
        if weights:
            raise ProfileError(f"weights given for plugins that do not score: {sorted(weights)}")
        self.reserve: list[ReservePlugin] = [p for p in self.plugins if isinstance(p, ReservePlugin)]
        self.bind: list[BindPlugin] = [p for p in self.plugins if isinstance(p, BindPlugin)]
        if not self.bind:
            raise ProfileError("a profile needs at least one bind plugin (with a `bind` method), e.g. DefaultBinder")

    def less(self, a: Any, b: Any) -> bool:
        return self.queue_sort[0].less(a, b)

    def plugin_events(self) -> dict[str, list[ClusterEvent]]:
        """The events each plugin waits for; plugins that don't say are woken by any event."""
        return {p.name: p.events_to_register() for p in self.plugins if isinstance(p, EnqueueExtensions)}

    # -- running the extension points ---------------------------------------------------------

    def run_pre_filter_plugins(
        self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status | None, list[str]]:
        """Run every PreFilter; returns the merged node restriction, a failing status, and the plugins that restricted."""
        result: PreFilterResult | None = None
        restricting: list[str] = []
        for plugin in self.pre_filter:
            try:
                answer = plugin.pre_filter(state, pod, nodes)
            except Exception as e:  # a plugin's bug must not stop the scheduler
                return None, Status.error(f'running PreFilter plugin "{plugin.name}": {e}').with_plugin(plugin.name), []
            if answer is None:
                continue
            if isinstance(answer, PreFilterResult):
                restricting.append(plugin.name)
                result = answer.merge(result)
                if not result.node_names:
                    if len(restricting) == 1:
                        message = f"node(s) didn't satisfy plugin {restricting[0]}"
                    else:
                        message = f"node(s) didn't satisfy plugin(s) [{' '.join(restricting)}] simultaneously"
                    return result, Status.unresolvable(message), restricting
                continue
            if answer.code == Code.SKIP:
                state.skip_filter_plugins.add(plugin.name)
            elif not answer.is_success():
                return None, answer.with_plugin(plugin.name), restricting
        return result, None, restricting

    def run_pre_filter_extension_add_pod(self, state: CycleState, pod: PodInfo, to_add: PodInfo, node: NodeInfo) -> None:
        """Tell PreFilter plugins that keep counts (``add_pod``) that ``to_add`` now runs on ``node``."""
        for plugin in self.pre_filter:
            if plugin.name not in state.skip_filter_plugins and hasattr(plugin, "add_pod"):
                plugin.add_pod(state, pod, to_add, node)

    def run_pre_filter_extension_remove_pod(
        self, state: CycleState, pod: PodInfo, to_remove: PodInfo, node: NodeInfo
    ) -> None:
        """Tell PreFilter plugins that keep counts (``remove_pod``) that ``to_remove`` left ``node``."""
        for plugin in self.pre_filter:
            if plugin.name not in state.skip_filter_plugins and hasattr(plugin, "remove_pod"):
                plugin.remove_pod(state, pod, to_remove, node)

    def active_filters(self, state: CycleState) -> list[FilterPlugin]:
        """The Filter plugins to run this cycle: those whose PreFilter did not skip."""
        return [p for p in self.filter if p.name not in state.skip_filter_plugins]

    def run_filter_plugins(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        """Run the filters on one node, stopping at the first that rejects it; None if it fits."""
        for plugin in self.active_filters(state):
            status = run_filter(plugin, state, pod, node)
            if status is not None:
                return status
        return None

    def run_filter_plugins_with_nominated_pods(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        """Filter a node as if the pods nominated to it (of priority ≥ the pod's) already ran there.

        Then, if it passes, filter it again without them, since a pod with affinity to one of
        them must not count on a pod that may never come (``RunFilterPluginsWithNominatedPods``).
        """
        nominated = [] if self.nominator is None else [
            p for p in self.nominator.nominated_pods_for_node(node.name)
            if p.priority >= pod.priority and p.uid != pod.uid
        ]
        if not nominated:
            return self.run_filter_plugins(state, pod, node)
        with_nominated, state_with = node.clone(), state.clone()
        for other in nominated:
            with_nominated.add_pod(other)
            self.run_pre_filter_extension_add_pod(state_with, pod, other, with_nominated)
        status = self.run_filter_plugins(state_with, pod, with_nominated)
        if status is not None:
            return status
        return self.run_filter_plugins(state, pod, node)

    def run_post_filter_plugins(
        self, state: CycleState, pod: PodInfo, statuses: NodeToStatus
    ) -> tuple[str | None, Status]:
        """Run PostFilter plugins until one succeeds (finds room); returns a nominated node and status."""
        reasons: list[str] = []
        for plugin in self.post_filter:
            try:
                nominated, status = plugin.post_filter(state, pod, statuses)
            except Exception as e:
                return None, Status.error(f'running PostFilter plugin "{plugin.name}": {e}').with_plugin(plugin.name)
            if status.is_success():
                return nominated, status.with_plugin(plugin.name)
            if not status.is_rejected():
                return None, status.with_plugin(plugin.name)
            reasons.extend(status.reasons)
        return None, Status.unresolvable(*reasons)

    def run_pre_score_plugins(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> None:
        for plugin in self.pre_score:
            try:
                status = plugin.pre_score(state, pod, nodes)
            except Exception as e:
                raise PluginError(f'running PreScore plugin "{plugin.name}": {e}') from e
            if status is None:
                continue
            if status.code == Code.SKIP:
                state.skip_score_plugins.add(plugin.name)
            elif not status.is_success():
                raise PluginError(f'running PreScore plugin "{plugin.name}": {status.message}')

    def run_score_plugins(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
        """Each node's total: every score plugin's (normalized) score times its weight, added up."""
        totals = [0] * len(nodes)
        for plugin, weight in self.score:
            if plugin.name in state.skip_score_plugins:
                continue
            score = plugin.score
            normalizer = self._normalizers.get(plugin.name)
            try:
                scores = {node.name: score(state, pod, node) for node in nodes}
                if normalizer is not None:
                    normalizer.normalize_score(state, pod, scores)
            except Exception as e:
                raise PluginError(f'plugin "{plugin.name}" failed with: {e}') from e
            values = list(scores.values())
            if values and (min(values) < MIN_NODE_SCORE or max(values) > MAX_NODE_SCORE):
                bad = next(v for v in values if not MIN_NODE_SCORE <= v <= MAX_NODE_SCORE)
                raise PluginError(
                    f'plugin "{plugin.name}" returns an invalid score {bad}, it should in the range of '
                    f"[{MIN_NODE_SCORE}, {MAX_NODE_SCORE}] after normalizing"
                )
            totals = [total + value * weight for total, value in zip(totals, values, strict=True)]
        return totals

    def run_reserve_plugins(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        for plugin in self.reserve:
            try:
                status = plugin.reserve(state, pod, node_name)
            except Exception as e:
                status = Status.error(f'running Reserve plugin "{plugin.name}": {e}')
            if status is not None and not status.is_success():
                return status.with_plugin(plugin.name)
        return None

    def run_unreserve_plugins(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        """Undo Reserve, in reverse order; errors are ignored, as upstream does."""
        for plugin in reversed(self.reserve):
            try:
                plugin.unreserve(state, pod, node_name)
            except Exception:  # noqa: S112 - unreserve must reach every plugin
                continue

    def run_bind_plugins(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        """Ask binders in turn until one binds (one that answers SKIP passes it on)."""
        for plugin in self.bind:
            try:
                status = plugin.bind(state, pod, node_name)
            except Exception as e:
                return Status.error(f'running Bind plugin "{plugin.name}": {e}').with_plugin(plugin.name)
            if status is not None and status.code == Code.SKIP:
                continue
            return None if status is None or status.is_success() else status.with_plugin(plugin.name)
        return Status.error("all bind plugins skipped the pod")


def run_filter(plugin: FilterPlugin, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
    """One filter on one node: None if it passes, its status (with the plugin's name) if not."""
    try:
        status = plugin.filter(state, pod, node)
    except Exception as e:
        return Status.error(f'running "{plugin.name}" filter plugin: {e}').with_plugin(plugin.name)
    if status is None or status.code == Code.SUCCESS:
        return None
    return status.with_plugin(plugin.name)
