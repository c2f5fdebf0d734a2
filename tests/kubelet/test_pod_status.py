"""The pod phase from container states, as the kubelet's getPhase decides it."""

import pytest

from kubelab.kubelet.pod_status import get_phase

RUNNING = {"running": {}}
WAITING = {"waiting": {"reason": "ContainerCreating"}}


def done(code):
    return {"terminated": {"exitCode": code}}


def pod(policy="Always", containers=("a",), init=()):
    return {"spec": {"restartPolicy": policy, "containers": [{"name": n} for n in containers],
                     "initContainers": [{"name": n} for n in init]}}


def status(name, state, last=None):
    return {"name": name, "state": state, "lastState": {"terminated": last} if last else {}}


@pytest.mark.parametrize(
    "policy, states, phase",
    [
        ("Always", [WAITING], "Pending"),
        ("Always", [RUNNING], "Running"),
        ("Always", [done(1)], "Running"),
        ("OnFailure", [done(1)], "Running"),
        ("OnFailure", [done(0)], "Succeeded"),
        ("Never", [done(0)], "Succeeded"),
        ("Never", [done(2)], "Failed"),
    ],
)
def test_phase_of_one_container(policy, states, phase):
    assert get_phase(pod(policy), [], [status("a", states[0])], terminal=False) == phase


def test_a_crash_looping_container_keeps_the_pod_running():
    crash_loop = status("a", {"waiting": {"reason": "CrashLoopBackOff"}}, last={"exitCode": 1})
    assert get_phase(pod(), [], [crash_loop], terminal=False) == "Running"


def test_init_containers_hold_the_pod_pending_and_fail_it_under_never():
    init_running = [status("i", RUNNING)]
    assert get_phase(pod(init=("i",)), init_running, [status("a", WAITING)], terminal=False) == "Pending"
    init_failed = [status("i", done(1))]
    assert get_phase(pod("Never", init=("i",)), init_failed, [status("a", WAITING)], terminal=False) == "Failed"


def test_a_terminal_pod_is_succeeded_or_failed_by_its_exit_codes():
    assert get_phase(pod(), [], [status("a", done(0))], terminal=True) == "Succeeded"
    assert get_phase(pod(), [], [status("a", done(137))], terminal=True) == "Failed"
