"""SchedulingGates: pods with ``spec.schedulingGates`` wait outside the active queue (``plugins/schedulinggates``)."""

from __future__ import annotations

from typing import Any

from kubelab.scheduler.framework import Status

__all__ = ["SchedulingGates"]


class SchedulingGates:
    """Keep a pod out of scheduling until every gate in ``spec.schedulingGates`` is removed."""

    name = "SchedulingGates"

    def pre_enqueue(self, pod: dict[str, Any]) -> Status | None:
        gates = (pod.get("spec") or {}).get("schedulingGates") or []
        if not gates:
            return None
        names = " ".join(g.get("name", "") for g in gates)
        return Status.unresolvable(f"waiting for scheduling gates: [{names}]")
