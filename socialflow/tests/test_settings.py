"""Settings come from the environment, fail loudly on bad values, and pass the deploy check."""

import pytest

from socialflow.tests.helpers import PRODUCTION, manage
from socialflow.tests.processes import BASE_DIR


def test_deploy_check_is_clean_with_production_settings():
    env = {**PRODUCTION, "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true", "SECURE_HSTS_PRELOAD": "true"}
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_deploy_check_reports_only_the_hsts_choices_the_readme_explains():
    result = manage("check", "--deploy", env=PRODUCTION)
    reported = {
        line.split(")")[0].split("(")[1] for line in result.stderr.splitlines() if line.startswith("?: (")
    }
    assert reported == {"security.W005", "security.W021"}, result.stderr
    readme = (BASE_DIR / "README.md").read_text()
    assert "security.W005" in readme and "security.W021" in readme


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY is not set"),
        ({"GO_LIVE_MIN_FOLLOWERS": "fifty"}, "invalid literal for int()"),
        ({"GO_LIVE_MIN_FOLLOWERS": "-1"}, "GO_LIVE_MIN_FOLLOWERS must be 0 or more"),
        ({"MEDIA_SERVER": "wowza"}, "MEDIA_SERVER must be 'nginx-rtmp' or 'srs'"),
        ({"DATABASE_URL": "nosuchdb://x"}, "nosuchdb"),
    ],
)
def test_bad_values_fail_loudly(env, message):
    result = manage("check", env={**PRODUCTION, **env})
    assert result.returncode != 0
    assert message in result.stderr


def test_local_defaults_need_no_environment_but_debug():
    result = manage("check", env={"PATH": "/usr/bin:/bin", "DEBUG": "true", "ENV_FILE": "/nonexistent"})
    assert result.returncode == 0, result.stderr


def test_configuration_docs_document_every_environment_variable():
    """docs/configuration.md lists every variable the settings and the web tier read, and
    nothing they do not (the test-only variables of settings_test.py may be listed too)."""
    import re

    settings_py = (BASE_DIR / "socialflow/settings.py").read_text()
    names = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z0-9_]+)"', settings_py))
    assert len(names) > 30
    environ_get = r'os\.environ\.get\("([A-Z0-9_]+)"'
    names |= set(re.findall(environ_get, (BASE_DIR / "socialflow/web.py").read_text()))
    assert {"WEB_CONCURRENCY", "PORT", "BIND"} <= names
    test_only = set(re.findall(environ_get, (BASE_DIR / "socialflow/settings_test.py").read_text()))

    docs = (BASE_DIR / "docs/configuration.md").read_text()
    assert sorted(n for n in names if f"`{n}`" not in docs) == []
    # The first column of every table row names variables; each must be read somewhere.
    listed = {
        name
        for line in docs.splitlines()
        if line.startswith("| `")
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1])
    }
    assert names <= listed
    assert sorted(listed - names - test_only) == []


def test_openapi_schema_generates_without_warnings(tmp_path):
    out = tmp_path / "schema.yml"
    env = {**PRODUCTION, "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true", "SECURE_HSTS_PRELOAD": "true"}
    result = manage("spectacular", "--validate", "--fail-on-warn", "--file", str(out), env=env)
    assert result.returncode == 0, result.stderr
    schema = out.read_text()
    for path in (
        "/api/v1/auth/register/",
        "/api/v1/me/",
        "/api/v1/users/{username}/follow/",
        "/api/v1/streams/eligibility/",
    ):
        assert f"{path}:" in schema
    assert "bearerFormat: JWT" in schema
