"""socialflow.web: several Daphne processes sharing one socket, supervised."""

import os
import signal
from pathlib import Path

import pytest

from socialflow.tests.helpers import wait_for
from socialflow.tests.processes import BIN, free_port, http_ok, running

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def test_web_tier_runs_n_daphnes_restarts_a_dead_one_and_stops_them_all(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = [str(BIN / "python"), "-m", "socialflow.web", "--port", str(port), "--workers", "2"]
    with running(args, ready=lambda: http_ok(f"{base}/healthz/"), log_path=tmp_path / "web.log") as launcher:
        wait_for(lambda: len(children(launcher.pid)) == 2, timeout=20, what="two Daphnes")
        first = children(launcher.pid)
        assert all(http_ok(f"{base}/healthz/") for _ in range(20))

        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: len(children(launcher.pid) - {victim}) == 2, timeout=20, what="a new Daphne")
        assert victim not in children(launcher.pid)
        assert http_ok(f"{base}/healthz/")
        daphnes = children(launcher.pid)

        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(25) == 0
    for pid in daphnes:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    assert "restarting" in (tmp_path / "web.log").read_text()
