"""Confining FFmpeg and ffprobe: they parse media a publisher controls (S-12).

A decoder exploit must find as little as possible. What each FFmpeg gets:

- **A minimal environment** (`socialflow.lib.ffmpeg.environment`): no platform secret.
- **Its own user.** A worker running as root starts FFmpeg as `FFMPEG_USER` (default
  `nobody`), with no supplementary group but the hardware encoders' devices'. It runs in its
  working folder, handed over to it (`hand_over`), with every path relative to it: it cannot
  read the platform's files (`.env` is 0600), write outside that folder, nor read another
  process's memory or environment. A worker that is not root (the compose image's `app`)
  cannot switch users; there the worker makes itself non-dumpable (`protect_self`), so a
  same-user FFmpeg cannot read its `/proc/<pid>/environ` or attach to it either.
- **No new privileges** (`PR_SET_NO_NEW_PRIVS`): no set-user-ID program gains anything.
- **Landlock** (where the kernel has it): FFmpeg reads only the system folders (libraries,
  drivers, /etc, /proc, /sys), writes only its working folder and devices, and connects over
  TCP only to the media server's port (none when it reads files): not to PostgreSQL or Redis
  on the same host, which a local setup may trust. It can signal no process outside.
- **A seccomp filter** (libseccomp, through pyseccomp): the system calls an escape needs
  and FFmpeg never makes fail with EPERM: ptrace and cross-process memory access, namespaces
  (unshare, setns, clone with a namespace flag), mounts, BPF, perf, kernel modules, keyrings,
  io_uring, userfaultfd, and sockets other than Unix, IPv4 and IPv6 (no raw packets, no
  netlink).

The filter is compiled once in the parent and only installed in the child (a prctl call on
memory allocated beforehand); the Landlock rules, a handful of system calls, are made in the
child. `FFMPEG_SANDBOX=false` turns all but the minimal environment off (a machine without
seccomp).
"""

from __future__ import annotations

import ctypes
import errno
import functools
import glob
import logging
import os
import pwd
import shutil
import signal
import stat
import struct
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
_syscall: Any
try:
    _libc = ctypes.CDLL("libc.so.6", use_errno=True)
    _prctl, _syscall = _libc.prctl, _libc.syscall
    _syscall.restype = ctypes.c_long
except OSError:  # not Linux
    _prctl = _syscall = None

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


# --- Landlock ---------------------------------------------------------------------------
# Hand-written over the three system calls: PyPI's `landlock` (1.0.0.dev5, a development
# release) has neither ABI 4's TCP rules nor ABI 6's scopes, and those are what keep FFmpeg
# away from PostgreSQL and Redis on the same host. The numbers are the kernel's uapi
# (include/uapi/linux/landlock.h); the system call numbers are the same on every architecture.
_LANDLOCK_CREATE_RULESET, _LANDLOCK_ADD_RULE, _LANDLOCK_RESTRICT_SELF = 444, 445, 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH, _RULE_NET_PORT = 1, 2
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_TRUNCATE, FS_IOCTL_DEV = 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1
_READ = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
# What FFmpeg (its libraries, drivers, locale and time zone data) may read, besides its folder.
READABLE = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc", "/opt", "/proc", "/sys")


@functools.cache
def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 without Landlock (old kernel, LSM off, a
    container runtime that forbids it)."""
    if _syscall is None:
        return 0
    version = _syscall(_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), _LANDLOCK_CREATE_RULESET_VERSION)
    return max(0, int(version))


@functools.cache
def _binary_folders() -> tuple[str, ...]:
    """Where ffmpeg and ffprobe are, when not in a system folder (/usr/local is in /usr)."""
    found = (shutil.which(name) for name in ("ffmpeg", "ffprobe"))
    return tuple(sorted({os.path.dirname(os.path.realpath(path)) for path in found if path}))


def _fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1  # ABI 1: execute .. make_sym
    if abi >= 2:
        rights |= 1 << 13  # refer
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


def _landlock(abi: int, readable: tuple[str, ...], own_folder: bool, connect_port: int | None) -> None:
    """In the child: FFmpeg reads only `readable` (system folders: libraries, drivers, /etc,
    /proc), writes only its folder and devices, connects over TCP only to the media server's
    port (or nowhere), and signals no process outside. Best effort: nothing without Landlock
    (`abi` 0). Both are found in the parent (`popen_kwargs`)."""
    if abi < 1:
        return
    fs = _fs_rights(abi)
    net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    attr = struct.pack("QQQ", fs, net, scoped)[: 24 if abi >= 6 else 16]
    ruleset = _syscall(_LANDLOCK_CREATE_RULESET, attr, ctypes.c_size_t(len(attr)), 0)
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        grants: list[tuple[str, int]] = [(path, _READ) for path in readable]
        devices = FS_READ_FILE | FS_WRITE_FILE | FS_READ_DIR | (fs & (FS_TRUNCATE | FS_IOCTL_DEV))
        grants.append(("/dev", devices))  # /dev/null, /dev/urandom, the GPU's nodes
        if own_folder:
            # Its working folder is its cwd, entered before the user switch: the folders
            # above it may be closed to FFmpeg's user (a checkout in /root).
            grants.append((".", fs))
        for path, rights in grants:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                if path == ".":
                    raise
                continue  # not on this machine (/lib32, /opt)
            try:
                if not os.path.isdir(path):
                    rights &= FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
                rule = struct.pack("=Qi", rights, fd)
                if _syscall(_LANDLOCK_ADD_RULE, ruleset, _RULE_PATH_BENEATH, rule, 0) < 0:
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule {path} failed")
            finally:
                os.close(fd)
        if net and connect_port is not None:
            rule = struct.pack("QQ", NET_CONNECT_TCP, connect_port)
            if _syscall(_LANDLOCK_ADD_RULE, ruleset, _RULE_NET_PORT, rule, 0) < 0:
                raise OSError(ctypes.get_errno(), "landlock_add_rule (port) failed")
        if _syscall(_LANDLOCK_RESTRICT_SELF, ruleset, 0) < 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)


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


def popen_kwargs(workdir: Path | None = None, connect_port: int | None = None) -> dict[str, Any]:
    """subprocess keyword arguments that confine a child (with `env=` from ffmpeg): it runs
    in `workdir` (its cwd), may write only there, and connects over TCP only to
    `connect_port`. Hand `workdir` over first (`hand_over`)."""
    where: dict[str, Any] = {"cwd": workdir} if workdir is not None else {}
    if not enabled():
        return {"preexec_fn": die_with_parent, **where}
    # Compiled and found here, in the parent: the child only applies them.
    landlock = (landlock_abi(), READABLE + _binary_folders(), workdir is not None, connect_port)
    kwargs: dict[str, Any] = {"preexec_fn": functools.partial(_confine, _program().fprog, landlock), **where}
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


def _confine(fprog: _SockFprog, landlock: tuple[int, tuple[str, ...], bool, int | None]) -> None:
    """preexec_fn, in the child after the user switch (which clears the death signal)."""
    die_with_parent()
    if _prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
    _landlock(*landlock)
    if _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "installing the seccomp filter failed")


def protect_self() -> None:
    """Make this process non-dumpable: a process of the same user (an FFmpeg where the
    worker is not root) can then neither read its /proc/<pid>/environ nor attach to it."""
    if _prctl is not None:
        _prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def hand_over(path: Path) -> None:
    """Give FFmpeg's working folder to its user (when it has one): it runs there (its cwd,
    every path it is given relative to it), so no folder above need be open to it. Files
    the worker put there become its too, but for hard links to stored media (inputs read in
    place), which stay the worker's. The worker, root, still reads and deletes everything."""
    who = identity()
    if who is None:
        return
    if path.stat().st_mode & stat.S_ISVTX:  # /tmp itself, say: never a working folder
        raise ValueError(f"{path} is a shared folder, not FFmpeg's own")
    for root, _dirs, files in os.walk(path):
        os.chown(root, who.uid, who.gid)
        for name in files:
            child = os.path.join(root, name)
            if os.lstat(child).st_nlink == 1:
                os.lchown(child, who.uid, who.gid)


def check() -> None:
    """At a worker's start: the filter compiles and FFmpeg's user exists and is not root.
    ImproperlyConfigured names what to fix."""
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
    abi = landlock_abi()
    if abi == 0:
        log.warning(
            "Landlock is not available here (Linux 5.13 or later with the landlock LSM): FFmpeg "
            "may read any file its user may, write wherever its user may, and connect anywhere"
        )
    elif abi < 4:
        log.warning(
            "Landlock ABI %s: FFmpeg's files are confined, its TCP connections are not (Linux 6.7)", abi
        )
    log.info(
        "FFmpeg runs as %s, without new privileges, under seccomp and Landlock ABI %s",
        who.name if who else "this worker's user",
        abi,
    )
