"""The learner's workspace: their own copies of the labs, never overwritten.

``kubelab start`` and ``kubelab update`` copy the labs that ship inside the package into
the workspace. A lab the learner has not opened yet, or has not changed, is simply
brought up to date; a notebook they have changed stays as it is, and the new release
lands beside it (``lab.new-20261125.ipynb``). ``.kubelab/manifest.json`` remembers what
was copied, so a change of the learner's is told apart from a new release.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

RELEASED = Path(__file__).resolve().parent / "labs"
MANIFEST = Path(".kubelab") / "manifest.json"


def default_workspace() -> Path:
    return Path.home() / "kubelab-labs"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class SyncReport:
    """What a sync did to each file, by path relative to the workspace."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    beside: list[str] = field(default_factory=list)
    """New releases saved next to a file the learner changed."""

    def lines(self) -> list[str]:
        out = [f"  new      {p}" for p in self.added]
        out += [f"  updated  {p}" for p in self.updated]
        out += [f"  beside   {p}  (you changed the original; it is untouched)" for p in self.beside]
        return out


def released_files(source: Path = RELEASED) -> list[Path]:
    """Every released lab file, relative to the labs folder (lab folders only)."""
    return sorted(
        p.relative_to(source) for p in source.glob("*/*") if p.is_file() and not p.name.startswith(".")
    )


def sync(workspace: Path, source: Path = RELEASED, today: dt.date | None = None) -> SyncReport:
    """Bring the released labs into ``workspace`` without losing any of the learner's changes."""
    workspace.mkdir(parents=True, exist_ok=True)
    manifest_path = workspace / MANIFEST
    try:
        manifest: dict[str, str] = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        manifest = {}
    report = SyncReport()
    stamp = (today or dt.date.today()).strftime("%Y%m%d")
    for rel in released_files(source):
        new, target, key = source / rel, workspace / rel, rel.as_posix()
        new_digest = _digest(new)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(new, target)
            report.added.append(key)
        elif manifest.get(key) == new_digest:
            continue
        elif _digest(target) in (manifest.get(key), new_digest):
            shutil.copyfile(new, target)
            report.updated.append(key)
        else:
            beside = target.with_name(f"{target.stem}.new-{stamp}{target.suffix}")
            shutil.copyfile(new, beside)
            report.beside.append(beside.relative_to(workspace).as_posix())
        manifest[key] = new_digest
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return report
