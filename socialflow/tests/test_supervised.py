"""`make run`'s processes under supervisord (deploy/supervisord.conf), as `make run` starts
them: one killed with -9 (as the OOM killer does) is back within 5 s with a log line while
the others keep serving, and SIGINT (Ctrl-C) stops everything, nginx included."""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from socialflow.tests.helpers import wait_for
from socialflow.tests.processes import BASE_DIR, BIN, free_port, http_ok, process_env

pytestmark = [pytest.mark.e2e, pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def spawned(log: Path) -> dict[str, int]:
    """The newest pid of each program, from supervisord's "spawned: 'name' with pid N"."""
    pids: dict[str, int] = {}
    for name, pid in re.findall(r"spawned: '(\w+)' with pid (\d+)", log.read_text(errors="replace")):
        pids[name] = int(pid)
    return pids


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            continue
        for child in children:
            found |= {child} | descendants(child)
    return found


def test_a_killed_process_comes_back_alone_and_ctrl_c_stops_all(tmp_path):
    port, rtmp, control = free_port(), free_port(), free_port()
    env = process_env(
        BIND="127.0.0.1",
        PORT=str(port),
        SOCIALFLOW_VAR=str(tmp_path / "var"),
        RTMP_PORT=str(rtmp),
        MEDIA_SERVER="nginx-rtmp",
        MEDIA_SERVER_API_URL=f"http://127.0.0.1:{control}",
        MEDIA_HOOK_BASE_URL=f"http://127.0.0.1:{port}",
        RTMP_PULL_URL=f"rtmp://127.0.0.1:{rtmp}/live",
    )
    (tmp_path / "var").mkdir()
    log = tmp_path / "supervisord.log"
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        supervisor = subprocess.Popen(
            [str(BIN / "supervisord"), "-c", str(BASE_DIR / "deploy/supervisord.conf")],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    everything: set[int] = set()
    try:
        wait_for(lambda: http_ok(f"{base}/healthz/") or None, timeout=60, what="the web tier")
        wait_for(lambda: len(spawned(log)) == 5 or None, timeout=30, what="five programs")
        wait_for(lambda: http_ok(f"http://127.0.0.1:{control}/stat") or None, timeout=30, what="nginx-rtmp")
        first = spawned(log)
        everything |= descendants(supervisor.pid)
        names = {Path(f"/proc/{pid}/comm").read_text().strip() for pid in everything if alive(pid)}

        for name in ("transcode", "web", "media"):
            victim = first[name]
            os.kill(victim, signal.SIGKILL)
            killed = time.monotonic()
            back = wait_for(
                lambda name=name, victim=victim: spawned(log)[name] != victim or None,
                timeout=10,
                what=f"{name} restarted",
            )
            took = time.monotonic() - killed
            print(f"{name}: back {took:.1f} s after kill -9")
            assert back and took <= 5
            assert re.search(rf"exited: {name} \(terminated by SIGKILL; not expected\)", log.read_text())
            if name != "web":  # the others kept serving meanwhile
                assert http_ok(f"{base}/healthz/")
            wait_for(lambda: http_ok(f"{base}/healthz/") or None, timeout=30, what="the web tier")
            wait_for(lambda: http_ok(f"http://127.0.0.1:{control}/stat") or None, timeout=30, what="nginx")
            everything |= descendants(supervisor.pid)

        supervisor.send_signal(signal.SIGINT)  # Ctrl-C
        assert supervisor.wait(40) == 0
    finally:
        if supervisor.poll() is None:  # the test failed before Ctrl-C: stop what it started
            everything |= descendants(supervisor.pid)
            supervisor.send_signal(signal.SIGINT)
            try:
                supervisor.wait(30)
            except subprocess.TimeoutExpired:
                supervisor.kill()
                supervisor.wait()
    left = sorted(pid for pid in everything if alive(pid))
    for pid in left:  # ours, and not to outlive the test whatever it asserts
        os.kill(pid, signal.SIGKILL)
    assert left == [], f"left behind: {[(p, Path(f'/proc/{p}/cmdline').read_text()) for p in left]}"
    assert "nginx" in names  # the media server's nginx was among them, and is gone
