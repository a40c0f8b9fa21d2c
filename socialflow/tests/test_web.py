"""socialflow.web: several Daphne processes sharing one socket, supervised."""

import contextlib
import os
import signal
import urllib.error
import urllib.request
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


@pytest.mark.faults
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


def test_the_access_log_never_prints_a_secret_from_the_query_string(tmp_path):
    """The media server's hooks carry MEDIA_HOOK_SECRET in the URL, and apps' sockets their
    token: Daphne's access log shows the request with those values redacted."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "web.log"
    args = [str(BIN / "python"), "-m", "socialflow.web", "--port", str(port), "--workers", "1"]
    with running(args, ready=lambda: http_ok(f"{base}/healthz/"), log_path=log):
        for path in (
            "/hooks/nginx-rtmp/?secret=hook-secret-123&call=publish",
            "/api/v1/me/?token=jwt-456",
            "/healthz/?x=1&Secret=hook-secret-789",
        ):
            # Refused is fine: the log line is what matters.
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(
                    urllib.request.Request(base + path, data=b"", method="POST"), timeout=5
                )
        wait_for(
            lambda: log.read_text().count("<redacted>") >= 3 or None,
            timeout=10,
            what="three access-log lines",
        )
    text = log.read_text()
    assert "hook-secret-123" not in text and "jwt-456" not in text and "hook-secret-789" not in text
    assert '"POST /hooks/nginx-rtmp/?secret=<redacted>&call=publish"' in text
