"""A whole cluster run by an ordinary user: nginx's port 80 still works, through the remap, and says so.

CI runs as root, which may bind any port and would hide the problem learners meet. So, as
root, this test drops to uid 65534 (nobody) with a home of its own. Where the interpreter
lives in a directory nobody may enter (``/root/.pyenv``), the run happens in a private mount
namespace in which that directory is replaced by one holding only what is needed; nothing
changes outside that namespace.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import kubelab

NOBODY = 65534
REPO_COURSE = Path(kubelab.__file__).resolve().parent.parent

CHILD = textwrap.dedent(
    """
    import json, os, sys, time, urllib.error, urllib.request
    from kubelab import network
    from kubelab.client import Client
    from kubelab.cluster import Cluster
    from kubelab.kubelet import runtime_daemon
    from kubelab.kubelet.kubelet import Kubelet
    from kubelab.process import ManagedProcess

    def get(url):
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read().decode()
        except urllib.error.URLError as e:
            return "error: " + str(e.reason)

    index = int(sys.argv[1])
    result = {"uid": os.getuid(), "can_bind_privileged": network.can_bind_privileged()}
    with Cluster() as cluster:
        runtime = ManagedProcess("rt", runtime_daemon.argv(cluster.dir, "node-1"), cluster.dir.log("rt"))
        runtime.start()
        kubelet = Kubelet("node-1", cluster_dir=cluster.dir, node_index=index)
        kubelet.start(cluster.api_client())
        client = Client(cluster.api_client())
        client.resource("v1", "pods").create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
            "spec": {"nodeName": "node-1", "containers": [{"name": "nginx", "image": "nginx",
                                                           "ports": [{"containerPort": 80}]}]}})
        deadline = time.monotonic() + 30
        pod = {}
        while time.monotonic() < deadline:
            pod = client.resource("v1", "pods").get("web", "default")
            statuses = pod.get("status", {}).get("containerStatuses") or []
            if statuses and statuses[0].get("ready"):
                break
            time.sleep(0.1)
        ip = pod["status"]["podIP"]
        time.sleep(0.5)
        result["remapped"] = get(f"http://{ip}:10080/")
        result["port_80"] = get(f"http://{ip}:80/")
        events = client.resource("v1", "events").list("default", field_selector="involvedObject.name=web")["items"]
        result["events"] = {e["reason"]: e["message"] for e in events}
        container_id = pod["status"]["containerStatuses"][0]["containerID"].removeprefix("kubelab://")
        result["container_uid"] = os.stat(f"/proc/{kubelet.runtime.container_status(container_id).pid}").st_uid
        kubelet.stop()
        runtime.stop()
    print(json.dumps(result))
    """
)


def _blocking_ancestor(path: Path) -> tuple[Path, Path] | None:
    """The first directory above ``path`` that others may not enter, and its child on the way to ``path``."""
    parts = path.resolve().parts
    for depth in range(1, len(parts)):
        directory = Path(*parts[:depth])
        if not os.stat(directory).st_mode & 0o001:
            return directory, Path(*parts[: depth + 1])
    return None


def _run_as_nobody(tmp: Path) -> subprocess.CompletedProcess[str]:
    script = tmp / "child.py"
    script.write_text(CHILD)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp), "KUBELAB_HOME": str(tmp / "kubelab"),
           "TMPDIR": str(tmp), "PYTHONPATH": str(REPO_COURSE)}
    python = [sys.executable, str(script), "0"]
    if os.geteuid() != 0:
        return subprocess.run(python, env=env, capture_output=True, text=True, timeout=120)
    needed = {Path(sys.executable), Path(os.path.realpath(sys.executable)), Path(sys.prefix), Path(sys.base_prefix),
              REPO_COURSE}
    blocked: dict[Path, set[Path]] = {}
    for path in needed:
        found = _blocking_ancestor(path)
        if found:
            blocked.setdefault(found[0], set()).add(found[1])
    lines = ["set -e"]
    for n, (directory, children) in enumerate(sorted(blocked.items())):
        # Keep what is needed, hide the rest of the directory behind an empty one others may enter.
        for m, child in enumerate(sorted(children)):
            lines.append(f"mkdir -p {tmp}/keep/{n}-{m} && mount --bind {shlex.quote(str(child))} {tmp}/keep/{n}-{m}")
        lines.append(f"mount -t tmpfs -o mode=755 tmpfs {shlex.quote(str(directory))}")
        for m, child in enumerate(sorted(children)):
            lines.append(f"mkdir -p {shlex.quote(str(child))} && mount --bind {tmp}/keep/{n}-{m} "
                         f"{shlex.quote(str(child))}")
    lines.append(f"exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups -- "
                 + " ".join(shlex.quote(a) for a in python))
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(lines)],
                          env=env, capture_output=True, text=True, timeout=120)


def test_nginx_on_port_80_works_for_an_ordinary_user():
    tmp = Path(tempfile.mkdtemp(prefix="kubelab-nobody-"))
    try:
        if os.geteuid() == 0:
            os.chown(tmp, NOBODY, NOBODY)
        result = _run_as_nobody(tmp)
        assert result.returncode == 0, result.stderr[-3000:]
        report = json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        subprocess.run(["rm", "-rf", str(tmp)], check=False)
    assert report["uid"] != 0
    assert report["can_bind_privileged"] is False
    assert "Welcome to nginx!" in report["remapped"]
    assert report["port_80"].startswith("error:")
    message = report["events"]["PortRemapped"]
    assert "Container port 80 is served on " in message and ":10080" in message
    assert "sudo sysctl net.ipv4.ip_unprivileged_port_start=0" in message
    assert report["container_uid"] == report["uid"]
