"""S-12: FFmpeg and ffprobe parse media a publisher controls, so they run confined.

A process started the way the platform starts FFmpeg (`ffmpeg.spawn_kwargs()`) is asked to
do what a decoder exploit would: read the worker's environment or a secret file, attach to
the worker, open a raw or netlink socket, make a namespace, write outside its folder. With
the sandbox every one fails; with `FFMPEG_SANDBOX=false` the same probe succeeds, so these
tests see the difference. The probe is Debian's own Python (the virtualenv's interpreter
lives under /root, which FFmpeg's user cannot enter), the escape attempts are system calls.
"""

import contextlib
import json
import os
import pwd
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from socialflow.lib import ffmpeg, sandbox
from socialflow.tests.processes import open_folder

PYTHON = "/usr/bin/python3"
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="the user switch needs a root worker (CI runs as root)")

PROBE = r"""
import ctypes, json, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
worker, secret, folder, outside = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
public, media_port, other_port = sys.argv[5], int(sys.argv[6]), int(sys.argv[7])
seen = {}

def attempt(name, action):
    try:
        action()
        seen[name] = "ok"
    except OSError as exc:
        seen[name] = exc.errno

def syscall_attempt(name, result):
    seen[name] = "ok" if result == 0 else ctypes.get_errno()

attempt("read_worker_environ", lambda: open(f"/proc/{worker}/environ", "rb").read())
attempt("read_secret_file", lambda: open(secret).read())
attempt("write_outside", lambda: open(os.path.join(outside, "planted"), "w").write("x"))
attempt("write_own_folder", lambda: open(os.path.join(folder, "segment.ts"), "w").write("x"))
attempt("netlink_socket", lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0).close())
attempt("read_public_file", lambda: open(public).read())
attempt("connect_media_server", lambda: socket.create_connection(("127.0.0.1", media_port), 5).close())
attempt("connect_other_port", lambda: socket.create_connection(("127.0.0.1", other_port), 5).close())
# PTRACE_SEIZE: attaches without stopping the worker (detached when the probe exits).
syscall_attempt("ptrace_worker", libc.ptrace(0x4206, worker, None, None))
pid = os.fork()
if pid == 0:  # the namespace attempt in a child: a success must not change this probe
    os._exit(0 if libc.unshare(0x10000000) == 0 else ctypes.get_errno())  # CLONE_NEWUSER
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
seen["new_user_namespace"] = "ok" if code == 0 else code
print(json.dumps(seen))
"""


def probe(tmp: Path, *, worker: int) -> dict:
    """What a process started as the live transcoder's FFmpeg is could do (errno where it
    was refused). The media server and "PostgreSQL" are two listeners on loopback."""
    with (
        listening() as media,
        listening() as other,
        override_settings(RTMP_PULL_URL=f"rtmp://127.0.0.1:{media}/live"),
    ):
        return _probe(tmp, worker, media, other)


@contextlib.contextmanager
def listening():
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


def _probe(tmp: Path, worker: int, media_port: int, other_port: int) -> dict:
    secret = tmp / "secret.env"
    secret.write_text("SECRET_KEY=do-not-read\n")
    secret.chmod(0o600)
    outside = tmp / "platform"
    outside.mkdir(exist_ok=True)
    outside.chmod(0o755)
    public = outside / "settings.py"  # the platform's code: readable by anyone
    public.write_text("DEBUG = False\n")
    public.chmod(0o644)
    folder = tmp / "run1"
    folder.mkdir(exist_ok=True)
    result = subprocess.run(
        [PYTHON, "-c", PROBE, *map(str, (worker, secret, folder, outside, public, media_port, other_port))],
        capture_output=True,
        text=True,
        timeout=30,
        **ffmpeg.spawn_kwargs(folder, pulls=True),
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def reachable():
    with open_folder() as folder:
        yield folder


@pytest.fixture
def worker():
    """A root process with a secret in its environment, as the transcode worker is."""
    proc = subprocess.Popen(["sleep", "60"], env={"SECRET_KEY": "do-not-read"})
    yield proc.pid
    proc.kill()
    proc.wait()


def status_of(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


@needs_root
def test_ffmpeg_runs_as_its_own_user_without_new_privileges_under_a_seccomp_filter(settings):
    proc = subprocess.Popen(
        [
            *("ffmpeg", "-nostdin", "-loglevel", "error", "-re"),
            *("-f", "lavfi", "-i", "testsrc=size=160x120", "-t", "20", "-f", "null", "-"),
        ],
        **ffmpeg.spawn_kwargs(),
    )
    try:
        time.sleep(0.5)
        status = status_of(proc.pid)
        nobody = pwd.getpwnam(settings.FFMPEG_USER)
        assert status["Uid"].split() == [str(nobody.pw_uid)] * 4
        assert status["Gid"].split() == [str(nobody.pw_gid)] * 4
        assert status["Groups"] == ""  # none of the worker's groups
        assert status["NoNewPrivs"] == "1"
        assert status["Seccomp"] == "2"  # filter mode
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)


@needs_root
def test_a_confined_ffmpeg_can_do_its_work_and_none_of_an_exploits(reachable, worker):
    seen = probe(reachable, worker=worker)
    assert seen["write_own_folder"] == "ok"  # its segments
    assert seen["connect_media_server"] == "ok"  # the RTMP pull
    refused = {key: value for key, value in seen.items() if value != "ok"}
    expected = {
        "read_worker_environ": 13,  # EACCES: another user's process
        "read_secret_file": 13,
        "write_outside": 13,
        "netlink_socket": 97,  # EAFNOSUPPORT: the filter
        "ptrace_worker": 1,  # EPERM: the filter
        "new_user_namespace": 1,  # EPERM: the filter
    }
    if sandbox.landlock_abi() >= 4:
        expected["read_public_file"] = 13  # EACCES: Landlock (outside the system folders)
        expected["connect_other_port"] = 13  # EACCES: Landlock (PostgreSQL, Redis on the host)
    assert refused == expected


@needs_root
def test_without_the_sandbox_the_same_probe_gets_everything(reachable, worker, settings):
    """The contrast that shows the test above can fail: FFMPEG_SANDBOX=false."""
    settings.FFMPEG_SANDBOX = False
    seen = probe(reachable, worker=worker)
    assert seen == dict.fromkeys(seen, "ok")


@pytest.mark.parametrize("protect", [True, False])
def test_a_same_user_ffmpeg_cannot_read_a_protected_workers_environment(reachable, protect, settings):
    """Where the worker is not root (the compose image), FFmpeg runs as its user: the
    worker is non-dumpable (sandbox.protect_self), so its /proc/<pid>/environ stays closed.
    The probe runs without the rest of the sandbox here (Landlock alone also keeps it from
    another domain's /proc), to see this one guard: it holds on a kernel without Landlock."""
    settings.FFMPEG_SANDBOX = False
    if ROOT:
        nobody = pwd.getpwnam("nobody")
        os.chown(reachable, nobody.pw_uid, nobody.pw_gid)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the "worker": a non-root process holding a secret in its environment
        code = 1
        try:
            os.close(read)
            if ROOT:
                os.setgroups([])
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)
            if protect:
                sandbox.protect_self()
            else:  # a process started as that user is dumpable; a setuid() left this one not
                sandbox._prctl(sandbox.PR_SET_DUMPABLE, 1, 0, 0, 0)
            seen = probe(reachable, worker=os.getpid())
            os.write(write, json.dumps(seen).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as pipe:
        answer = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    seen = json.loads(answer)
    if protect:
        assert seen["read_worker_environ"] == 13
        assert seen["ptrace_worker"] == 1
    else:
        assert seen["read_worker_environ"] == "ok"


def test_hand_over_gives_a_folder_and_its_files_to_ffmpegs_user(reachable, settings):
    (reachable / "src").mkdir()
    (reachable / "src" / "0.ts").write_bytes(b"x")
    sandbox.hand_over(reachable)
    expected = pwd.getpwnam(settings.FFMPEG_USER).pw_uid if ROOT else os.geteuid()
    owners = {p.stat().st_uid for p in [reachable, *reachable.rglob("*")]}
    assert owners == {expected}


def test_ffmpeg_works_in_its_folder_under_folders_closed_to_its_user(tmp_path):
    """pytest's tmp_path is under /tmp/pytest-of-root, mode 0700: FFmpeg runs in the folder
    it is handed, with relative paths, and needs nothing above it (a checkout in /root)."""
    work = tmp_path / "work"
    work.mkdir()
    ffmpeg.run(["-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "1", "clip.mp4"], workdir=work)
    assert ffmpeg.duration("clip.mp4", workdir=work) == pytest.approx(1.0, abs=0.2)
    if ROOT:
        assert (work / "clip.mp4").stat().st_uid == pwd.getpwnam("nobody").pw_uid


def test_hand_over_refuses_a_shared_folder():
    if sandbox.identity() is not None:
        with pytest.raises(ValueError, match="shared folder"):
            sandbox.hand_over(Path("/tmp"))


@needs_root
@pytest.mark.parametrize(("user", "message"), [("no-such-user", "is no user"), ("root", "must not be root")])
def test_ffmpeg_user_must_be_an_unprivileged_user(settings, user, message):
    settings.FFMPEG_USER = user
    with pytest.raises(ImproperlyConfigured, match=f"FFMPEG_USER.*{message}"):
        sandbox.check()
