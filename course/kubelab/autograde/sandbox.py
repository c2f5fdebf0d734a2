"""The sandbox a submission's kernel runs in, and the launcher that sets it up.

``python -m kubelab.autograde.sandbox POLICY.json -- KERNEL-ARGV...`` applies, in order,
whatever this machine supports, and records what it applied in ``<runtime>/sandbox.json``:

1. **another user** (only when started as root): a fresh unprivileged uid per submission,
   so no file of the grader's and no other submission's process is reachable through it;
2. **namespaces** (``unshare``, unprivileged through a user namespace): its own network with
   only loopback up (the embedded cluster still works on 127.x, nothing else is reachable);
   its own mounts, with a size-limited tmpfs as home (the disk cannot be filled) and as
   ``/dev/shm``; its own PID namespace and ``/proc`` (it sees, signals and outlives no other
   process, and everything it started dies with it);
3. **resource limits**: memory per process, CPU time, number of processes (a fork bomb
   stops there), file size, open files, no core dumps;
4. **Landlock**: reads only system and Python files, writes only its home; never the
   gradebook, the lab's sources, the submissions or the grader's work files; since Landlock
   ABI 6, no signals to processes outside the sandbox.

A layer the machine lacks is skipped and named as missing in the record.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import struct
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kubelab.autograde import landlock

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 1 << 14, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
INSIDE_UID = 1000
REPORT = "sandbox.json"
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty")
SYSTEM_READ = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/opt", "/proc", "/sys", "/dev")
MiB = 1024 * 1024
CGROUP_ROOT = "/sys/fs/cgroup"


@dataclass
class Limits:
    """What one submission's kernel may use."""

    memory: int = 4096 * MiB  # per process (RLIMIT_DATA, which Go's address-space reservations do not count)
    cpu_seconds: int = 900
    processes: int = 512  # tasks of its uid, threads included
    file_size: int = 256 * MiB
    disk: int = 512 * MiB  # the tmpfs home
    open_files: int = 4096
    total_memory: int = 6144 * MiB  # all its processes together, where a cgroup can be made (root)


@dataclass
class Policy:
    """Where a kernel lives and what it may touch; written as JSON for the launcher."""

    home: str  # the kernel's working directory, $HOME and $TMPDIR
    runtime: str  # its connection file and ZeroMQ sockets
    seed: str  # files copied into home before the kernel starts
    read: list[str]  # readable (and executable) paths, already refined around the secrets
    env: dict[str, str]
    limits: Limits = field(default_factory=Limits)
    uid: int | None = None  # the uid to run as when the launcher starts as root
    uid_note: str = ""  # why there is none
    cgroup: str = ""  # name of the cgroup to make when the launcher starts as root

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> Policy:
        data = json.loads(path.read_text())
        data["limits"] = Limits(**data["limits"])
        return cls(**data)


def readable_paths(secrets: list[Path], extra: list[Path] | None = None) -> list[str]:
    """System and Python paths a kernel needs, with every path in ``secrets`` carved out."""
    wanted = [Path(p) for p in SYSTEM_READ]
    wanted += [Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)]
    wanted += [Path(p) for p in sys.path if p]
    wanted += [Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    wanted += extra or []
    resolved_secrets = [s.resolve() for s in secrets]
    out: set[str] = set()
    for path in wanted:
        if path.exists():
            out.update(str(p) for p in _carve(path.resolve(), resolved_secrets))
    return sorted(out)


def _carve(path: Path, secrets: list[Path]) -> list[Path]:
    if any(path == s or s in path.parents for s in secrets):
        return []
    inside = [s for s in secrets if path in s.parents]
    if not inside:
        return [path]
    try:
        children = list(path.iterdir())
    except OSError:
        return []
    return [p for child in children for p in _carve(child.resolve(), secrets)]


def launcher_argv(policy_file: Path, kernel_argv: list[str]) -> list[str]:
    """The command that runs ``kernel_argv`` inside the sandbox ``policy_file`` describes."""
    return [sys.executable, "-m", "kubelab.autograde.sandbox", str(policy_file), "--", *kernel_argv]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _die_with_parent(libc: ctypes.CDLL) -> None:
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _become(libc: ctypes.CDLL, uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    # Changing uid clears both: /proc/self/uid_map must stay writable, and the death signal set.
    libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
    _die_with_parent(libc)


def choose_uid() -> tuple[int | None, str]:
    """For a grader running as root: a fresh unprivileged uid for one kernel, or ``None`` and why not."""
    if os.geteuid() != 0:
        return None, "not root"
    uid = 2_000_000_000 + secrets.randbelow(1 << 24)
    blocked = _unreachable_as(uid, [sys.executable, sys.prefix, sys.base_prefix, *sys.path[1:]])
    if blocked:
        return None, f"another uid cannot use {blocked}"
    return uid, ""


def _unreachable_as(uid: int, paths: list[str]) -> str | None:
    """The first of ``paths`` that ``uid`` cannot read and enter or run, or ``None``."""
    paths = [os.path.realpath(p) for p in paths if os.path.exists(p)]
    child = os.fork()
    if child == 0:
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            for number, path in enumerate(paths):
                if not os.access(path, os.R_OK | os.X_OK):
                    os._exit(10 + number)
            os._exit(0)
        except BaseException:  # noqa: BLE001 - a forked child reports only through its exit code
            os._exit(1)
    _, status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        return None
    return paths[code - 10] if code >= 10 else "a separate uid at all"


def cgroup_paths(name: str) -> list[Path]:
    """The cgroup directories :func:`_join_cgroup` makes for ``name`` (v2, or v1's pids and memory)."""
    if Path(CGROUP_ROOT, "cgroup.controllers").exists():
        return [Path(CGROUP_ROOT, name)]
    return [Path(CGROUP_ROOT, "pids", name), Path(CGROUP_ROOT, "memory", name)]


def _join_cgroup(name: str, limits: Limits) -> str | None:
    """Put this process in a new cgroup capping its processes and memory; say why not if it cannot."""
    values = {
        "pids.max": limits.processes,
        "memory.max": limits.total_memory,
        "memory.limit_in_bytes": limits.total_memory,
    }
    try:
        for directory in cgroup_paths(name):
            directory.mkdir()
            for file, value in values.items():
                if (directory / file).exists():
                    (directory / file).write_text(str(value))
            (directory / "cgroup.procs").write_text(str(os.getpid()))
    except OSError as e:
        return f"{e.strerror or e} ({e.filename})"
    return None


def _unshare(libc: ctypes.CDLL) -> int:
    for flags in (
        CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID,
        CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET,
    ):
        if libc.unshare(flags) == 0:
            return flags
    return 0


def _map_ids(outer_uid: int, outer_gid: int) -> None:
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{INSIDE_UID} {outer_uid} 1")
    Path("/proc/self/gid_map").write_text(f"{INSIDE_UID} {outer_gid} 1")


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sh22x", b"lo", 0)
        flags = struct.unpack("16sh22x", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh22x", b"lo", flags | IFF_UP))


def _mount(libc: ctypes.CDLL, source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    _check(
        libc.mount(
            source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def _set_limits(limits: Limits) -> None:
    for which, value in (
        (resource.RLIMIT_DATA, limits.memory),
        (resource.RLIMIT_CPU, limits.cpu_seconds),
        (resource.RLIMIT_NPROC, limits.processes),
        (resource.RLIMIT_FSIZE, limits.file_size),
        (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_CORE, 0),
    ):
        _, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (value, value))


def _launch(policy: Policy, kernel_argv: list[str]) -> int:
    libc = _libc()
    _die_with_parent(libc)
    applied: list[str] = []
    missing: list[str] = []
    if os.geteuid() == 0:
        # RLIMIT_NPROC does not bind root's uid, so as root the cgroup is what stops a fork bomb.
        failed = _join_cgroup(policy.cgroup, policy.limits) if policy.cgroup else "no cgroup name given"
        if failed:
            missing.append(f"cgroup: none ({failed})")
        else:
            applied.append(
                f"cgroup: at most {policy.limits.processes} processes and "
                f"{policy.limits.total_memory // MiB} MiB of memory in all"
            )
        if policy.uid is None:
            missing.append(f"user: keeps root's uid, without capabilities ({policy.uid_note})")
        else:
            _become(libc, policy.uid)
            applied.append(f"user: unprivileged uid {policy.uid}")
    else:
        applied.append(f"user: the grader's own uid {os.getuid()} (not root)")

    outer_uid, outer_gid = os.getuid(), os.getgid()
    flags = _unshare(libc)
    if flags:
        _map_ids(outer_uid, outer_gid)
        _loopback_up()
        applied.append("network: own namespace, loopback only")
        _mount(libc, "none", "/", None, MS_REC | MS_PRIVATE, None)
        options = f"size={policy.limits.disk},mode=0700,uid={INSIDE_UID},gid={INSIDE_UID}"
        _mount(libc, "tmpfs", policy.home, "tmpfs", MS_NOSUID | MS_NODEV, options)
        if os.path.isdir("/dev/shm"):
            _mount(libc, "tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={64 * MiB},mode=1777")
        applied.append(f"disk: home is a {policy.limits.disk // MiB} MiB tmpfs")
    else:
        missing += ["network: not isolated (user namespaces unavailable)", "disk: home is not size-limited"]
    if os.path.isdir(policy.seed):
        shutil.copytree(policy.seed, policy.home, dirs_exist_ok=True)
    Path(policy.home, "tmp").mkdir(exist_ok=True)

    child = os.fork()
    if child == 0:
        try:
            _die_with_parent(libc)
            if flags & CLONE_NEWPID:
                _mount(libc, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
                applied.append("processes: own PID namespace and /proc")
            else:
                missing.append("processes: shares the PID namespace")
            _set_limits(policy.limits)
            applied.append(
                f"limits: {policy.limits.memory // MiB} MiB per process, {policy.limits.cpu_seconds} s CPU, "
                f"{policy.limits.processes} processes, {policy.limits.file_size // MiB} MiB per file"
            )
            write = [policy.home, *(d for d in DEVICES if os.path.exists(d))]
            if flags:
                write.append("/dev/shm")
            # Opened before Landlock, which would refuse it afterwards.
            report = open(Path(policy.runtime, REPORT), "w")  # noqa: SIM115 - written and closed below
            try:
                abi = landlock.restrict(
                    read=[Path(p) for p in policy.read],
                    write=[Path(p) for p in write],
                    sockets=[Path(policy.runtime)],
                )
                applied.append(f"files: Landlock ABI {abi}, reads system and Python files only, writes home only")
                if abi >= 6:
                    applied.append("signals: none to processes outside the sandbox (Landlock scope)")
            except landlock.LandlockError as e:
                missing.append(f"files: not restricted ({e})")
            with report:
                report.write(json.dumps({"applied": applied, "missing": missing}))
            os.chdir(policy.home)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.execve(kernel_argv[0], kernel_argv, policy.env)
        except BaseException:  # noqa: BLE001 - the child must never return into the launcher's code
            traceback.print_exc()
            os._exit(127)
    # jupyter_client signals the whole process group: the kernel gets SIGINT directly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: os.kill(child, signal.SIGKILL))
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status)


def remove_cgroup(name: str) -> None:
    """Remove the cgroups of a finished kernel (their processes are gone with its PID namespace)."""
    for directory in cgroup_paths(name):
        for _ in range(50):
            try:
                directory.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the launcher: ``POLICY.json -- KERNEL-ARGV...``."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m kubelab.autograde.sandbox POLICY.json -- KERNEL-ARGV...", file=sys.stderr)
        return 2
    return _launch(Policy.load(Path(argv[0])), argv[2:])


if __name__ == "__main__":
    sys.exit(main())
