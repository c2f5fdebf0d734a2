"""The node's images: what has been "pulled" from the catalogue, and where it was unpacked.

Pulling resolves a reference (:func:`kubelab.images.resolve`) and lays out the image's
``bin/``, one small launcher per command it provides, under ``images/<digest>/``; the
record of what is present, ``images/index.json``, survives restarts of the node, as a
real node's image store does, so ``imagePullPolicy: IfNotPresent`` finds it again.
"""

from __future__ import annotations

import json
import shlex
import threading
from pathlib import Path
from typing import TypedDict

from kubelab import images
from kubelab.kubelet.runtime import Image, RuntimeServiceError


class _Record(TypedDict):
    repo_tags: list[str]
    repo_digests: list[str]
    size: int


class ImageStore:
    """Images present on one node, in ``directory``; launchers run programs with ``python``."""

    def __init__(self, directory: Path, python: str) -> None:
        self.directory = directory
        self.python = python
        self._lock = threading.Lock()

    @property
    def _index_file(self) -> Path:
        return self.directory / "index.json"

    def _index(self) -> dict[str, _Record]:
        try:
            data: dict[str, _Record] = json.loads(self._index_file.read_text())
        except (OSError, ValueError):
            return {}
        return data

    def _save(self, index: dict[str, _Record]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self._index_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(index, indent=1))
        tmp.replace(self._index_file)

    def bin_dir(self, image: images.ResolvedImage) -> Path:
        return self.directory / image.digest.removeprefix("sha256:")[:16] / "bin"

    def present(self, image: str) -> images.ResolvedImage | None:
        """The image ``image`` names if it has been pulled to this node."""
        try:
            resolved = images.resolve(image)
        except images.ImageError:
            return None
        record = self._index().get(resolved.digest)
        if record is None or not (resolved.reference.digest or resolved.name in record["repo_tags"]):
            return None
        return resolved

    def pull(self, image: str) -> str:
        """Pull ``image`` and return its id (``sha256:...``)."""
        try:
            resolved = images.resolve(image)
        except images.InvalidImageName as e:
            raise RuntimeServiceError("InvalidArgument", str(e)) from e
        except images.ImageNotFound as e:
            raise RuntimeServiceError("NotFound", str(e)) from e
        with self._lock:
            self._unpack(resolved)
            index = self._index()
            record = index.setdefault(resolved.digest, {"repo_tags": [], "repo_digests": [], "size": 0})
            if not resolved.reference.digest and resolved.name not in record["repo_tags"]:
                record["repo_tags"].append(resolved.name)
            record["repo_digests"] = [resolved.repo_digest]
            record["size"] = resolved.config.size
            self._save(index)
        return resolved.digest

    def _unpack(self, image: images.ResolvedImage) -> None:
        bin_dir = self.bin_dir(image)
        bin_dir.mkdir(parents=True, exist_ok=True)
        python = shlex.quote(self.python)
        launchers = {
            command: f"exec {python} -SEu {shlex.quote(str(images.PROGRAMS / program[0]))} "
            + "".join(shlex.quote(a) + " " for a in program[1:]) + '"$@"'
            for command, program in image.config.programs.items()
        }
        if image.config.host_python:
            launchers["python"] = launchers["python3"] = f'exec {python} "$@"'
        for command, line in launchers.items():
            path = bin_dir / command
            tmp = path.with_name(f".{command}.tmp")
            tmp.write_text(f"#!/bin/sh\n{line}\n")
            tmp.chmod(0o755)
            tmp.replace(path)

    def status(self, image: str) -> Image | None:
        resolved = self.present(image)
        if resolved is None:
            return None
        record = self._index()[resolved.digest]
        return Image(resolved.digest, list(record["repo_tags"]), list(record["repo_digests"]), record["size"])

    def list(self) -> list[Image]:
        return [
            Image(digest, list(r["repo_tags"]), list(r["repo_digests"]), r["size"])
            for digest, r in self._index().items()
        ]

    def remove(self, image: str) -> None:
        resolved = self.present(image)
        if resolved is None:
            return
        with self._lock:
            index = self._index()
            index.pop(resolved.digest, None)
            self._save(index)
        bin_dir = self.bin_dir(resolved)
        for launcher in bin_dir.glob("*"):
            launcher.unlink()
        bin_dir.rmdir()
        bin_dir.parent.rmdir()
