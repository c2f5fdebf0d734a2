import ssl

from cryptography import x509

from kubelab.paths import ClusterDir
from kubelab.pki import ensure_pki


def test_server_certificate_is_signed_by_the_cluster_ca_for_loopback_names(tmp_path):
    cluster = ClusterDir(tmp_path / "c1")
    ensure_pki(cluster)
    cert = x509.load_pem_x509_certificate(cluster.server_cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "kubernetes.default.svc" in names.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    context = ssl.create_default_context(cafile=str(cluster.ca_cert))
    assert len(context.get_ca_certs()) == 1
    assert oct(cluster.ca_key.stat().st_mode & 0o777) == "0o600"
    assert oct(cluster.token.stat().st_mode & 0o777) == "0o600"


def test_existing_pki_is_kept(tmp_path):
    cluster = ClusterDir(tmp_path / "c1")
    ensure_pki(cluster)
    before = (cluster.ca_cert.read_bytes(), cluster.token.read_text())
    ensure_pki(cluster)
    assert (cluster.ca_cert.read_bytes(), cluster.token.read_text()) == before
