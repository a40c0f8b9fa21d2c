"""Helpers any test module may import. Fixtures belong in conftest.py files, and a test
module never imports another test module: what two of them share lives here (or in its
app's tests/helpers.py)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The API's error shape: `status`, a machine `code` and a human `detail`; the body."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def wait_for(
    predicate: Callable[[], T], timeout: float = 15.0, what: str = "condition", interval: float = 0.2
) -> T:
    """Poll `predicate` every `interval` seconds until it returns something truthy (and
    return that), for a real process doing its work; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


_INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.I)


def assert_csp_clean(response: Any) -> dict[str, list[str]]:
    """S-16: the page carries the site's Content-Security-Policy, and nothing on it needs an
    exception to it (an inline script, an on* handler, a javascript: URL). The policy."""
    assert response.status_code == 200, response.status_code
    parts = [part.split() for part in response["Content-Security-Policy"].split(";") if part.strip()]
    policy = {name: values for name, *values in parts}
    assert policy["script-src"] == ["'self'"], policy["script-src"]
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert "camera=()" in response["Permissions-Policy"]
    html = response.content.decode()
    assert not _INLINE_SCRIPT.findall(html), _INLINE_SCRIPT.findall(html)
    assert not _HANDLER.findall(html), _HANDLER.findall(html)
    assert "javascript:" not in html.lower()
    return policy


# The environment of a production deployment, for `manage.py` run as it would be there.
PRODUCTION = {
    "PATH": "/usr/bin:/bin",
    "DEBUG": "false",
    "SECRET_KEY": "Zq3-production-like-secret-key-with-plenty-of-entropy-8f2b1c9d7e6a5",
    "ALLOWED_HOSTS": "stream.example.com",
    "DATABASE_URL": "postgres://socialflow:socialflow@127.0.0.1:5432/socialflow",
    "ENV_FILE": "/nonexistent",
}


def manage(*args, env):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def media_duration(path: str | Path) -> float:
    """A media file's duration by plain ffprobe: the tests' own measuring tool, outside the
    platform's FFmpeg sandbox (which runs only in a folder handed over to it)."""
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return float(result.stdout.strip())
