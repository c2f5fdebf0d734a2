"""The Endpoints and EndpointSlice controllers on a real cluster: a Service's pods."""

from __future__ import annotations

import pytest
from controller_helpers import running, wait_for
from kubelet_double import KubeletDouble

from kubelab import errors
from kubelab.controllers.endpoints import EndpointsController
from kubelab.controllers.endpointslice import CONTROLLER_NAME, EndpointSliceController
from kubelab.controllers.garbagecollector import GarbageCollector


@pytest.fixture
def kubelet(client, namespace):
    double = KubeletDouble(client, [f"a-{namespace}", f"b-{namespace}"]).start()
    yield double
    double.stop()


def web_pod(client, namespace, name, node, *, port=8080, labels=None, hostname=None):
    spec = {"nodeName": node, "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "web", "image": "nginx", "ports": [{"name": "http", "containerPort": port}]}]}
    if hostname:
        spec.update(hostname=hostname, subdomain="web")
    client.resource("v1", "pods").create(
        {"metadata": {"name": name, "labels": labels or {"app": "web"}}, "spec": spec}, namespace)


def service(client, namespace, name="web", *, headless=False, selector=True, publish=False):
    spec = {"ports": [{"name": "http", "port": 80, "targetPort": "http"}], "publishNotReadyAddresses": publish}
    if selector:
        spec["selector"] = {"app": "web"}
    if headless:
        spec["clusterIP"] = "None"
    return client.resource("v1", "services").create({"metadata": {"name": name, "labels": {"team": "a"}},
                                                     "spec": spec}, namespace)


def endpoints_of(client, namespace, name="web"):
    try:
        return client.resource("v1", "endpoints").get(name, namespace)
    except errors.NotFound:
        return None


def slices_of(client, namespace, name="web"):
    return client.resource("discovery.k8s.io/v1", "endpointslices").list(
        namespace, label_selector={"kubernetes.io/service-name": name})["items"]


def set_ready(client, namespace, name, ready):
    pods = client.resource("v1", "pods")
    pod = pods.get(name, namespace)
    for condition in pod["status"]["conditions"]:
        if condition["type"] == "Ready":
            condition["status"] = "True" if ready else "False"
    pods.update_status(pod)


def test_endpoints_follow_the_pods_a_service_selects(cluster, client, namespace, kubelet):
    a, b = kubelet.nodes
    web_pod(client, namespace, "web-1", a)
    web_pod(client, namespace, "web-2", b, port=9090)
    web_pod(client, namespace, "other", a, labels={"app": "other"})
    with running(cluster, endpoint=EndpointsController()):
        service(client, namespace)

        def two_addresses():
            ep = endpoints_of(client, namespace)
            return ep and sum(len(s.get("addresses") or ()) for s in ep.get("subsets") or ()) == 2 and ep
        ep = wait_for(two_addresses, what="both pods in the Endpoints")
        pods = {p["metadata"]["name"]: p for p in client.resource("v1", "pods").list(namespace)["items"]}
        # The named target port resolves per pod: two port numbers, two subsets.
        by_port = {s["ports"][0]["port"]: s for s in ep["subsets"]}
        assert set(by_port) == {8080, 9090}
        first = by_port[8080]["addresses"][0]
        assert first["ip"] == pods["web-1"]["status"]["podIP"]
        assert first["nodeName"] == a
        assert first["targetRef"]["name"] == "web-1" and first["targetRef"]["uid"] == pods["web-1"]["metadata"]["uid"]
        assert by_port[8080]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
        assert ep["metadata"]["labels"] == {"team": "a"}
        table = cluster.kubectl("get", "endpoints", "web", "-n", namespace).stdout
        assert f"{pods['web-1']['status']['podIP']}:8080" in table

        set_ready(client, namespace, "web-2", False)

        def moved_to_not_ready():
            subsets = (endpoints_of(client, namespace) or {}).get("subsets") or ()
            return any(a["targetRef"]["name"] == "web-2" for s in subsets for a in s.get("notReadyAddresses") or ())
        wait_for(moved_to_not_ready, what="the unready pod to move to notReadyAddresses")

        cluster.kubectl("delete", "pod", "web-1", "-n", namespace)

        def only_web_2():
            subsets = (endpoints_of(client, namespace) or {}).get("subsets") or ()
            return [a["targetRef"]["name"] for s in subsets for a in [*s.get("addresses", []),
                                                                     *s.get("notReadyAddresses", [])]] == ["web-2"]
        wait_for(only_web_2, what="the deleted pod to leave the Endpoints")

        cluster.kubectl("delete", "service", "web", "-n", namespace)
        wait_for(lambda: endpoints_of(client, namespace) is None, what="the Endpoints of a deleted Service to go")


def test_services_without_a_selector_keep_their_own_endpoints(cluster, client, namespace, kubelet):
    web_pod(client, namespace, "web-1", kubelet.nodes[0])
    endpoints = client.resource("v1", "endpoints")
    # Left behind by a Service deleted while no controller ran: cleaned up at start.
    endpoints.create({"metadata": {"name": "stale"}, "subsets": []}, namespace)
    with running(cluster, endpoint=EndpointsController(), endpointslice=EndpointSliceController()):
        mine = {"metadata": {"name": "manual"}, "subsets": [{"addresses": [{"ip": "192.0.2.10"}],
                                                              "ports": [{"port": 443, "protocol": "TCP"}]}]}
        # Written by hand before its Service: kept.
        endpoints.create(mine, namespace)
        service(client, namespace, "manual", selector=False)
        service(client, namespace)  # a selecting Service, to know when the controllers have caught up
        wait_for(lambda: endpoints_of(client, namespace) and slices_of(client, namespace), what="the web endpoints")
        assert endpoints_of(client, namespace, "manual")["subsets"] == mine["subsets"]
        assert slices_of(client, namespace, "manual") == []
        wait_for(lambda: endpoints_of(client, namespace, "stale") is None, what="the stale Endpoints to go")


def test_publish_not_ready_and_headless_hostnames(cluster, client, namespace, kubelet):
    web_pod(client, namespace, "web-0", kubelet.nodes[0], hostname="web-0")
    with running(cluster, endpoint=EndpointsController(), endpointslice=EndpointSliceController()):
        service(client, namespace, headless=True, publish=True)
        wait_for(lambda: (endpoints_of(client, namespace) or {}).get("subsets"), what="the Endpoints")
        set_ready(client, namespace, "web-0", False)

        def unready_but_published():
            eps = [e for s in slices_of(client, namespace) for e in s.get("endpoints") or ()]
            return len(eps) == 1 and eps[0]["conditions"] == {"ready": True, "serving": False,
                                                              "terminating": False} and eps[0]
        endpoint = wait_for(unready_but_published, what="the unready pod to stay published as ready")
        assert endpoint["hostname"] == "web-0"
        ep = endpoints_of(client, namespace)
        assert ep["subsets"][0]["addresses"][0]["hostname"] == "web-0"
        assert ep["metadata"]["labels"] == {"team": "a", "service.kubernetes.io/headless": ""}


def test_endpoint_slices_of_a_service(cluster, client, namespace, kubelet):
    a, b = kubelet.nodes
    for n in range(5):
        web_pod(client, namespace, f"web-{n}", a if n % 2 else b)
    controllers = {"endpointslice": EndpointSliceController(max_endpoints_per_slice=3),
                   "garbagecollector": GarbageCollector()}
    with running(cluster, **controllers):
        svc = service(client, namespace)

        def five_endpoints():
            slices = slices_of(client, namespace)
            return sum(len(s.get("endpoints") or ()) for s in slices) == 5 and slices
        slices = wait_for(five_endpoints, what="five endpoints in slices")
        assert sorted(len(s["endpoints"]) for s in slices) == [2, 3]
        for slice_ in slices:
            assert slice_["metadata"]["labels"] == {"team": "a", "kubernetes.io/service-name": "web",
                                                    "endpointslice.kubernetes.io/managed-by": CONTROLLER_NAME}
            assert slice_["metadata"]["name"].startswith("web-")
            assert slice_["metadata"]["ownerReferences"][0]["uid"] == svc["metadata"]["uid"]
            assert slice_["addressType"] == "IPv4"
            assert slice_["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
            for endpoint in slice_["endpoints"]:
                assert endpoint["conditions"] == {"ready": True, "serving": True, "terminating": False}
                assert endpoint["targetRef"]["kind"] == "Pod"
                assert endpoint["nodeName"] in (a, b)

        # A terminating pod stays, no longer ready: kube-proxy may still finish its connections.
        client.resource("v1", "pods").create({
            "metadata": {"name": "held", "labels": {"app": "web"}, "finalizers": ["example.com/hold"]},
            "spec": {"nodeName": a, "containers": [{"name": "web", "image": "nginx",
                                                    "ports": [{"name": "http", "containerPort": 8080}]}]},
        }, namespace)
        wait_for(lambda: sum(len(s.get("endpoints") or ()) for s in slices_of(client, namespace)) == 6)
        kubelet.hang(a)
        client.resource("v1", "pods").delete("held", namespace)

        def terminating():
            eps = [e for s in slices_of(client, namespace) for e in s.get("endpoints") or ()
                   if e["targetRef"]["name"] == "held"]
            return eps and eps[0]["conditions"] == {"ready": False, "serving": True, "terminating": True}
        wait_for(terminating, what="the terminating pod to be marked terminating")
        client.resource("v1", "pods").patch("held", {"metadata": {"finalizers": None}}, namespace)
        kubelet.recover(a)

        cluster.kubectl("delete", "service", "web", "-n", namespace)
        wait_for(lambda: slices_of(client, namespace) == [], what="the slices to be collected with the Service")


def test_a_service_without_endpoints_has_a_placeholder_slice(cluster, client, namespace, kubelet):
    with running(cluster, endpointslice=EndpointSliceController()):
        service(client, namespace)
        slices = wait_for(lambda: slices_of(client, namespace), what="a placeholder slice")
        assert len(slices) == 1
        assert slices[0].get("endpoints") in (None, [])
        web_pod(client, namespace, "web-0", kubelet.nodes[0])

        def one_endpoint_in_the_same_slice():
            now = slices_of(client, namespace)
            return len(now) == 1 and len(now[0].get("endpoints") or ()) == 1 and now
        now = wait_for(one_endpoint_in_the_same_slice, what="the pod to join the placeholder slice")
        assert now[0]["metadata"]["uid"] == slices[0]["metadata"]["uid"]
