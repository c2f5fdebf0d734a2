"""A pod's status as the kubelet reports it, computed from what the runtime holds.

Pure functions, mirroring ``pkg/kubelet/kubelet_pods.go`` (``generateAPIPodStatus``,
``convertToAPIContainerStatuses``, ``getPhase``) and ``pkg/kubelet/status/generate.go``
(the pod conditions): given the pod, its containers in the runtime, why containers could not
start (the "reason cache") and what the probes say, produce ``status``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubelab.kubelet.runtime import ContainerState, ContainerStatus, PodSandboxState, PodSandboxStatus

Obj = dict[str, Any]
RUNTIME_SCHEME = "kubelab"
KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")


def rfc3339(ns: int) -> str:
    """Nanoseconds since the epoch as a Kubernetes ``Time`` (whole seconds, UTC)."""
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RuntimePod:
    """Everything the runtime holds for one pod: its sandboxes and its containers, newest first."""

    uid: str
    sandboxes: list[PodSandboxStatus] = field(default_factory=list)
    containers: list[ContainerStatus] = field(default_factory=list)

    @property
    def sandbox(self) -> PodSandboxStatus | None:
        return self.sandboxes[0] if self.sandboxes else None

    @property
    def ready_sandbox(self) -> PodSandboxStatus | None:
        s = self.sandbox
        return s if s is not None and s.state == PodSandboxState.READY else None

    @property
    def ip(self) -> str:
        s = self.ready_sandbox
        return s.ip if s else ""

    def history(self, name: str) -> list[ContainerStatus]:
        """The containers that ran as ``name``, newest first."""
        return [c for c in self.containers if c.metadata.name == name]

    def latest(self, name: str) -> ContainerStatus | None:
        found = self.history(name)
        return found[0] if found else None

    def running(self) -> list[ContainerStatus]:
        return [c for c in self.containers if c.state == ContainerState.RUNNING]


def container_id(status: ContainerStatus) -> str:
    return f"{RUNTIME_SCHEME}://{status.id}"


def should_restart(container: Mapping[str, Any], pod: Mapping[str, Any], runtime_pod: RuntimePod) -> bool:
    """Whether the container will be (re)started (``ShouldContainerBeRestarted``)."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    latest = runtime_pod.latest(container["name"])
    if latest is None:
        return True
    if latest.state == ContainerState.RUNNING:
        return False
    if latest.state in (ContainerState.UNKNOWN, ContainerState.CREATED):
        return True
    policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    if policy == "Never":
        return False
    return not (policy == "OnFailure" and latest.exit_code == 0)


def _terminated(c: ContainerStatus) -> Obj:
    state: Obj = {
        "exitCode": c.exit_code,
        "reason": c.reason,
        "startedAt": rfc3339(c.started_at) if c.started_at else None,
        "finishedAt": rfc3339(c.finished_at),
        "containerID": container_id(c),
    }
    if c.message:
        state["message"] = c.message
    return state


def _state(c: ContainerStatus) -> Obj:
    if c.state == ContainerState.RUNNING:
        return {"running": {"startedAt": rfc3339(c.started_at)}}
    if c.state == ContainerState.EXITED:
        return {"terminated": _terminated(c)}
    return {"waiting": {}}


@dataclass
class ProbeState:
    """What the probes say about running containers, by container id."""

    ready: Mapping[str, bool] = field(default_factory=dict)
    started: Mapping[str, bool] = field(default_factory=dict)


def container_statuses(
    pod: Mapping[str, Any], runtime_pod: RuntimePod, containers: list[Mapping[str, Any]], *,
    reasons: Mapping[str, tuple[str, str]], probes: ProbeState, old: list[Mapping[str, Any]],
    init: bool = False,
) -> list[Obj]:
    """The ``containerStatuses`` (or ``initContainerStatuses``) of ``containers``, in spec order."""
    has_init = bool((pod.get("spec") or {}).get("initContainers"))
    default_reason = "PodInitializing" if has_init and not init else "ContainerCreating"
    old_by_name = {s.get("name"): s for s in old}
    out = []
    for spec in containers:
        name = spec["name"]
        history = runtime_pod.history(name)
        if not history:
            status: Obj = {
                "name": name, "image": spec.get("image", ""), "imageID": "", "ready": False, "started": False,
                "restartCount": 0, "state": {"waiting": {"reason": default_reason}}, "lastState": {},
            }
            previous = old_by_name.get(name)
            if previous is not None:
                status["restartCount"] = previous.get("restartCount", 0)
                status["lastState"] = dict(previous.get("lastState") or {})
        else:
            latest = history[0]
            running = latest.state == ContainerState.RUNNING
            started = running and probes.started.get(latest.id, True)
            status = {
                "name": name,
                "image": latest.image.image,
                "imageID": latest.image_ref,
                "containerID": container_id(latest),
                "ready": bool(started and probes.ready.get(latest.id, True)),
                "started": bool(started),
                "restartCount": latest.metadata.attempt,
                "state": _state(latest),
                "lastState": {"terminated": _terminated(history[1])} if len(history) > 1 else {},
            }
        if name in reasons and should_restart(spec, pod, runtime_pod) and not (
            init and history and history[0].state == ContainerState.EXITED and history[0].exit_code == 0
        ):
            reason, message = reasons[name]
            if "terminated" in status["state"]:
                status["lastState"] = status["state"]
            status["state"] = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        out.append(status)
    return out


def get_phase(pod: Mapping[str, Any], init_statuses: list[Obj], statuses: list[Obj], terminal: bool) -> str:
    """The pod's phase from its container statuses (``getPhase``)."""
    spec = pod.get("spec") or {}
    pending_init = failed_init = 0
    by_name = {s["name"]: s for s in init_statuses}
    for c in spec.get("initContainers") or []:
        s = by_name.get(c["name"])
        state = (s or {}).get("state") or {}
        if s is None or "running" in state:
            pending_init += 1
        elif "terminated" in state:
            failed_init += state["terminated"].get("exitCode", 0) != 0
        elif "waiting" in state:
            last = (s.get("lastState") or {}).get("terminated")
            if last is not None:
                failed_init += last.get("exitCode", 0) != 0
            else:
                pending_init += 1
        else:
            pending_init += 1
    unknown = running = waiting = stopped = succeeded = 0
    by_name = {s["name"]: s for s in statuses}
    for c in spec.get("containers") or []:
        s = by_name.get(c["name"])
        state = (s or {}).get("state") or {}
        if s is None:
            unknown += 1
        elif "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"].get("exitCode", 0) == 0
        elif "waiting" in state:
            if (s.get("lastState") or {}).get("terminated") is not None:
                stopped += 1
            else:
                waiting += 1
        else:
            unknown += 1
    policy = spec.get("restartPolicy") or "Always"
    if failed_init and policy == "Never":
        return "Failed"
    if (pending_init and not any(_has_run(s) for s in statuses)) or waiting:
        return "Pending"
    if running and not unknown:
        return "Running"
    if not running and stopped and not unknown:
        if terminal:
            return "Succeeded" if stopped == succeeded else "Failed"
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Failed" if policy == "Never" else "Running"
    return "Pending"


def _has_run(status: Obj) -> bool:
    """Whether a regular container has ever started (``HasAnyRegularContainerStarted``)."""
    state = status.get("state") or {}
    return "running" in state or "terminated" in state or bool((status.get("lastState") or {}).get("terminated"))


def _condition(type: str, ok: bool, reason: str = "", message: str = "") -> Obj:
    condition: Obj = {"type": type, "status": "True" if ok else "False"}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def _names(names: list[str]) -> str:
    return "[" + " ".join(names) + "]"


def containers_ready(spec: Mapping[str, Any], statuses: list[Obj], init_statuses: list[Obj], phase: str) -> Obj:
    """``ContainersReady`` (``GenerateContainersReadyCondition``)."""
    by_name = {s["name"]: s for s in statuses}
    unknown, unready = [], []
    for c in spec.get("containers") or []:
        s = by_name.get(c["name"])
        if s is None:
            unknown.append(c["name"])
        elif not s.get("ready"):
            unready.append(c["name"])
    if phase == "Succeeded" and not unknown:
        return _condition("ContainersReady", False, "PodCompleted")
    messages = []
    if unknown:
        messages.append(f"containers with unknown status: {_names(unknown)}")
    if unready:
        messages.append(f"containers with unready status: {_names(unready)}")
    if messages:
        return _condition("ContainersReady", False, "ContainersNotReady", ", ".join(messages))
    return _condition("ContainersReady", True)


def initialized(spec: Mapping[str, Any], init_statuses: list[Obj], phase: str) -> Obj:
    """``Initialized`` (``GeneratePodInitializedCondition``)."""
    by_name = {s["name"]: s for s in init_statuses}
    unknown, incomplete = [], []
    for c in spec.get("initContainers") or []:
        s = by_name.get(c["name"])
        if s is None:
            unknown.append(c["name"])
            continue
        terminated = (s.get("state") or {}).get("terminated")
        if terminated is None or terminated.get("exitCode", 0) != 0:
            incomplete.append(c["name"])
    if phase == "Succeeded" and not unknown:
        return _condition("Initialized", True, "PodCompleted")
    messages = []
    if unknown:
        messages.append(f"containers with unknown status: {_names(unknown)}")
    if incomplete:
        messages.append(f"containers with incomplete status: {_names(incomplete)}")
    if messages:
        return _condition("Initialized", False, "ContainersNotInitialized", ", ".join(messages))
    return _condition("Initialized", True)


def pod_ready(spec: Mapping[str, Any], containers_ready_condition: Obj, conditions: list[Obj]) -> Obj:
    """``Ready`` (``GeneratePodReadyCondition``): ContainersReady and every readiness gate."""
    if containers_ready_condition["status"] != "True":
        return _condition("Ready", False, containers_ready_condition.get("reason", ""),
                          containers_ready_condition.get("message", ""))
    by_type = {c.get("type"): c for c in conditions}
    missing, false = [], []
    for gate in spec.get("readinessGates") or []:
        condition = by_type.get(gate.get("conditionType"))
        if condition is None:
            missing.append(gate.get("conditionType"))
        elif condition.get("status") != "True":
            false.append(gate.get("conditionType"))
    messages = []
    if missing:
        messages.append(f"corresponding condition of pod readiness gate {_names(missing)} does not exist.")
    if false:
        messages.append(f"the status of pod readiness gate {_names(false)} is not \"True\", but False.")
    if messages:
        return _condition("Ready", False, "ReadinessGatesNotReady", ", ".join(messages))
    return _condition("Ready", True)


def _keep_transition_times(conditions: list[Obj], old: list[Mapping[str, Any]], now: str) -> None:
    old_by_type = {c.get("type"): c for c in old}
    for c in conditions:
        previous = old_by_type.get(c["type"])
        c["lastProbeTime"] = None
        if previous is not None and previous.get("status") == c["status"] and previous.get("lastTransitionTime"):
            c["lastTransitionTime"] = previous["lastTransitionTime"]
        else:
            c["lastTransitionTime"] = now


def generate_pod_status(
    pod: Mapping[str, Any], runtime_pod: RuntimePod, *, reasons: Mapping[str, tuple[str, str]],
    probes: ProbeState, host_ip: str, start_time: str, now: str, terminal: bool = False,
    previous: Mapping[str, Any] | None = None,
) -> Obj:
    """The pod's whole ``status`` (``generateAPIPodStatus``).

    ``previous`` is the last status this kubelet generated (else the pod's own) and
    ``terminal`` says the pod will run no more (its containers are done or it is being deleted).
    """
    spec = pod.get("spec") or {}
    api_status = pod.get("status") or {}
    old = previous if previous is not None else api_status
    init_statuses = container_statuses(
        pod, runtime_pod, list(spec.get("initContainers") or []), reasons=reasons, probes=probes,
        old=list(old.get("initContainerStatuses") or []), init=True,
    )
    statuses = container_statuses(
        pod, runtime_pod, list(spec.get("containers") or []), reasons=reasons, probes=probes,
        old=list(old.get("containerStatuses") or []),
    )
    phase = get_phase(pod, init_statuses, statuses, terminal)
    for settled in (old.get("phase"), api_status.get("phase")):
        # A pod never leaves a terminal phase.
        if settled in ("Succeeded", "Failed") and phase not in ("Succeeded", "Failed"):
            phase = str(settled)
    status: Obj = {"phase": phase}
    if phase == old.get("phase"):
        for key in ("reason", "message"):
            if old.get(key) or api_status.get(key):
                status[key] = old.get(key) or api_status.get(key)
    conditions = [dict(c) for c in api_status.get("conditions") or [] if c.get("type") not in KUBELET_CONDITIONS]
    ready_containers = containers_ready(spec, statuses, init_statuses, phase)
    conditions += [
        _condition("PodReadyToStartContainers", runtime_pod.ready_sandbox is not None),
        initialized(spec, init_statuses, phase),
        pod_ready(spec, ready_containers, conditions),
        ready_containers,
        _condition("PodScheduled", True),
    ]
    _keep_transition_times(conditions, list(old.get("conditions") or []), now)
    status["conditions"] = conditions
    status["hostIP"] = host_ip
    status["hostIPs"] = [{"ip": host_ip}]
    ip = runtime_pod.ip or api_status.get("podIP") or ""
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    status["startTime"] = start_time
    if spec.get("initContainers"):
        status["initContainerStatuses"] = init_statuses
    status["containerStatuses"] = statuses
    if api_status.get("qosClass"):
        status["qosClass"] = api_status["qosClass"]
    return status
