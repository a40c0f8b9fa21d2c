"""The API against its own contract: schemathesis fuzzes every operation of /api/schema/ on a
real web tier, with every check, as an anonymous client, a regular user and a broadcast
owner. Generated examples (a fixed seed, so a failure reproduces), 100 per operation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chat.tests.helpers import token_for
from socialflow.tests.processes import daphne_server

pytestmark = [pytest.mark.e2e, pytest.mark.fuzz, pytest.mark.django_db(transaction=True)]

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "100"))
SEED = 14
# The generated phases. "coverage" (schemathesis' boundary cases, derived rather than
# generated) doubles the run; API_FUZZ_PHASES=examples,coverage,fuzzing,stateful adds it.
PHASES = os.environ.get("API_FUZZ_PHASES", "examples,fuzzing,stateful")


@pytest.fixture
def server(tmp_path):
    # Throttles high enough that the fuzzer reaches every operation's logic (a 429 is
    # documented and would pass, but would test nothing).
    relaxed = {
        f"API_THROTTLE_{scope}": "100000/min" for scope in ("ANON", "USER", "REGISTER", "LOGIN", "FOLLOW")
    }
    with daphne_server(tmp_path, **relaxed) as base:
        yield base


def fuzz(base: str, tmp_path: Path, *headers: str) -> None:
    args = [
        str(SCHEMATHESIS),
        "--config-file",
        str(Path(__file__).with_name("schemathesis.toml")),
        "run",
        f"{base}/api/schema/",
        "--checks",
        "all",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(SEED),
        "--generation-database",
        "none",
        "--workers",
        "2",
        "--no-color",
        "--output-truncate",
        "true",
        "--request-timeout",
        "20",
        "--phases",
        PHASES,
        *[part for header in headers for part in ("-H", header)],
    ]
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    log = os.environ.get("API_FUZZ_LOG")  # the whole report, for a developer reading it
    if log:
        Path(log).write_text(done.stdout + done.stderr)
    print(done.stdout[-6000:])
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-3000:]


def test_anonymous(server, tmp_path):
    fuzz(server, tmp_path)


def test_a_regular_user(server, tmp_path, carol):
    fuzz(server, tmp_path, f"Authorization: Bearer {token_for(carol)}")


def test_a_broadcast_owner(server, tmp_path, live_stream):
    fuzz(server, tmp_path, f"Authorization: Bearer {token_for(live_stream.owner)}")
