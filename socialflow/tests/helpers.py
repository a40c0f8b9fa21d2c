"""Helpers any test module may import. Fixtures belong in conftest.py files, and a test
module never imports another test module: what two of them share lives here (or in its
app's tests/helpers.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
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
