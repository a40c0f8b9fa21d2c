"""Confining FFmpeg and ffprobe: they parse media a publisher controls (S-12).

A decoder exploit must find as little as possible. What each FFmpeg gets:

- **A minimal environment** (`socialflow.lib.ffmpeg.environment`): no platform secret.
- **Its own user.** A worker running as root starts FFmpeg as `FFMPEG_USER` (default
  `nobody`), with no supplementary group but the hardware encoders' devices'. It cannot read
  the platform's files (`.env` is 0600), write outside its working folder, nor read another
  process's memory or environment. A worker that is not root (the compose image's `app`)
  cannot switch users; there the worker makes itself non-dumpable (`protect_self`), so a
  same-user FFmpeg cannot read its `/proc/<pid>/environ` or attach to it either.
- **No new privileges** (`PR_SET_NO_NEW_PRIVS`): no set-user-ID program gains anything.
- **A seccomp filter** (libseccomp, through pyseccomp): the system calls an escape needs
  and FFmpeg never makes fail with EPERM: ptrace and cross-process memory access, namespaces
  (unshare, setns, clone with a namespace flag), mounts, BPF, perf, kernel modules, keyrings,
  io_uring, userfaultfd, and sockets other than Unix, IPv4 and IPv6 (no raw packets, no
  netlink).

The filter is compiled once in the parent and only installed in the child (two prctl calls
on memory allocated beforehand): a forked child of a threaded worker must not allocate.
`FFMPEG_SANDBOX=false` turns the user switch and the filter off (a machine without seccomp);
the minimal environment always applies.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import glob
import logging
import os
import pwd
import signal
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2

# Loaded once here, not in the forked child: a child of a threaded worker (the transcode
# pool is threads) must not take the dynamic loader's lock another thread may hold.
_prctl: Any
try:
    _prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
except OSError:  # not Linux
    _prctl = None

# Denied with EPERM. A name the running architecture lacks is skipped.
DENIED_SYSCALLS = (
    # another process's memory, or its state
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    # namespaces and mounts: the steps out of a sandbox
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "open_by_handle_at",
    "name_to_handle_at",
    # the kernel's larger attack surfaces
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "keyctl",
    "add_key",
    "request_key",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "iopl",
    "ioperm",
    "syslog",
    "acct",
    "quotactl",
    "swapon",
    "swapoff",
    "reboot",
    "settimeofday",
    "clock_settime",
    "adjtimex",
    "clock_adjtime",
    "sethostname",
    "setdomainname",
    "personality",
    "uselib",
    "vhangup",
    "lookup_dcookie",
    "fanotify_init",
)
# The socket families FFmpeg uses: Unix (hardware drivers), IPv4 and IPv6 (the RTMP pull).
SOCKET_FAMILIES = (1, 2, 10)  # AF_UNIX, AF_INET, AF_INET6
# clone flags that make a namespace: NEWTIME, NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER,
# NEWPID, NEWNET.
CLONE_NAMESPACE_FLAGS = (0x80, 0x20000, 0x2000000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


@dataclass(frozen=True)
class _Program:
    """A compiled seccomp filter, ready to install: the buffer stays referenced here."""

    code: Any  # ctypes buffer of struct sock_filter
    fprog: _SockFprog


@functools.cache
def _program() -> _Program:
    """The filter, compiled by libseccomp for this machine's architecture (once)."""
    import pyseccomp as seccomp  # libseccomp through ctypes; imported only where FFmpeg runs

    flt = seccomp.SyscallFilter(seccomp.ALLOW)
    deny = seccomp.ERRNO(errno.EPERM)
    for name in DENIED_SYSCALLS:
        try:
            flt.add_rule(deny, name)
        except (OSError, ValueError):  # not a system call on this architecture
            continue
    # clone3 passes its flags in memory a filter cannot read: ENOSYS makes the C library
    # fall back to clone, whose flags it can.
    flt.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    for flag in CLONE_NAMESPACE_FLAGS:
        flt.add_rule(deny, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    for family in range(max(SOCKET_FAMILIES) + 1):
        if family not in SOCKET_FAMILIES:
            flt.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", seccomp.Arg(0, seccomp.EQ, family))
    flt.add_rule(
        seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", seccomp.Arg(0, seccomp.GT, max(SOCKET_FAMILIES))
    )
    with tempfile.TemporaryFile() as out:
        flt.export_bpf(out)
        out.seek(0)
        raw = out.read()
    code = ctypes.create_string_buffer(raw, len(raw))
    return _Program(code=code, fprog=_SockFprog(len(raw) // 8, ctypes.addressof(code)))


@dataclass(frozen=True)
class Identity:
    """Whom FFmpeg runs as when the worker is root."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]


def enabled() -> bool:
    return bool(getattr(settings, "FFMPEG_SANDBOX", True)) and _prctl is not None


@functools.cache
def _identity(name: str) -> Identity | None:
    if not name:
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise ImproperlyConfigured(f"FFMPEG_USER {name!r} is no user on this machine") from None
    if entry.pw_uid == 0:
        raise ImproperlyConfigured("FFMPEG_USER must not be root")
    return Identity(name=name, uid=entry.pw_uid, gid=entry.pw_gid, groups=_device_groups())


def _device_groups() -> tuple[int, ...]:
    """The groups of the hardware encoders' devices (render, video): VA-API, Quick Sync and
    NVENC open these, and a dropped FFmpeg keeps only them."""
    gids = set()
    for path in glob.glob("/dev/dri/*") + glob.glob("/dev/nvidia*"):
        try:
            gids.add(os.stat(path).st_gid)
        except OSError:
            continue
    gids.discard(0)
    return tuple(sorted(gids))


def identity() -> Identity | None:
    """The user FFmpeg switches to: only when the worker is root and the sandbox is on."""
    if not enabled() or os.geteuid() != 0:
        return None
    return _identity(getattr(settings, "FFMPEG_USER", "nobody"))


def popen_kwargs() -> dict[str, Any]:
    """subprocess keyword arguments that confine a child (with `env=` from ffmpeg)."""
    if not enabled():
        return {"preexec_fn": die_with_parent}
    program = _program()  # compiled here, in the parent
    kwargs: dict[str, Any] = {"preexec_fn": functools.partial(_confine, program.fprog)}
    who = identity()
    if who is not None:
        kwargs.update(user=who.uid, group=who.gid, extra_groups=list(who.groups))
    return kwargs


def die_with_parent() -> None:
    """preexec_fn: the kernel kills the child if the worker dies, even by SIGKILL."""
    # Not Linux: the supervisor's own cleanup still applies. Under a thread pool the
    # "parent" is the thread that started FFmpeg, which lives as long as the worker.
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _confine(fprog: _SockFprog) -> None:
    """preexec_fn, in the child after the user switch (which clears the death signal)."""
    die_with_parent()
    if _prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
    if _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "installing the seccomp filter failed")


def protect_self() -> None:
    """Make this process non-dumpable: a process of the same user (an FFmpeg where the
    worker is not root) can then neither read its /proc/<pid>/environ nor attach to it."""
    if _prctl is not None:
        _prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def hand_over(path: Path) -> None:
    """Give a working folder, and all in it, to FFmpeg's user (when it has one): FFmpeg
    writes there and reads its inputs there. The worker, root, still reads and deletes."""
    who = identity()
    if who is None:
        return
    for root, dirs, files in os.walk(path):
        os.chown(root, who.uid, who.gid)
        for name in dirs + files:
            os.lchown(os.path.join(root, name), who.uid, who.gid)


def check(*, folders: dict[str, Path]) -> None:
    """At a worker's start: the filter compiles, the user exists, and FFmpeg's user can reach
    each working folder (`{setting name: path}`). ImproperlyConfigured names what to fix."""
    if not enabled():
        log.warning("FFMPEG_SANDBOX is off: FFmpeg runs as this worker's user, without seccomp")
        return
    try:
        _program()
    except (ImportError, OSError) as exc:
        raise ImproperlyConfigured(
            f"FFMPEG_SANDBOX: the seccomp filter cannot be built here ({exc}); install libseccomp2, "
            "or set FFMPEG_SANDBOX=false"
        ) from exc
    who = identity()
    if who is None:
        return
    for name, folder in folders.items():
        folder.mkdir(parents=True, exist_ok=True)
        blocked = _unreachable(folder, who)
        if blocked is not None:
            raise ImproperlyConfigured(
                f"{name} ({folder}) is out of FFMPEG_USER {who.name}'s reach: {blocked} is mode "
                f"{stat.S_IMODE(blocked.stat().st_mode):04o}; choose a folder others may pass "
                "through (o+x), or set FFMPEG_USER"
            )


def _unreachable(folder: Path, who: Identity) -> Path | None:
    """The first folder on the way to `folder` (itself included) FFmpeg's user may not pass."""
    for part in [*reversed(folder.resolve().parents), folder.resolve()]:
        st = part.stat()
        if st.st_uid == who.uid:
            ok = st.st_mode & stat.S_IXUSR
        elif st.st_gid == who.gid or st.st_gid in who.groups:
            ok = st.st_mode & stat.S_IXGRP
        else:
            ok = st.st_mode & stat.S_IXOTH
        if not ok:
            return part
    return None
