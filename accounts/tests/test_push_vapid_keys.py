"""The VAPID key pair: `make run` writes one into .env on the first run (scripts/setup.sh
envfile), the settings take it (and refuse a pair that is not one), pywebpush signs with it."""

import os
import runpy
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from py_vapid import Vapid
from py_vapid.jwt import decode as jwt_decode

from accounts.tests.push_service import vapid_key_pair

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent


def envfile(where: Path) -> dict[str, str]:
    """Runs `scripts/setup.sh envfile` in a copy of the scripts at `where`; the .env it left."""
    (where / "scripts").mkdir(exist_ok=True)
    shutil.copy(ROOT / "scripts/setup.sh", where / "scripts/setup.sh")
    env = {"PATH": "/usr/bin:/bin", "VENV": str(VENV)}
    subprocess.run(
        ["bash", "scripts/setup.sh", "envfile"], cwd=where, env=env, check=True, capture_output=True
    )
    lines = (where / ".env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def settings_with(env_file: Path) -> list[str]:
    """What the real settings module makes of that .env: [WEB_PUSH_ENABLED, public key]."""
    code = (
        "from socialflow import settings as s; print(s.WEB_PUSH_ENABLED); print(s.WEB_PUSH_VAPID_PUBLIC_KEY)"
    )
    env = {"PATH": "/usr/bin:/bin", "ENV_FILE": str(env_file), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.split()


def test_the_first_run_writes_a_key_pair_the_settings_and_pywebpush_take(tmp_path):
    written = envfile(tmp_path)
    public, private = written["WEB_PUSH_VAPID_PUBLIC_KEY"], written["WEB_PUSH_VAPID_PRIVATE_KEY"]
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600
    assert settings_with(tmp_path / ".env") == ["True", public]

    # pywebpush reads the private key as it is written (webpush(vapid_private_key=...)), and
    # what it signs verifies with the public key browsers subscribe with.
    headers = Vapid.from_string(private).sign(
        {"sub": "mailto:ops@example.com", "aud": "https://push.example"}
    )
    token = dict(p.split("=", 1) for p in headers["Authorization"].split(" ", 1)[1].split(","))
    assert token["k"] == public
    assert jwt_decode(token["t"], public)["aud"] == "https://push.example"
    assert envfile(tmp_path) == written  # a second run changes nothing


def test_a_env_from_before_push_gets_a_key_pair_and_keeps_the_rest(tmp_path):
    (tmp_path / ".env").write_text("DEBUG=true\nSECRET_KEY=kept\nMEDIA_HOOK_SECRET=also-kept\n")
    written = envfile(tmp_path)
    assert (written["SECRET_KEY"], written["MEDIA_HOOK_SECRET"]) == ("kept", "also-kept")
    assert settings_with(tmp_path / ".env") == ["True", written["WEB_PUSH_VAPID_PUBLIC_KEY"]]


def test_a_env_that_turned_push_off_is_left_so(tmp_path):
    (tmp_path / ".env").write_text("DEBUG=true\nWEB_PUSH_VAPID_PUBLIC_KEY=\nWEB_PUSH_VAPID_PRIVATE_KEY=\n")
    written = envfile(tmp_path)
    assert (written["WEB_PUSH_VAPID_PUBLIC_KEY"], written["WEB_PUSH_VAPID_PRIVATE_KEY"]) == ("", "")
    assert settings_with(tmp_path / ".env") == ["False"]


def _load_settings(monkeypatch, **env: str) -> dict:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert os.environ["ENV_FILE"] == "/nonexistent"  # no developer's .env
    return runpy.run_path(str(ROOT / "socialflow/settings.py"))


def test_the_settings_take_a_key_pair(monkeypatch):
    public, private = vapid_key_pair()
    loaded = _load_settings(monkeypatch, WEB_PUSH_VAPID_PUBLIC_KEY=public, WEB_PUSH_VAPID_PRIVATE_KEY=private)
    assert loaded["WEB_PUSH_ENABLED"] is True


@pytest.mark.parametrize(
    ("which", "message"),
    [
        ("public only", "or neither"),
        ("two pairs", "not one P-256 key pair"),
        ("garbage", "not a P-256 key|not one P-256 key pair"),
    ],
)
def test_the_settings_refuse_what_is_not_one_key_pair(monkeypatch, which, message):
    public, private = vapid_key_pair()
    other_public, _ = vapid_key_pair()
    env = {
        "public only": {"WEB_PUSH_VAPID_PUBLIC_KEY": public},
        "two pairs": {"WEB_PUSH_VAPID_PUBLIC_KEY": other_public, "WEB_PUSH_VAPID_PRIVATE_KEY": private},
        "garbage": {"WEB_PUSH_VAPID_PUBLIC_KEY": public, "WEB_PUSH_VAPID_PRIVATE_KEY": "AAAA"},
    }[which]
    with pytest.raises(ImproperlyConfigured, match=message):
        _load_settings(monkeypatch, **env)


def test_the_settings_refuse_a_contact_that_is_no_url(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="WEB_PUSH_CONTACT"):
        _load_settings(monkeypatch, WEB_PUSH_CONTACT="ops@example.com")
