"""The ingress controller on a real embedded cluster: routing by host and path, TLS, status, events, S3."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import socket
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubelab import network
from kubelab.client import Client
from kubelab.cloud import ServiceController
from kubelab.cluster import Cluster
from kubelab.ingress import CLASS_NAME, IngressController
from kubelab.ingress.controller import SERVICE_NAME, SERVICE_NAMESPACE
from kubelab.process import ManagedProcess
from kubelab.proxy import KubeProxy
from network_helpers import Backend, curl, endpoint_slice, pod_ip
from waiting import eventually

HTTP, HTTPS = network.host_port(80), network.host_port(443)


@pytest.fixture(scope="module")
def backends(client: Client, cluster: Cluster) -> Iterator[dict[str, Backend]]:
    started = {name: Backend(pod_ip(cluster.addresses, 0, host), 8080, name)
               for host, name in ((2, "web"), (3, "api"), (4, "shop"))}
    for name, backend in started.items():
        client.resource("v1", "services").create(
            {"metadata": {"name": name}, "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
        client.resource("discovery.k8s.io/v1", "endpointslices").create(
            endpoint_slice(name, [(backend.ip, True)], node="node-1"))
    yield started
    for backend in started.values():
        backend.stop()


@pytest.fixture(scope="module")
def controller(cluster: Cluster, backends: dict[str, Backend]) -> Iterator[IngressController]:
    c = IngressController(addresses=cluster.addresses)
    c.start(cluster.api_client())
    yield c
    c.stop()


class Front:
    """Requests to the ingress controller at ``address``, by host name."""

    def __init__(self, address: str) -> None:
        self.address = address

    def request(self, path: str, host: str, *, address: str = "", port: int = HTTP, tls: ssl.SSLContext | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """One HTTP/1.1 request with this Host header (and SNI, over TLS); status, headers, body."""
        with socket.create_connection((address or self.address, port), timeout=10) as raw:
            s = tls.wrap_socket(raw, server_hostname=host) if tls else raw
            lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: close",
                     *[f"{k}: {v}" for k, v in (headers or {}).items()]]
            s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode().split("\r\n")
        parsed = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
        return int(status_line.split()[1]), parsed, body

    def served_by(self, path: str, host: str, **options: Any) -> str:
        status, _, body = self.request(path, host, **options)
        assert status == 200, (status, body[:300])
        return str(json.loads(body)["name"])


@pytest.fixture
def front(controller: IngressController) -> Front:
    return Front(controller.address)


def create_ingress(client: Client, name: str, spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return client.resource("networking.k8s.io/v1", "ingresses").create(
        {"metadata": {"name": name, **metadata}, "spec": spec})


def path(value: str, service: str, kind: str = "Prefix") -> dict[str, Any]:
    return {"path": value, "pathType": kind, "backend": {"service": {"name": service, "port": {"number": 80}}}}


@pytest.fixture(scope="module")
def myapp(client: Client, controller: IngressController) -> str:
    """The Ingress of scenario S3: www.myapp.com routed by path, and a wildcard host."""
    create_ingress(client, "myapp", {"ingressClassName": CLASS_NAME, "rules": [
        {"host": "www.myapp.com", "http": {"paths": [path("/", "web"), path("/api", "api"),
                                                     path("/api/exact", "shop", "Exact")]}},
        {"host": "*.shop.com", "http": {"paths": [path("/", "shop")]}},
    ]})
    return "myapp"


def reasons(client: Client, name: str) -> dict[str, str]:
    events = client.resource("v1", "events").list("default", field_selector=f"involvedObject.name={name}")["items"]
    return {e["reason"]: e["message"] for e in events}


def test_the_ingress_class_is_created_as_the_default(client: Client, controller: IngressController) -> None:
    ingress_class = client.resource("networking.k8s.io/v1", "ingressclasses").get(CLASS_NAME)
    assert ingress_class["spec"]["controller"] == "kubelab.io/ingress-controller"
    assert ingress_class["metadata"]["annotations"]["ingressclass.kubernetes.io/is-default-class"] == "true"


def test_requests_are_routed_by_host_and_path(client: Client, controller: IngressController, myapp: str, front: Front) -> None:
    assert eventually(lambda: front.served_by("/", "www.myapp.com")) == "web"
    assert front.served_by("/api/users?x=1", "www.myapp.com") == "api"
    assert front.served_by("/apis", "www.myapp.com") == "web"
    assert front.served_by("/api/exact", "www.myapp.com") == "shop"
    assert front.served_by("/", "cart.shop.com") == "shop"
    status, headers, body = front.request("/", "unknown.example.com")
    assert status == 404 and b"404 Not Found" in body and headers["server"] == "kubelab-ingress"


def test_backends_see_the_forwarded_headers(client: Client, controller: IngressController, myapp: str, front: Front) -> None:
    eventually(lambda: front.served_by("/", "www.myapp.com"))
    status, _, body = front.request("/hello", "www.myapp.com", headers={"X-Forwarded-For": "203.0.113.9"})
    seen = json.loads(body)["headers"]
    assert status == 200 and seen["host"] == "www.myapp.com"
    assert seen["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert seen["x-real-ip"] == "127.0.0.1"
    assert (seen["x-forwarded-host"], seen["x-forwarded-proto"], seen["x-forwarded-port"]) == (
        "www.myapp.com", "http", "80")
    assert len(seen["x-request-id"]) == 32


def test_the_default_backend_takes_what_no_rule_matches(client: Client, controller: IngressController, front: Front) -> None:
    create_ingress(client, "fallback", {"defaultBackend": {"service": {"name": "api", "port": {"number": 80}}}})
    assert eventually(lambda: front.served_by("/", "unknown.example.com")) == "api"
    client.resource("networking.k8s.io/v1", "ingresses").delete("fallback", "default")
    eventually(lambda: front.request("/", "unknown.example.com")[0] == 404)


def test_other_classes_are_left_alone(client: Client, controller: IngressController, front: Front) -> None:
    create_ingress(client, "theirs", {"ingressClassName": "nginx", "rules": [
        {"host": "theirs.example.com", "http": {"paths": [path("/", "web")]}}]})
    # Created after theirs, served once the controller has seen both.
    create_ingress(client, "marker", {"ingressClassName": CLASS_NAME, "rules": [
        {"host": "marker.example.com", "http": {"paths": [path("/", "web")]}}]})
    eventually(lambda: front.served_by("/", "marker.example.com"))
    assert front.request("/", "theirs.example.com")[0] == 404
    theirs = client.resource("networking.k8s.io/v1", "ingresses").get("theirs", "default")
    assert not (theirs.get("status") or {}).get("loadBalancer")


def test_missing_services_and_secrets_are_events_and_errors(client: Client, controller: IngressController, front: Front) -> None:
    create_ingress(client, "broken", {"rules": [{"host": "broken.example.com", "http": {"paths": [path("/", "ghost")]}}],
                                      "tls": [{"hosts": ["broken.example.com"], "secretName": "no-such-secret"}]})
    found = eventually(lambda: (r := reasons(client, "broken")) and {"ServiceNotFound", "SecretNotFound"} <= set(r)
                       and r)
    assert found["ServiceNotFound"] == 'Service "default/ghost" does not exist'
    assert found["SecretNotFound"] == 'Secret "default/no-such-secret" does not exist'
    assert "Sync" in found
    assert front.request("/", "broken.example.com")[0] == 503


def _certificate(host: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def test_tls_is_terminated_with_the_hosts_certificate(client: Client, controller: IngressController, myapp: str, front: Front,
                                                      tmp_path: Path) -> None:
    cert, key = _certificate("secure.example.com")
    client.resource("v1", "secrets").create({"metadata": {"name": "secure-tls"}, "type": "kubernetes.io/tls", "data": {
        "tls.crt": base64.b64encode(cert).decode(), "tls.key": base64.b64encode(key).decode()}})
    create_ingress(client, "secure", {"tls": [{"hosts": ["secure.example.com"], "secretName": "secure-tls"}], "rules": [
        {"host": "secure.example.com", "http": {"paths": [path("/", "web")]}}]})
    (tmp_path / "ca.pem").write_bytes(cert)
    trusting = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    assert eventually(lambda: front.served_by("/", "secure.example.com", port=HTTPS, tls=trusting)) == "web"
    status, _, body = front.request("/", "secure.example.com", port=HTTPS, tls=trusting)
    assert json.loads(body)["headers"]["x-forwarded-proto"] == "https"
    status, headers, _ = front.request("/page?q=1", "secure.example.com")
    assert status == 308 and headers["location"] == "https://secure.example.com/page?q=1"
    # A host without a certificate of its own gets the controller's fake one.
    insecure = ssl.create_default_context()
    insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((controller.address, HTTPS), timeout=5) as raw, \
            insecure.wrap_socket(raw, server_hostname="www.myapp.com") as s:
        peer = x509.load_der_x509_certificate(s.getpeercert(binary_form=True))
    assert peer.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == \
        "Kubernetes Ingress Controller Fake Certificate"


def test_exposing_an_app_through_a_load_balancer_and_an_ingress(client: Client, cluster: Cluster,
                                                                controller: IngressController, myapp: str, front: Front) -> None:
    """Scenario S3: the controller behind its LoadBalancer Service; the Ingress shows that IP; curl reaches the app."""
    def address() -> str:
        ingress = client.resource("networking.k8s.io/v1", "ingresses").get("myapp", "default")
        entries = ((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        return str(entries[0]["ip"]) if entries else ""

    assert eventually(address) == controller.address
    service = client.resource("v1", "services").get(SERVICE_NAME, SERVICE_NAMESPACE)
    assert service["spec"]["type"] == "LoadBalancer"
    cloud = ServiceController(cluster.addresses)
    proxy = KubeProxy("node-1", addresses=cluster.addresses, node_ip=cluster.addresses.node_ip(0), metrics_port=0)
    cloud.start(cluster.api_client())
    proxy.start(cluster.api_client())
    try:
        lb_ip = eventually(lambda: address() != controller.address and address())
        assert ipaddress.ip_address(lb_ip) in cluster.addresses.load_balancer_network
        url = f"http://{lb_ip}:{HTTP}/api"
        assert json.loads(eventually(lambda: curl(url, host="www.myapp.com")))["name"] == "api"
        assert "www.myapp.com" in cluster.kubectl("get", "ingress", "myapp").stdout
        assert lb_ip in cluster.kubectl("get", "ingress", "myapp").stdout
    finally:
        proxy.stop()
        cloud.stop()


def test_as_a_process(client: Client, cluster: Cluster, controller: IngressController, myapp: str, front: Front) -> None:
    address = pod_ip(cluster.addresses, 0, 81)
    process = ManagedProcess(
        "ingress-controller",
        [sys.executable, "-m", "kubelab", "ingress-controller", "--kubeconfig", str(cluster.kubeconfig),
         "--address-slot", str(cluster.addresses.slot), "--bind-address", address, "--no-publish"],
        cluster.dir.log("ingress-controller"),
    )
    process.start()
    try:
        assert eventually(lambda: front.served_by("/", "www.myapp.com", address=address)) == "web"
    finally:
        process.stop()


def test_a_second_controller_on_the_same_address_fails_clearly(cluster: Cluster,
                                                               controller: IngressController) -> None:
    with pytest.raises(OSError, match=f"cannot listen on {controller.address}"):
        IngressController(addresses=cluster.addresses, publish=False).start(cluster.api_client())


def test_where_ports_80_and_443_cannot_be_bound_the_controller_uses_10080_and_10443(
    cluster: Cluster, controller: IngressController, myapp: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(network, "can_bind_privileged", lambda: False)
    unprivileged = IngressController(addresses=cluster.addresses, address=pod_ip(cluster.addresses, 0, 82),
                                     publish=False)
    unprivileged.start(cluster.api_client())
    try:
        assert (unprivileged.proxy.http_port, unprivileged.proxy.https_port) == (10080, 10443)
        assert eventually(lambda: Front(unprivileged.address).served_by("/", "www.myapp.com", port=10080)) == "web"
    finally:
        unprivileged.stop()
