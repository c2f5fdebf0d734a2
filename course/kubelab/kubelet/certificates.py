"""The kubelet's serving certificate, signed by the cluster's CA for the node's address.

The API server reaches a kubelet over HTTPS at the node's InternalIP (for logs, exec and
port-forward); the certificate names that address and the node's name, as a kubelet's
``--tls-cert-file`` (or its bootstrapped serving certificate) does.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubelab.paths import ClusterDir

VALIDITY = dt.timedelta(days=3650)


def serving_certificate(cluster: ClusterDir, node: str, ip: str) -> tuple[Path, Path]:
    """The node's ``kubelet.crt`` and ``kubelet.key`` (made on first use, remade if the address changed)."""
    directory = cluster.node(node) / "pki"
    cert_path, key_path = directory / "kubelet.crt", directory / "kubelet.key"
    if cert_path.exists() and key_path.exists():
        existing = x509.load_pem_x509_certificate(cert_path.read_bytes())
        names = existing.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        if ipaddress.ip_address(ip) in names.get_values_for_type(x509.IPAddress):
            return cert_path, key_path
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca_key = serialization.load_pem_private_key(cluster.ca_key.read_bytes(), password=None)
    ca = x509.load_pem_x509_certificate(cluster.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{node}"),
                                 x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(node), x509.IPAddress(ipaddress.ip_address(ip))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    key_path.touch(mode=0o600, exist_ok=True)
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path
