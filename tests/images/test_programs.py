"""The catalogue's programs on their own, run as a container would run them."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubelab import images


def _pod_ip() -> str:
    return f"127.201.{random.randint(0, 255)}.{random.randint(2, 254)}"


def _get(url: str, method: str = "GET", data: bytes | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(request, timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class Program:
    """One image program running as a process, with the environment the runtime gives it."""

    def __init__(self, root: Path, program: str, *args: str, env: dict[str, str] | None = None,
                 python_flags: tuple[str, ...] = ("-SEu",)) -> None:
        self.ip = _pod_ip()
        root.mkdir(parents=True, exist_ok=True)
        self.env = {"PATH": os.environ["PATH"], "KUBELAB_POD_IP": self.ip, "KUBELAB_ROOT": str(root),
                    "HOSTNAME": "test-pod", **(env or {})}
        argv = [sys.executable, *python_flags, str(images.PROGRAMS / program), *args] if program else list(args)
        self.process = subprocess.Popen(argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def wait_http(self, port: int, path: str = "/") -> tuple[int, str]:
        deadline = time.monotonic() + 10
        while True:
            try:
                return _get(f"http://{self.ip}:{port}{path}")
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.02)

    def stop(self) -> tuple[str, str]:
        self.process.terminate()
        out, err = self.process.communicate(timeout=10)
        return out.decode(), err.decode()


@pytest.fixture
def programs(tmp_path: Path) -> Iterator[list[Program]]:
    started: list[Program] = []
    yield started
    for p in started:
        if p.process.poll() is None:
            p.process.kill()
            p.process.wait()


def test_kv_keeps_its_keys_across_restarts(tmp_path, programs):
    kv = Program(tmp_path / "root", "kv.py")
    programs.append(kv)
    assert kv.wait_http(8080, "/healthz")[0] == 200
    assert _get(f"http://{kv.ip}:8080/keys/colour", "PUT", b"blue") == (201, "stored\n")
    kv.stop()
    again = Program(tmp_path / "root", "kv.py")
    programs.append(again)
    assert again.wait_http(8080, "/keys/colour") == (200, "blue")
    assert _get(f"http://{again.ip}:8080/keys") == (200, "colour\n")
    assert _get(f"http://{again.ip}:8080/keys/missing")[0] == 404
    assert (tmp_path / "root" / "data" / "colour").read_text() == "blue"


def test_crash_says_what_is_missing(tmp_path):
    result = subprocess.run([sys.executable, "-SEu", str(images.PROGRAMS / "crash.py")], capture_output=True,
                            text=True, env={"KUBELAB_ROOT": str(tmp_path)}, timeout=10)
    assert result.returncode == 1
    assert "FATAL: DATABASE_URL is not set" in result.stderr


def test_crash_says_what_it_could_not_reach(tmp_path):
    result = subprocess.run([sys.executable, "-SEu", str(images.PROGRAMS / "crash.py")], capture_output=True,
                            text=True, env={"DATABASE_URL": "postgres://127.0.0.1:1"}, timeout=10)
    assert result.returncode == 1
    assert "FATAL: could not connect to database at 127.0.0.1:1: Connection refused" in result.stderr


def test_web_answers_with_its_version_and_pod(tmp_path, programs):
    web = Program(tmp_path, "web.py", env={"VERSION": "v2"})
    programs.append(web)
    status, body = web.wait_http(8080)
    assert status == 200 and body.startswith("Hello from kubelab/web v2 on pod test-pod")
    assert _get(f"http://{web.ip}:8080/version") == (200, "v2\n")


def test_nginx_serves_files_from_its_root_and_404s_like_nginx(tmp_path, programs):
    html = tmp_path / "usr/share/nginx/html"
    html.mkdir(parents=True)
    (html / "index.html").write_text("custom page")
    nginx = Program(tmp_path, "nginx.py", env={"KUBELAB_PORT_OFFSET": "10000", "NGINX_VERSION": "1.27.3"})
    programs.append(nginx)
    assert nginx.wait_http(10080) == (200, "custom page")
    status, body = _get(f"http://{nginx.ip}:10080/missing")
    assert status == 404 and "<center>nginx/1.27.3</center>" in body
    out, err = nginx.stop()
    assert '"GET / HTTP/1.1" 200 11' in out
    assert 'open() "/usr/share/nginx/html/missing" failed (2: No such file or directory)' in err


def test_http_echo_answers_with_its_text(tmp_path, programs):
    echo = Program(tmp_path, "echo.py", "-listen=:5678", "-text=apple")
    programs.append(echo)
    assert echo.wait_http(5678) == (200, "apple\n")


def test_echo_server_reports_the_request(tmp_path, programs):
    echo = Program(tmp_path, "echo.py")
    programs.append(echo)
    status, body = echo.wait_http(8080, "/some/path?x=1")
    assert status == 200
    assert "Hostname: test-pod" in body and "real path=/some/path" in body and "query=x=1" in body


def test_agnhost_liveness_is_healthy_at_first(tmp_path, programs):
    agnhost = Program(tmp_path, "agnhost.py", "liveness")
    programs.append(agnhost)
    assert agnhost.wait_http(8080, "/healthz") == (200, "ok")


def test_agnhost_rejects_unknown_commands(tmp_path):
    result = subprocess.run([sys.executable, "-SEu", str(images.PROGRAMS / "agnhost.py"), "frobnicate"],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 1 and 'unknown command "frobnicate"' in result.stderr


def test_the_python_image_binds_to_the_pod_and_moves_privileged_ports(tmp_path, programs):
    server = Program(tmp_path, "", sys.executable, "-m", "http.server", "80", "--directory", str(tmp_path),
                     env={"PYTHONPATH": str(images.PYTHON_SITE), "KUBELAB_PORT_OFFSET": "10000"})
    programs.append(server)
    (tmp_path / "hello.txt").write_text("from python")
    assert server.wait_http(10080, "/hello.txt") == (200, "from python")


def test_stress_fails_clearly_on_bad_flags():
    result = subprocess.run([sys.executable, "-SEu", str(images.PROGRAMS / "stress.py"), "--cpu"],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 1 and result.stderr.startswith("usage: stress")
