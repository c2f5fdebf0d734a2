"""A course directory: lab sources in ``solutions/``, released labs in ``labs/``, and its nbgrader config."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from kubelab.autograde import settings

CONFIG_FILE = Path("autograder") / "nbgrader_config.py"


class CourseError(RuntimeError):
    """The course directory, a lab in it, or nbgrader's work on it is not as it should be."""


@dataclass(frozen=True)
class Course:
    """One course directory and the nbgrader settings that apply to it."""

    root: Path

    @classmethod
    def find(cls, start: Path | None = None) -> Course:
        """The course whose directory holds ``start`` (default: the current directory)."""
        here = (start or Path.cwd()).resolve()
        for candidate in (here, *here.parents):
            if (candidate / settings.SOURCE).is_dir() and (candidate / CONFIG_FILE).is_file():
                return cls(candidate)
        raise CourseError(
            f"no course directory at or above {here}: a course has {settings.SOURCE}/ and {CONFIG_FILE}; "
            "run from inside one or pass --course"
        )

    @property
    def source(self) -> Path:
        return self.root / settings.SOURCE

    @property
    def release(self) -> Path:
        return self.root / settings.RELEASE

    @property
    def gradebook(self) -> Path:
        return self.root / "gradebook.db"

    def labs(self) -> list[str]:
        """The names of the labs in ``solutions/``: each a directory holding at least one notebook."""
        if not self.source.is_dir():
            return []
        return sorted(d.name for d in self.source.iterdir() if d.is_dir() and any(d.glob("*.ipynb")))

    def lab(self, name: str) -> str:
        """``name`` if it is a lab of this course, else a :class:`CourseError` listing the labs."""
        name = name.rstrip("/").rsplit("/", 1)[-1]
        if name not in self.labs():
            raise CourseError(f"no lab {name!r} in {self.source}; the labs are: {', '.join(self.labs()) or 'none'}")
        return name

    def config(self, **sections: dict[str, Any]) -> Config:
        """kubelab's nbgrader settings, this course's config file, then ``sections`` (e.g. ``Execute={...}``)."""
        config = settings.configure(Config())
        config_file = self.root / CONFIG_FILE
        if config_file.is_file():
            config.merge(PyFileConfigLoader(config_file.name, path=str(config_file.parent)).load_config())
        config.CourseDirectory.root = str(self.root)
        config.merge(Config(sections))
        return config


@contextlib.contextmanager
def nbgrader_environment() -> Iterator[None]:
    """Let nbgrader find ``alembic``, which it runs as a command, in this Python's own ``bin``."""
    bin_dir = str(Path(sys.executable).parent)
    old = os.environ.get("PATH", "")
    if bin_dir in old.split(os.pathsep):
        yield
        return
    os.environ["PATH"] = bin_dir + os.pathsep + old
    try:
        yield
    finally:
        os.environ["PATH"] = old
