"""The image catalogue: what a kubelab node can "pull".

There is no registry and no image layers: each image is a small Python program (in
``programs/``) or, for ``busybox`` and ``python``, the host's own commands. What an image
*is* — its entrypoint and default arguments, environment, working directory, files, ports,
digest and size — lives here, and references resolve the way a registry resolves them::

    resolve("nginx")                          # docker.io/library/nginx:latest
    resolve("nginx:1.27")                     # the same release, another tag
    resolve("docker.io/library/nginx:latest")
    resolve("nginx@sha256:...")               # by digest

An unknown repository or tag raises :class:`ImageNotFound` with the message containerd
gives; a malformed reference raises :class:`InvalidImageName`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROGRAMS = Path(__file__).parent / "programs"
PYTHON_SITE = Path(__file__).parent / "site"
DEFAULT_DOMAIN = "docker.io"
DEFAULT_TAG = "latest"
STANDARD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ImageError(Exception):
    """An image reference could not be turned into an image."""


class InvalidImageName(ImageError):
    """The reference is not a valid image name (kubelet reason ``InvalidImageName``)."""


class ImageNotFound(ImageError):
    """The registry has no such repository or tag (kubelet reason ``ErrImagePull``)."""


_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_PATH = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_DOMAIN = re.compile(r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?$")


@dataclass(frozen=True)
class Reference:
    """A parsed, normalized image reference: ``domain/path:tag`` or ``domain/path@digest``."""

    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def repository(self) -> str:
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        if self.digest:
            return f"{self.repository}@{self.digest}"
        return f"{self.repository}:{self.tag}"


def parse_reference(image: str) -> Reference:
    """Parse and normalize ``image`` as Docker does (``nginx`` → ``docker.io/library/nginx:latest``)."""
    invalid = f"couldn't parse image name {json.dumps(image)}: invalid reference format"
    if not image or image != image.strip():
        raise InvalidImageName(invalid)
    rest, digest = image, ""
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.match(digest):
            raise InvalidImageName(invalid)
    tag = ""
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        rest, tag = rest.rsplit(":", 1)
        if not _TAG.match(tag):
            raise InvalidImageName(invalid)
    domain, path = DEFAULT_DOMAIN, rest
    first, _, remainder = rest.partition("/")
    if remainder and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        if not _DOMAIN.match(first):
            raise InvalidImageName(invalid)
        domain, path = first, remainder
    if path != path.lower():
        full = f"library/{path}" if domain == DEFAULT_DOMAIN and "/" not in path else path
        raise InvalidImageName(f"{invalid}: repository name ({full}) must be lowercase")
    if not _PATH.match(path):
        raise InvalidImageName(invalid)
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = f"library/{path}"
    if domain == "index.docker.io":
        domain = DEFAULT_DOMAIN
    if not tag and not digest:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


@dataclass(frozen=True)
class ImageConfig:
    """One release of an image: what a container of it runs, and with what."""

    version: str
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    working_dir: str = "/"
    exposed_ports: tuple[int, ...] = ()
    #: command name on the image's PATH → program file in ``programs/`` (plus fixed leading arguments)
    programs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: files the image carries: container path → contents
    files: Mapping[str, str] = field(default_factory=dict)
    size: int = 0
    #: the python image runs the host's interpreter: ``python`` and ``python3`` on its PATH
    host_python: bool = False


@dataclass(frozen=True)
class Repository:
    """A repository and its releases; each release answers to one or more tags."""

    name: str
    description: str
    releases: tuple[tuple[tuple[str, ...], ImageConfig], ...]


@dataclass(frozen=True)
class ResolvedImage:
    """An image a reference resolved to."""

    reference: Reference
    repository: Repository
    tag: str
    config: ImageConfig

    @property
    def name(self) -> str:
        """The normalized ``repository:tag`` (what pod status shows as ``image``)."""
        return f"{self.repository.name}:{self.tag}"

    @property
    def digest(self) -> str:
        return _digest(self.repository.name, self.config.version)

    @property
    def repo_digest(self) -> str:
        """``repository@sha256:...`` (what pod status shows as ``imageID``)."""
        return f"{self.repository.name}@{self.digest}"

    @property
    def id(self) -> str:
        return self.digest


def _digest(repository: str, version: str) -> str:
    return "sha256:" + hashlib.sha256(f"{repository}\0{version}".encode()).hexdigest()


NGINX_WELCOME = """<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"""

NGINX_50X = """<!DOCTYPE html>
<html>
<head>
<title>Error</title>
</head>
<body>
<h1>An error occurred.</h1>
<p>Sorry, the page you are looking for is currently unavailable.<br/>
Please try again later.</p>
</body>
</html>
"""


def _nginx(version: str, size: int) -> ImageConfig:
    return ImageConfig(
        version=version,
        cmd=("nginx", "-g", "daemon off;"),
        env={"PATH": STANDARD_PATH, "NGINX_VERSION": version},
        exposed_ports=(80,),
        programs={"nginx": ("nginx.py",)},
        files={"/usr/share/nginx/html/index.html": NGINX_WELCOME, "/usr/share/nginx/html/50x.html": NGINX_50X},
        size=size,
    )


def _busybox(version: str) -> ImageConfig:
    return ImageConfig(version=version, cmd=("sh",), env={"PATH": STANDARD_PATH}, size=2_155_000)


def _python(version: str) -> ImageConfig:
    return ImageConfig(
        version=version,
        cmd=("python3",),
        env={"PATH": STANDARD_PATH, "PYTHON_VERSION": version, "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"},
        size=49_000_000,
        host_python=True,
    )


def _kubelab(program: str, version: str, *, ports: tuple[int, ...] = (8080,), env: Mapping[str, str] | None = None,
             args: tuple[str, ...] = (), size: int = 4_200_000) -> ImageConfig:
    command = program.removesuffix(".py")
    return ImageConfig(
        version=version,
        entrypoint=(command,),
        cmd=args,
        env={"PATH": STANDARD_PATH, **(env or {})},
        exposed_ports=ports,
        programs={command: (program,)},
        size=size,
    )


def _web(version: str) -> ImageConfig:
    return _kubelab("web.py", version, env={"VERSION": version})


CATALOGUE: tuple[Repository, ...] = (
    Repository(
        "docker.io/library/nginx",
        "a static web server on port 80 serving /usr/share/nginx/html (the nginx welcome page)",
        (
            (("1.27.3", "1.27", "1", "latest", "mainline", "stable", "alpine", "1.27-alpine", "1.27.3-alpine"),
             _nginx("1.27.3", 72_099_403)),
            (("1.26.2", "1.26", "1.26-alpine"), _nginx("1.26.2", 71_027_698)),
            (("1.25.5", "1.25", "1.25-alpine"), _nginx("1.25.5", 70_544_896)),
            (("1.16.1", "1.16"), _nginx("1.16.1", 51_030_575)),
            (("1.14.2", "1.14"), _nginx("1.14.2", 44_709_220)),
        ),
    ),
    Repository(
        "docker.io/library/busybox",
        "runs the given command with the host's shell and tools (default: sh)",
        (
            (("1.36.1", "1.36", "1", "latest", "stable", "musl", "glibc", "uclibc"), _busybox("1.36.1")),
            (("1.35.0", "1.35"), _busybox("1.35.0")),
            (("1.28.4", "1.28"), _busybox("1.28.4")),
        ),
    ),
    Repository(
        "docker.io/library/python",
        "runs the given command with the host's Python as python/python3 (default: python3)",
        (
            (("3.12.7", "3.12", "3", "latest", "slim", "alpine", "3.12-slim", "3.12-alpine"), _python("3.12.7")),
            (("3.11.10", "3.11", "3.11-slim", "3.11-alpine"), _python("3.11.10")),
            (("3.13.0", "3.13", "3.13-slim", "3.13-alpine"), _python("3.13.0")),
        ),
    ),
    Repository(
        "docker.io/kubelab/web",
        "an HTTP app on port 8080 that answers with its version and pod name (/, /healthz, /version)",
        ((("v1",), _web("v1")), (("v2",), _web("v2")), (("v3", "latest"), _web("v3"))),
    ),
    Repository(
        "docker.io/kubelab/echo",
        "an HTTP echo server on port 8080: answers with the request it got and the pod that served it",
        ((("v1", "latest"), _kubelab("echo.py", "v1")),),
    ),
    Repository(
        "docker.io/kubelab/kv",
        "a key-value store on port 8080 (GET/PUT/DELETE /keys/<key>) that persists to /data",
        ((("v1", "latest"), _kubelab("kv.py", "v1")),),
    ),
    Repository(
        "docker.io/kubelab/crash",
        "an app that fails at start-up with a clear error (needs DATABASE_URL, and a database there)",
        ((("v1", "latest"), _kubelab("crash.py", "v1", ports=())),),
    ),
    Repository(
        "docker.io/kubelab/hang",
        "an app that never becomes ready and ignores SIGTERM (only the grace period's SIGKILL stops it)",
        ((("v1", "latest"), _kubelab("hang.py", "v1", ports=())),),
    ),
    Repository(
        "docker.io/kubelab/slow",
        "an HTTP app on port 8080 that takes STARTUP_SECONDS (default 20) to start listening",
        ((("v1", "latest"), _kubelab("slow.py", "v1", env={"STARTUP_SECONDS": "20"})),),
    ),
    Repository(
        "registry.k8s.io/e2e-test-images/agnhost",
        "Kubernetes' test image: liveness (healthy for 10 s, then /healthz fails), netexec, serve-hostname, pause",
        ((("2.40", "2.39", "2.47", "2.52"), _kubelab("agnhost.py", "2.40", ports=())),),
    ),
    Repository(
        "registry.k8s.io/echoserver",
        "an HTTP echo server on port 8080",
        ((("1.10", "1.4"), _kubelab("echo.py", "1.10")),),
    ),
    Repository(
        "docker.io/hashicorp/http-echo",
        "answers every request on port 5678 with the text given by -text",
        ((("1.0.0", "1.0", "latest", "0.2.3"), _kubelab("echo.py", "1.0.0", ports=(5678,), args=("-listen=:5678",))),),
    ),
    Repository(
        "docker.io/polinux/stress",
        "the stress tool: --vm N --vm-bytes SIZE allocates memory (to meet a memory limit)",
        ((("1.0.4", "latest"), _kubelab("stress.py", "1.0.4", ports=())),),
    ),
)

_BY_NAME = {repo.name: repo for repo in CATALOGUE}


def _not_found(ref: Reference, detail: str) -> ImageNotFound:
    return ImageNotFound(
        f'failed to pull and unpack image "{ref}": failed to resolve reference "{ref}": {detail}'
    )


def resolve(image: str) -> ResolvedImage:
    """The catalogue image ``image`` names; raises :class:`InvalidImageName` or :class:`ImageNotFound`."""
    ref = parse_reference(image)
    repo = _BY_NAME.get(ref.repository)
    if repo is None:
        if ref.domain == DEFAULT_DOMAIN:
            raise _not_found(
                ref,
                "pull access denied, repository does not exist or may require authorization: "
                "server message: insufficient_scope: authorization failed",
            )
        raise _not_found(ref, f"{ref}: not found")
    for tags, config in repo.releases:
        if ref.digest:
            if _digest(repo.name, config.version) == ref.digest:
                return ResolvedImage(ref, repo, tags[0], config)
        elif ref.tag in tags:
            return ResolvedImage(ref, repo, ref.tag, config)
    raise _not_found(ref, f"{ref}: not found")


def catalogue() -> list[tuple[str, list[str], str]]:
    """Every repository with its tags and what it does, for listing to learners."""
    return [
        (repo.name, [tag for tags, _ in repo.releases for tag in tags], repo.description) for repo in CATALOGUE
    ]
