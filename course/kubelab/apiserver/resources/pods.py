"""Pods: defaults, status and binding rules, validation, the ``kubectl get pods`` table.

Mirrors ``pkg/registry/core/pod/strategy.go`` (and ``storage.go``'s binding),
``printPod`` in ``pkg/printers/internalversion/printers.go``.
"""

from __future__ import annotations

import copy
from typing import Any

from kubelab.api import field
from kubelab.api.field import FieldError
from kubelab.api.meta import human_duration, parse_time
from kubelab.apiserver.resources import podspec_validation
from kubelab.apiserver.resources.base import ResourceStrategy, child, items
from kubelab.apiserver.resources.columns import age_column, age_of, column, doc, name_column, name_of
from kubelab.apiserver.resources.podspec import default_pod_only, default_pod_spec
from kubelab.apiserver.resources.podspec_validation import quantity

Obj = dict[str, Any]


class BindingConflict(Exception):
    """A Binding the pod cannot take (already bound, being deleted): a 409 Conflict."""


class PodStrategy(ResourceStrategy):
    has_status = True

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if isinstance(spec, dict):
            default_pod_spec(spec)
            default_pod_only(spec)
        status = obj.get("status")
        if isinstance(status, dict):
            _sync_ips(status, "podIP", "podIPs")
            _sync_ips(status, "hostIP", "hostIPs")

    def initial_status(self, obj: Obj) -> Obj:
        return {"phase": "Pending", "qosClass": qos_class(obj.get("spec") or {})}

    def validate(self, obj: Obj) -> list[FieldError]:
        return podspec_validation.validate_pod_spec(obj.get("spec"), "spec", is_pod=True)

    def validate_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        errors = self.validate(obj)
        return errors or podspec_validation.validate_pod_spec_update(obj.get("spec") or {}, old.get("spec") or {})

    def prepare_for_status_update(self, obj: Obj, old: Obj) -> None:
        # Unlike most kinds, a pod's labels and annotations may change through /status (the
        # kubelet's own writes); only the spec and the ownerReferences are protected.
        obj["spec"] = copy.deepcopy(old.get("spec") or {})
        meta, old_meta = obj.setdefault("metadata", {}), old.get("metadata") or {}
        for key in ("ownerReferences", "deletionTimestamp"):
            if key in old_meta:
                meta[key] = copy.deepcopy(old_meta[key])
            else:
                meta.pop(key, None)
        status = child(obj, "status")
        if not status.get("qosClass") and (old.get("status") or {}).get("qosClass"):
            status["qosClass"] = old["status"]["qosClass"]

    def validate_status_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        return podspec_validation.validate_pod_status(obj.get("status") or {}, obj.get("spec") or {})

    def selectable_fields(self, obj: Obj) -> dict[str, str]:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        pod_ips = items(status, "podIPs")
        fields = super().selectable_fields(obj)
        fields.update({
            "spec.nodeName": spec.get("nodeName") or "",
            "spec.restartPolicy": spec.get("restartPolicy") or "",
            "spec.schedulerName": spec.get("schedulerName") or "",
            "spec.serviceAccountName": spec.get("serviceAccountName") or "",
            "spec.hostNetwork": "true" if spec.get("hostNetwork") else "false",
            "status.phase": status.get("phase") or "",
            "status.podIP": pod_ips[0].get("ip", "") if pod_ips else status.get("podIP") or "",
            "status.nominatedNodeName": status.get("nominatedNodeName") or "",
        })
        return fields

    def table_columns(self) -> list[Obj]:
        return [
            name_column(),
            column("Ready", "The aggregate readiness state of this pod for accepting traffic."),
            column("Status", "The aggregate status of the containers in this pod."),
            column(
                "Restarts",
                "The number of times the containers in this pod have been restarted and when the last "
                "container in this pod has restarted.",
            ),
            age_column(),
            column("IP", doc("V1PodStatus", "podIP"), priority=1),
            column("Node", doc("V1PodSpec", "nodeName"), priority=1),
            column("Nominated Node", doc("V1PodStatus", "nominatedNodeName"), priority=1),
            column("Readiness Gates", doc("V1PodSpec", "readinessGates"), priority=1),
        ]

    def table_cells(self, obj: Obj, now: float) -> list[Any]:
        ready, status, restarts = pod_summary(obj, now)
        spec, pod_status = obj.get("spec") or {}, obj.get("status") or {}
        pod_ips = items(pod_status, "podIPs")
        gates = items(spec, "readinessGates")
        gates_cell = "<none>"
        if gates:
            conditions = {c.get("type"): c.get("status") for c in items(pod_status, "conditions")}
            passed = sum(1 for g in gates if conditions.get(g.get("conditionType")) == "True")
            gates_cell = f"{passed}/{len(gates)}"
        return [
            name_of(obj), ready, status, restarts, age_of(obj, now),
            (pod_ips[0].get("ip") if pod_ips else "") or "<none>",
            spec.get("nodeName") or "<none>",
            pod_status.get("nominatedNodeName") or "<none>",
            gates_cell,
        ]


def pod_summary(pod: Obj, now: float) -> tuple[str, str, str]:
    """READY, STATUS and RESTARTS of ``kubectl get pods``, computed exactly as ``printPod`` does."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    init_specs = {c.get("name"): c for c in items(spec, "initContainers")}
    sidecars = {n for n, c in init_specs.items() if c.get("restartPolicy") == "Always"}
    total = len(items(spec, "containers")) + len(sidecars)
    ready = restarts = sidecar_restarts = 0
    last_restart = sidecar_last_restart = 0.0
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    for cond in items(status, "conditions"):
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    initializing = False
    init_statuses = items(status, "initContainerStatuses")
    for i, cs in enumerate(init_statuses):
        restarts += int(cs.get("restartCount") or 0)
        finished = _finished_at(cs)
        last_restart = max(last_restart, finished)
        is_sidecar = cs.get("name") in sidecars
        if is_sidecar:
            sidecar_restarts += int(cs.get("restartCount") or 0)
            sidecar_last_restart = max(sidecar_last_restart, finished)
        state = cs.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and int(terminated.get("exitCode") or 0) == 0:
            continue
        if is_sidecar and cs.get("started"):
            if cs.get("ready"):
                ready += 1
            continue
        if terminated is not None:
            if terminated.get("reason"):
                reason = "Init:" + terminated["reason"]
            elif terminated.get("signal"):
                reason = f"Init:Signal:{terminated['signal']}"
            else:
                reason = f"Init:ExitCode:{terminated.get('exitCode') or 0}"
        elif waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    initialized = any(
        c.get("type") == "Initialized" and c.get("status") == "True" for c in items(status, "conditions")
    )
    if not initializing or initialized:
        restarts, last_restart = sidecar_restarts, sidecar_last_restart
        has_running = False
        for cs in reversed(items(status, "containerStatuses")):
            restarts += int(cs.get("restartCount") or 0)
            last_restart = max(last_restart, _finished_at(cs))
            state = cs.get("state") or {}
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated is not None and terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated is not None:
                if terminated.get("signal"):
                    reason = f"Signal:{terminated['signal']}"
                else:
                    reason = f"ExitCode:{terminated.get('exitCode') or 0}"
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            pod_ready = any(
                c.get("type") == "Ready" and c.get("status") == "True" for c in items(status, "conditions")
            )
            reason = "Running" if pod_ready else "NotReady"

    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"

    restarts_cell = str(restarts)
    if restarts and last_restart:
        restarts_cell = f"{restarts} ({human_duration(now - last_restart)} ago)"
    return f"{ready}/{total}", reason, restarts_cell


def _finished_at(container_status: Obj) -> float:
    terminated = (container_status.get("lastState") or {}).get("terminated") or {}
    finished = terminated.get("finishedAt")
    return parse_time(finished) if finished else 0.0


def _sync_ips(status: Obj, single: str, plural: str) -> None:
    """Keep ``podIP``/``podIPs`` (and host IPs) in step, as the v1 conversion does."""
    listed = items(status, plural)
    if status.get(single) and not listed:
        status[plural] = [{"ip": status[single]}]
    elif listed and not status.get(single):
        status[single] = listed[0].get("ip", "")


def qos_class(spec: Obj) -> str:
    """The pod's QoS class (``qos.GetPodQOS``): BestEffort, Burstable or Guaranteed."""
    requests: dict[str, int] = {}
    limits: dict[str, int] = {}
    guaranteed = True
    for c in items(spec, "containers") + items(spec, "initContainers"):
        resources = c.get("resources") or {}
        for kind, totals in (("requests", requests), ("limits", limits)):
            found = set()
            for name, value in (resources.get(kind) or {}).items():
                amount = quantity(value)
                if name in ("cpu", "memory") and amount is not None and not amount.is_zero():
                    found.add(name)
                    totals[name] = totals.get(name, 0) + amount.nanos
            if kind == "limits" and found != {"cpu", "memory"}:
                guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and requests == limits:
        return "Guaranteed"
    return "Burstable"


def apply_binding(pod: Obj, binding: Obj, now: str) -> list[FieldError]:
    """Bind ``pod`` to the node a Binding names (``pods/binding``), in place.

    Returns field errors of an invalid Binding (422); raises :class:`BindingConflict` if the pod
    is already bound or is being deleted (409). ``now`` stamps the PodScheduled condition.
    """
    target = binding.get("target") or {}
    errors = []
    if not target.get("name"):
        errors.append(field.required("target.name"))
    if target.get("kind") not in (None, "", "Node"):
        errors.append(field.not_supported("target.kind", target.get("kind"), ["Node", "<empty>"]))
    if errors:
        return errors
    name = (pod.get("metadata") or {}).get("name", "")
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        raise BindingConflict(f"pod {name} is being deleted, cannot be assigned to a host")
    spec = child(pod, "spec")
    if spec.get("nodeName"):
        raise BindingConflict(f"pod {name} is already assigned to node \"{spec['nodeName']}\"")
    spec["nodeName"] = target["name"]
    annotations = (binding.get("metadata") or {}).get("annotations")
    if annotations:
        child(child(pod, "metadata"), "annotations").update(copy.deepcopy(annotations))
    status = child(pod, "status")
    conditions = status["conditions"] = items(status, "conditions")
    scheduled = {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
    for i, cond in enumerate(conditions):
        if cond.get("type") == "PodScheduled":
            conditions[i] = scheduled
            break
    else:
        conditions.append(scheduled)
    return []
