"""The Job controller on a real cluster: Jobs run with kubectl."""

from __future__ import annotations

import json

import pytest
from controller_helpers import kubectl_apply, running, wait_for
from kubelet_double import KubeletDouble

from kubelab import errors
from kubelab.controllers.garbagecollector import GarbageCollector
from kubelab.controllers.job import TRACKING_FINALIZER, JobController


@pytest.fixture
def kubelet(client, namespace):
    double = KubeletDouble(client, [f"n-{namespace}"]).start()
    yield double
    double.stop()


def job_manifest(name, command, **spec):
    return json.dumps({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {**spec, "template": {"spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                                               "containers": [{"name": "work", "image": "busybox",
                                                               "command": command}]}}},
    })


def get_job(client, namespace, name):
    return client.resource("batch/v1", "jobs").get(name, namespace)


def conditions(job):
    return {c["type"]: c for c in job["status"].get("conditions") or ()}


def job_pods(client, namespace, name):
    return client.resource("v1", "pods").list(namespace, label_selector={"batch.kubernetes.io/job-name": name})["items"]


def test_a_job_runs_to_completion(cluster, client, namespace, kubelet, scheduler):
    with running(cluster, job=JobController()):
        kubectl_apply(cluster, namespace, job_manifest("pi", ["sh", "-c", "exit 0"], completions=3, parallelism=2))
        cluster.kubectl("wait", "--for=condition=complete", "job/pi", "-n", namespace, "--timeout=30s", timeout=40)
        job = get_job(client, namespace, "pi")
        status = job["status"]
        assert (status["succeeded"], status.get("failed", 0), status["active"], status["ready"]) == (3, 0, 0, 0)
        assert status["startTime"] <= status["completionTime"]
        assert status["uncountedTerminatedPods"] == {}
        complete = conditions(job)["Complete"]
        assert (complete["reason"], complete["message"]) == ("CompletionsReached",
                                                             "Reached expected number of succeeded pods")
        assert conditions(job)["SuccessCriteriaMet"]["status"] == "True"
        pods = job_pods(client, namespace, "pi")
        assert len(pods) == 3
        for pod in pods:
            assert pod["status"]["phase"] == "Succeeded"
            assert TRACKING_FINALIZER not in (pod["metadata"].get("finalizers") or ())
            assert pod["metadata"]["labels"]["batch.kubernetes.io/controller-uid"] == job["metadata"]["uid"]
            assert pod["metadata"]["ownerReferences"][0]["kind"] == "Job"
        table = cluster.kubectl("get", "job", "pi", "-n", namespace).stdout
        assert "3/3" in table
        events = cluster.kubectl("get", "events", "-n", namespace, "--field-selector", "involvedObject.name=pi").stdout
        assert "Completed" in events and "SuccessfulCreate" in events


def test_a_job_that_keeps_failing_exceeds_its_backoff_limit(cluster, client, namespace, kubelet, scheduler):
    with running(cluster, job=JobController(pod_failure_backoff=0.2)):
        kubectl_apply(cluster, namespace, job_manifest("flaky", ["sh", "-c", "exit 1"], backoffLimit=2))
        cluster.kubectl("wait", "--for=condition=failed", "job/flaky", "-n", namespace, "--timeout=30s", timeout=40)
        job = get_job(client, namespace, "flaky")
        failed = conditions(job)["Failed"]
        assert (failed["reason"], failed["message"]) == ("BackoffLimitExceeded",
                                                         "Job has reached the specified backoff limit")
        assert conditions(job)["FailureTarget"]["reason"] == "BackoffLimitExceeded"
        assert job["status"]["failed"] == 3
        assert "completionTime" not in job["status"]
        assert len(job_pods(client, namespace, "flaky")) == 3
        events = cluster.kubectl("get", "events", "-n", namespace, "--field-selector",
                                 "involvedObject.name=flaky").stdout
        assert "BackoffLimitExceeded" in events


def test_a_job_past_its_deadline_fails_and_its_pods_are_deleted(cluster, client, namespace, kubelet, scheduler):
    with running(cluster, job=JobController()):
        kubectl_apply(cluster, namespace, job_manifest("slow", ["sleep", "3600"], parallelism=2, completions=2,
                                           activeDeadlineSeconds=2))
        wait_for(lambda: get_job(client, namespace, "slow")["status"].get("ready") == 2, what="two ready pods")
        cluster.kubectl("wait", "--for=condition=failed", "job/slow", "-n", namespace, "--timeout=30s", timeout=40)
        job = get_job(client, namespace, "slow")
        assert conditions(job)["Failed"]["reason"] == "DeadlineExceeded"
        assert (job["status"]["failed"], job["status"]["active"]) == (2, 0)
        wait_for(lambda: job_pods(client, namespace, "slow") == [], what="the pods to be deleted")


def test_deleting_a_job_deletes_its_pods(cluster, client, namespace, kubelet, scheduler):
    with running(cluster, job=JobController(), garbagecollector=GarbageCollector()):
        kubectl_apply(cluster, namespace, job_manifest("long", ["sleep", "3600"]))
        wait_for(lambda: get_job(client, namespace, "long")["status"].get("active") == 1, what="an active pod")
        cluster.kubectl("delete", "job", "long", "-n", namespace)
        with pytest.raises(errors.NotFound):
            get_job(client, namespace, "long")
        wait_for(lambda: job_pods(client, namespace, "long") == [], what="the pods to go with their finalizers")
