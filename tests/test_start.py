"""``kubelab start``: the README's main command, and the kind and kubeconfig backends."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from kubelab.cluster import Cluster, kubectl_binary
from kubelab.process import pid_alive

ROOT = Path(__file__).resolve().parent.parent


def readme_command(marker: str) -> str:
    text = (ROOT / "README.md").read_text()
    block = text.split(f"<!-- {marker} -->", 1)[1]
    return block.split("```", 2)[1].strip()


def read_until(process: subprocess.Popen[str], pattern: str, timeout: float) -> re.Match[str]:
    """Read the process's output line by line until ``pattern`` matches; fail with what it printed."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    os.set_blocking(process.stdout.fileno(), False)
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            time.sleep(0.1)
            continue
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    raise AssertionError(f"no line matching {pattern!r} within {timeout:.0f} s; output:\n{''.join(seen)[-3000:]}")


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read()


def stop_group(process: subprocess.Popen[str]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_ci_runs_the_readme_test_command_word_for_word():
    command = readme_command("test-command")
    assert "python -m pytest" in command
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert command in ci, f".ci/run does not run the README's test command {command!r}"
    assert ci[-1] == command, "the README's test command must be the last thing .ci/run does"


@pytest.mark.slow
def test_the_readme_main_command_opens_jupyterlab_on_the_labs_with_a_cluster(tmp_path):
    command = readme_command("main-command")
    assert command.endswith("kubelab start")
    checkout = tmp_path / "checkout"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True)
    for name in filter(None, files.stdout.split("\0")):
        source = ROOT / name
        if source.is_file() or source.is_symlink():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, checkout / name, follow_symlinks=False)
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.environ["PATH"], "HOME": str(home), "BROWSER": "true",
        "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip")),
    }
    process = subprocess.Popen(["bash", "-c", command], cwd=checkout, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        url = read_until(process, r"JupyterLab is ready: (\S+)", timeout=900).group(1)
        base, token = url.split("/lab?token=")
        status, body = get(f"{base}/api/status?token={token}")
        assert status == 200 and "started" in json.loads(body)
        kubeconfig = home / ".kubelab" / "clusters" / "kubelab" / "kubeconfig"
        nodes = subprocess.run([kubectl_binary(), "get", "nodes", "-o", "name"], capture_output=True, text=True,
                               env=dict(os.environ, KUBECONFIG=str(kubeconfig)), timeout=60)
        assert nodes.stdout.split() == ["node/node-1", "node/node-2"], nodes.stderr
        state = json.loads((home / ".kubelab" / "clusters" / "kubelab" / "state.json").read_text())
        pids = list(state["processes"].values())
    finally:
        stop_group(process)
    deadline = time.monotonic() + 20
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [p for p in pids if pid_alive(p)] == []


FAKE_KIND = textwrap.dedent(
    """\
    #!/usr/bin/env python3
    # A stand-in for kind's CLI: records each call; 'get kubeconfig' hands out a running embedded cluster's.
    import json, os, sys
    log = os.environ["FAKE_KIND_LOG"]
    with open(log, "a") as f:
        f.write(json.dumps(sys.argv[1:]) + "\\n")
    args = sys.argv[1:]
    created = os.path.exists(log + ".created")
    if args[:2] == ["get", "clusters"]:
        print("kubelab" if created else "No kind clusters found.", file=sys.stdout if created else sys.stderr)
    elif args[:2] == ["create", "cluster"]:
        config = args[args.index("--config") + 1]
        open(log + ".created", "w").write(open(config).read())
    elif args[:2] == ["get", "kubeconfig"]:
        print(open(os.environ["FAKE_KIND_KUBECONFIG"]).read())
    else:
        sys.exit(f"unexpected kind call {args}")
    """
)


def test_the_kind_backend_creates_the_cluster_through_kinds_cli_and_uses_its_kubeconfig(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kind").write_text(FAKE_KIND)
    (bin_dir / "kind").chmod(0o755)
    log = tmp_path / "kind.log"
    with Cluster() as real:
        env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", FAKE_KIND_LOG=str(log),
                   FAKE_KIND_KUBECONFIG=str(real.kubeconfig), HOME=str(tmp_path))
        process = subprocess.Popen(
            [sys.executable, "-m", "kubelab", "start", "--backend", "kind", "--nodes", "3", "--no-browser",
             "--workspace", str(tmp_path / "ws"), "--port", "18888"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        try:
            read_until(process, r"using kind cluster 'kubelab' at https://127.0.0.1", timeout=120)
            read_until(process, r"JupyterLab is ready", timeout=120)
        finally:
            stop_group(process)
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls[0] == ["get", "clusters"]
    assert calls[1][:4] == ["create", "cluster", "--name", "kubelab"]
    assert calls[2] == ["get", "kubeconfig", "--name", "kubelab"]
    config = (tmp_path / "kind.log.created").read_text()
    assert config.count("role: worker") == 3 and config.count("role: control-plane") == 1
    assert (tmp_path / "ws" / ".kubelab" / "kind-kubelab.kubeconfig").read_text().strip()


def test_an_unreachable_kubeconfig_is_a_clear_error(tmp_path):
    config = tmp_path / "config"
    config.write_text(textwrap.dedent("""\
        apiVersion: v1
        kind: Config
        clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
        users: [{name: u, user: {token: t}}]
        contexts: [{name: x, context: {cluster: c, user: u}}]
        current-context: x
    """))
    result = subprocess.run(
        [sys.executable, "-m", "kubelab", "start", "--backend", "kubeconfig", "--kubeconfig", str(config),
         "--workspace", str(tmp_path / "ws"), "--no-browser"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert f"the cluster in {config} does not answer" in result.stderr
