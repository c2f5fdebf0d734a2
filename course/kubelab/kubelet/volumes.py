"""A pod's volumes as directories on the node, and its containers' mounts of them.

Each volume of a pod is set up under ``pods/<uid>/volumes/kubernetes.io~<plugin>/<name>/``
(the kubelet's own layout):

- ``emptyDir``: an empty directory that lives as long as the pod;
- ``configMap``, ``secret``, ``downwardAPI``, ``projected``: files written atomically, as
  the kubelet's ``AtomicWriter`` does (a ``..data`` symlink to a timestamped directory,
  swapped on each change), and kept up to date while the pod runs;
- ``persistentVolumeClaim``: the bound PersistentVolume's ``hostPath`` or ``local`` path.
  A claim no one has bound is provisioned here, as kind's local-path provisioner would:
  a directory under the node (``nodes/<node>/local-path/pvc-<uid>_<ns>_<name>``) and a
  PersistentVolume for it, bound to the claim. It outlives the pod, so data survives restarts.
- ``hostPath``: the host directory itself.

A volume that cannot be set up raises :class:`MountError` with upstream's message
(``MountVolume.SetUp failed for volume "x" : configmap "x" not found``).
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kubelab import errors
from kubelab.client import Client
from kubelab.kubelet import env
from kubelab.kubelet.runtime import Mount

Obj = Mapping[str, Any]
Lookup = Callable[[str, str], Obj | None]
PLUGINS = {
    "emptyDir": "kubernetes.io~empty-dir",
    "configMap": "kubernetes.io~configmap",
    "secret": "kubernetes.io~secret",
    "downwardAPI": "kubernetes.io~downward-api",
    "projected": "kubernetes.io~projected",
    "persistentVolumeClaim": "kubernetes.io~local-volume",
}
PROVISIONER = "rancher.io/local-path"
TERMINATION_LOG = "/dev/termination-log"


class MountError(Exception):
    """A volume could not be set up; the message is the FailedMount event's."""


def write_atomically(directory: Path, files: Mapping[str, tuple[bytes, int]]) -> bool:
    """Make ``directory`` hold exactly ``files`` (relative path → content, mode); True if anything changed.

    Readers never see a half-written set: the files go into a fresh hidden directory, then
    the ``..data`` symlink is switched to it in one rename.
    """
    directory.mkdir(parents=True, exist_ok=True)
    data_link = directory / "..data"
    current: dict[str, tuple[bytes, int]] = {}
    if data_link.is_symlink():
        target = directory / os.readlink(data_link)
        for path in target.rglob("*"):
            if path.is_file():
                current[str(path.relative_to(target))] = (path.read_bytes(), path.stat().st_mode & 0o777)
    if data_link.is_symlink() and current == dict(files):
        return False
    stamp = f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns() % 10**9}"
    fresh = directory / stamp
    fresh.mkdir()
    for relative, (content, mode) in files.items():
        path = fresh / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(mode)
    old = os.readlink(data_link) if data_link.is_symlink() else None
    tmp_link = directory / "..data_tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp_link.unlink()
    tmp_link.symlink_to(stamp)
    tmp_link.replace(data_link)
    tops = {relative.split("/", 1)[0] for relative in files}
    for entry in directory.iterdir():
        if not entry.name.startswith("..") and entry.name not in tops:
            entry.unlink()
    for top in tops:
        link = directory / top
        if not link.is_symlink():
            link.symlink_to(f"..data/{top}")
    if old:
        shutil.rmtree(directory / old, ignore_errors=True)
    return True


def _items(data: Mapping[str, bytes], items: list[Obj] | None, default_mode: int, what: str,
           optional: bool) -> dict[str, tuple[bytes, int]]:
    if not items:
        return {key: (value, default_mode) for key, value in data.items()}
    out = {}
    for item in items:
        key = item.get("key", "")
        if key not in data:
            if optional:
                continue
            raise MountError(f"configmap references non-existent config key: {key}" if what == "configmap"
                             else f"references non-existent secret key: {key}")
        out[item.get("path") or key] = (data[key], int(item.get("mode") or default_mode))
    return out


class VolumeManager:
    """Sets up the volumes of the pods on one node and says where each container mount goes."""

    def __init__(
        self, node_dir: Path, node_name: str, client: Client | None, *, config_maps: Lookup, secrets: Lookup,
        token: str = "", ca_cert: bytes = b"",
    ) -> None:
        self.node_dir = node_dir
        self.node_name = node_name
        self.client = client
        self.config_maps = config_maps
        self.secrets = secrets
        self.token = token
        self.ca_cert = ca_cert
        self._lock = threading.Lock()

    def pod_dir(self, uid: str) -> Path:
        return self.node_dir / "pods" / uid

    def volume_dir(self, uid: str, plugin: str, name: str) -> Path:
        return self.pod_dir(uid) / "volumes" / PLUGINS[plugin] / name

    # -- setting up ---------------------------------------------------------------------------

    def set_up(self, pod: Obj) -> dict[str, str]:
        """Set up (or refresh) every volume of ``pod``; return volume name → host path."""
        meta = pod.get("metadata") or {}
        uid, namespace = meta["uid"], meta.get("namespace") or "default"
        paths = {}
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            name = volume["name"]
            try:
                paths[name] = self._set_up_one(pod, uid, namespace, volume)
            except MountError as e:
                raise MountError(f'MountVolume.SetUp failed for volume "{name}" : {e}') from e
        return paths

    def _set_up_one(self, pod: Obj, uid: str, namespace: str, volume: Obj) -> str:
        name = volume["name"]
        if "hostPath" in volume:
            return self._host_path(volume["hostPath"])
        if "persistentVolumeClaim" in volume:
            return self._claim(namespace, volume["persistentVolumeClaim"].get("claimName", ""), pod)
        for plugin in ("configMap", "secret", "downwardAPI", "projected"):
            if plugin in volume:
                directory = self.volume_dir(uid, plugin, name)
                write_atomically(directory, self._files(pod, namespace, plugin, volume[plugin]))
                return str(directory)
        directory = self.volume_dir(uid, "emptyDir", name)
        directory.mkdir(parents=True, exist_ok=True)
        return str(directory)

    def _files(self, pod: Obj, namespace: str, plugin: str, source: Obj) -> dict[str, tuple[bytes, int]]:
        mode = int(source.get("defaultMode") or 0o644)
        optional = bool(source.get("optional"))
        if plugin == "configMap":
            cm = self.config_maps(namespace, source.get("name", ""))
            if cm is None:
                if optional:
                    return {}
                raise MountError(f'configmap "{source.get("name", "")}" not found')
            data = {k: v.encode() for k, v in (cm.get("data") or {}).items()}
            data.update({k: base64.b64decode(v) for k, v in (cm.get("binaryData") or {}).items()})
            return _items(data, source.get("items"), mode, "configmap", optional)
        if plugin == "secret":
            secret = self.secrets(namespace, source.get("secretName", ""))
            if secret is None:
                if optional:
                    return {}
                raise MountError(f'secret "{source.get("secretName", "")}" not found')
            data = {k: v.encode() for k, v in env.secret_data(secret).items()}
            return _items(data, source.get("items"), mode, "secret", optional)
        if plugin == "downwardAPI":
            return self._downward(pod, source.get("items") or [], mode)
        files: dict[str, tuple[bytes, int]] = {}
        for projection in source.get("sources") or []:
            if "configMap" in projection:
                files.update(self._files(pod, namespace, "configMap", {"defaultMode": mode, **projection["configMap"]}))
            elif "secret" in projection:
                secret_source = {"defaultMode": mode, "secretName": projection["secret"].get("name", ""),
                                 **projection["secret"]}
                files.update(self._files(pod, namespace, "secret", secret_source))
            elif "downwardAPI" in projection:
                files.update(self._downward(pod, projection["downwardAPI"].get("items") or [], mode))
            elif "serviceAccountToken" in projection:
                files[projection["serviceAccountToken"].get("path") or "token"] = (self.token.encode(), mode)
        return files

    def _downward(self, pod: Obj, items: list[Obj], mode: int) -> dict[str, tuple[bytes, int]]:
        files = {}
        containers = {c["name"]: c for c in (pod.get("spec") or {}).get("containers") or []}
        for item in items:
            try:
                if "fieldRef" in item:
                    value = env.field_value(pod, item["fieldRef"].get("fieldPath", ""))
                else:
                    ref = item.get("resourceFieldRef") or {}
                    container = containers.get(ref.get("containerName", ""), {})
                    value = env.resource_value(container, ref, {})
            except env.ConfigError as e:
                raise MountError(str(e)) from e
            files[item["path"]] = (value.encode(), int(item.get("mode") or mode))
        return files

    @staticmethod
    def _host_path(source: Obj) -> str:
        path = Path(source.get("path", ""))
        kind = source.get("type") or ""
        if kind == "DirectoryOrCreate":
            path.mkdir(parents=True, exist_ok=True)
        elif kind == "FileOrCreate" and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        elif kind == "Directory" and not path.is_dir():
            raise MountError(f"hostPath type check failed: {path} is not a directory")
        elif kind == "File" and not path.is_file():
            raise MountError(f"hostPath type check failed: {path} is not a file")
        return str(path)

    # -- persistent volume claims ----------------------------------------------------------------

    def _claim(self, namespace: str, claim_name: str, pod: Obj) -> str:
        if self.client is None:
            raise MountError("persistent volume claims need the API server")
        claims = self.client.resource("v1", "persistentvolumeclaims")
        volumes = self.client.resource("v1", "persistentvolumes")
        with self._lock:
            try:
                claim = claims.get(claim_name, namespace)
            except errors.NotFound:
                raise MountError(f'persistentvolumeclaim "{claim_name}" not found') from None
            volume_name = (claim.get("spec") or {}).get("volumeName")
            if not volume_name:
                return self._provision(claim)
            try:
                volume = volumes.get(volume_name)
            except errors.NotFound:
                raise MountError(f'persistentvolume "{volume_name}" not found') from None
        spec = volume.get("spec") or {}
        path = (spec.get("hostPath") or {}).get("path") or (spec.get("local") or {}).get("path")
        if not path:
            raise MountError(f'persistentvolume "{volume_name}" has no hostPath or local path this node can mount')
        Path(path).mkdir(parents=True, exist_ok=True)
        return str(path)

    def _provision(self, claim: dict[str, Any]) -> str:
        """Provision a local directory for an unbound claim and bind the claim to it (local-path-provisioner)."""
        assert self.client is not None
        meta, spec = claim["metadata"], claim.get("spec") or {}
        name = f"pvc-{meta['uid']}"
        path = self.node_dir / "local-path" / f"{name}_{meta['namespace']}_{meta['name']}"
        path.mkdir(parents=True, exist_ok=True)
        storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        access_modes = spec.get("accessModes") or ["ReadWriteOnce"]
        volume = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {
                "name": name,
                "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER,
                                "local.path.provisioner/selected-node": self.node_name},
            },
            "spec": {
                "capacity": {"storage": storage},
                "accessModes": access_modes,
                "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": spec.get("storageClassName") or "standard",
                "volumeMode": "Filesystem",
                "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
                "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": meta["name"],
                             "namespace": meta["namespace"], "uid": meta["uid"]},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": [self.node_name]}]}]}},
            },
        }
        volumes = self.client.resource("v1", "persistentvolumes")
        claims = self.client.resource("v1", "persistentvolumeclaims")
        try:
            created = volumes.create(volume)
        except errors.AlreadyExists:
            created = volumes.get(name)
        created["status"] = {"phase": "Bound"}
        with contextlib.suppress(errors.ApiError):
            volumes.update_status(created)
        claim["spec"]["volumeName"] = name
        claim.setdefault("metadata", {}).setdefault("annotations", {}).update({
            "pv.kubernetes.io/bind-completed": "yes",
            "pv.kubernetes.io/bound-by-controller": "yes",
            "volume.kubernetes.io/selected-node": self.node_name,
            "volume.kubernetes.io/storage-provisioner": PROVISIONER,
        })
        updated = claims.update(claim)
        updated["status"] = {"phase": "Bound", "accessModes": access_modes, "capacity": {"storage": storage}}
        claims.update_status(updated)
        return str(path)

    # -- mounts -------------------------------------------------------------------------------

    def mounts(self, pod: Obj, container: Obj, volume_paths: Mapping[str, str], attempt: int) -> list[Mount]:
        """The CRI mounts of ``container``'s ``attempt``-th run: its volumeMounts and its termination-message file."""
        mounts = []
        for mount in container.get("volumeMounts") or []:
            host = volume_paths.get(mount.get("name", ""))
            if host is None:
                raise MountError(f'volume "{mount.get("name")}" is not set up')
            if mount.get("subPath"):
                host = str(Path(host) / mount["subPath"])
                if not Path(host).exists():
                    Path(host).mkdir(parents=True)
            mounts.append(Mount(mount["mountPath"], host, bool(mount.get("readOnly"))))
        message_path = container.get("terminationMessagePath") or TERMINATION_LOG
        uid = (pod.get("metadata") or {})["uid"]
        message_file = self._message_file(uid, container["name"], attempt)
        message_file.parent.mkdir(parents=True, exist_ok=True)
        message_file.write_bytes(b"")
        mounts.append(Mount(message_path, str(message_file)))
        return mounts

    def _message_file(self, uid: str, container_name: str, attempt: int) -> Path:
        return self.pod_dir(uid) / "containers" / container_name / f"{attempt}.termination-log"

    def termination_message(self, uid: str, container_name: str, attempt: int) -> str:
        """What the container's ``attempt``-th run wrote to its termination-message file (at most 4 KiB)."""
        path = self._message_file(uid, container_name, attempt)
        try:
            return path.read_bytes()[:4096].decode(errors="replace")
        except OSError:
            return ""

    def tear_down(self, uid: str) -> None:
        """Remove a pod's directory (its volumes; a claim's data lives elsewhere and stays)."""
        shutil.rmtree(self.pod_dir(uid), ignore_errors=True)
