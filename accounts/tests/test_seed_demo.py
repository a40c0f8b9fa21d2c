"""S-11: `make run`'s demo data never resets a password (or anything) of an account it
finds, uses a random password, and makes no known logins on a reachable address."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import User


@pytest.fixture
def dev(settings, tmp_path, monkeypatch):
    settings.DEBUG = True
    settings.BASE_DIR = tmp_path
    monkeypatch.setenv("BIND", "127.0.0.1")
    return tmp_path


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out, stderr=out)
    return out.getvalue()


@pytest.mark.django_db
def test_a_random_password_once_and_nothing_reset_later(dev):
    printed = seed()
    password = (dev / "var" / "demo-password").read_text().strip()
    assert len(password) >= 16 and password in printed and password != "socialflow-demo"
    assert oct((dev / "var" / "demo-password").stat().st_mode & 0o777) == "0o600"
    admin = User.objects.get(username="admin")
    assert admin.check_password(password) and admin.is_superuser

    admin.set_password("my own secret")
    admin.is_active = False  # banned since, say
    admin.save()
    again = seed()
    admin.refresh_from_db()
    assert admin.check_password("my own secret") and not admin.is_active
    assert password not in again and "there already" in again


@pytest.mark.django_db
def test_no_demo_logins_on_a_reachable_address(dev, monkeypatch):
    monkeypatch.setenv("BIND", "0.0.0.0")
    printed = seed()
    assert "No demo data with BIND=0.0.0.0" in printed
    assert not User.objects.filter(username="admin").exists()


@pytest.mark.django_db
def test_refused_without_debug(dev, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        seed()


def test_make_runs_env_file_is_readable_by_its_owner_alone(tmp_path):
    """The review's leak list: `.env` (SECRET_KEY, MEDIA_HOOK_SECRET) was written 0644."""
    import shutil
    import stat
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    (tmp_path / "scripts").mkdir()
    shutil.copy(root / "scripts/setup.sh", tmp_path / "scripts/setup.sh")
    venv = Path(sys.executable).parent.parent
    env = {"PATH": "/usr/bin:/bin", "VENV": str(venv)}
    subprocess.run(
        ["bash", "scripts/setup.sh", "envfile"], cwd=tmp_path, env=env, check=True, capture_output=True
    )
    written = tmp_path / ".env"
    assert "SECRET_KEY=" in written.read_text()
    # Local receivers (a developer's tool) may be webhook targets under make run.
    assert "\nWEBHOOKS_ALLOW_PRIVATE_TARGETS=true\n" in written.read_text()
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    written.chmod(0o644)  # one from before: tightened on the next run
    subprocess.run(
        ["bash", "scripts/setup.sh", "envfile"], cwd=tmp_path, env=env, check=True, capture_output=True
    )
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
