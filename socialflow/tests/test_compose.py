"""Static checks of the production-shaped deployment files (no Docker engine, no database).

docker-compose.yml is parsed with PyYAML and checked for internal consistency (every
dependency and volume exists, every app process gets the full environment, the media
server is wired to the hook endpoint) and against socialflow/settings.py (every variable
compose sets is one the settings read). When a compose CLI is installed its own
validator runs too: Debian's docker-compose 1.29 (`apt-get install docker-compose`)
validates with `config -q` without a Docker engine.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SRS_CONF = ROOT / "deploy" / "srs.conf"
SETTINGS_FILE = ROOT / "socialflow" / "settings.py"

APP_IMAGE_ENV = [
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "SITE_URL",
    "DATABASE_URL",
    "REDIS_URL",
    "CACHE_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "AWS_STORAGE_BUCKET_NAME",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_S3_ENDPOINT_URL",
    "AWS_S3_PUBLIC_URL",
    "AWS_S3_REGION_NAME",
    "MEDIA_SERVER",
    "MEDIA_SERVER_API_URL",
    "MEDIA_HOOK_SECRET",
    "RTMP_PUBLIC_URL",
    "RTMP_PULL_URL",
    "SECURE_SSL_REDIRECT",
    "TRUST_X_FORWARDED_PROTO",
    "GO_LIVE_MIN_FOLLOWERS",
    "EMAIL_URL",
]
APP_SERVICES = {"migrate", "web", "worker-default", "worker-transcode", "beat", "flower"}
SRS_HOOKS = ["on_publish", "on_unpublish", "on_play", "on_stop", "on_dvr", "on_hls"]
HOOK_PATH = "/hooks/srs/"

# Values for the `${VAR:?message}` interpolations when a compose CLI validates the file.
CLI_ENV = {
    "SECRET_KEY": "test-only-secret-key",
    "MEDIA_HOOK_SECRET": "test-only-hook-secret",
    "FLOWER_BASIC_AUTH": "ops:test-only",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    with COMPOSE_FILE.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def env_names(service: dict) -> set[str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # ["NAME=value", "NAME"]
        return {item.split("=", 1)[0] for item in env}
    return set(env)


def env_mapping(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def depends_on_names(service: dict) -> list[str]:
    deps = service.get("depends_on") or []
    return list(deps) if isinstance(deps, (list, dict)) else []


def uses_app_image(service: dict) -> bool:
    return "build" in service


def published_ports(service: dict) -> set[tuple[int, str]]:
    """(published host port, protocol) for each entry in short or long syntax."""
    found = set()
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            if entry.get("published") is not None:
                found.add((int(entry["published"]), entry.get("protocol", "tcp")))
            continue
        spec, _, proto = str(entry).partition("/")
        parts = spec.split(":")
        if len(parts) >= 2:  # [ip:]host:container
            found.add((int(parts[-2]), proto or "tcp"))
    return found


def srs_directives(text: str) -> dict[str, list[str]]:
    """Hook name -> URLs, from the http_hooks block of an SRS config."""
    text = re.sub(r"#[^\n]*", "", text)
    block = re.search(r"http_hooks\s*\{(.*?)\}", text, re.DOTALL)
    assert block, "deploy/srs.conf has no http_hooks block"
    hooks = {}
    for statement in block.group(1).split(";"):
        words = statement.split()
        if words:
            hooks[words[0]] = words[1:]
    return hooks


def srs_section_enabled(text: str, section: str) -> bool:
    text = re.sub(r"#[^\n]*", "", text)
    for match in re.finditer(rf"\b{section}\s*\{{(.*?)\}}", text, re.DOTALL):
        if re.search(r"\benabled\s+on\s*;", match.group(1)):
            return True
    return False


# --- structure ---------------------------------------------------------------


def test_expected_services_exist(services):
    expected = {"postgres", "redis", "minio", "minio-init", "srs"} | APP_SERVICES
    assert expected <= set(services), f"missing: {sorted(expected - set(services))}"


def test_app_services_share_one_image(services):
    app = {name for name, svc in services.items() if uses_app_image(svc)}
    assert app == APP_SERVICES
    images = {services[name].get("image") for name in app}
    assert len(images) == 1 and None not in images, images


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_service_has_required_environment(services, name):
    missing = [var for var in APP_IMAGE_ENV if var not in env_names(services[name])]
    assert not missing, f"{name} lacks {missing}"


def test_required_secrets_must_be_set(services):
    env = env_mapping(services["web"])
    assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")
    assert env["MEDIA_HOOK_SECRET"].startswith("${MEDIA_HOOK_SECRET:?")
    assert env["DEBUG"].lower() == "false"


def test_every_depends_on_target_exists(services):
    for name, svc in services.items():
        for target in depends_on_names(svc):
            assert target in services, f"{name} depends on unknown service {target}"
            assert target != name, f"{name} depends on itself"


def test_web_waits_for_stores_and_migrations(services):
    deps = services["web"]["depends_on"]
    assert isinstance(deps, dict)
    assert deps["postgres"]["condition"] == "service_healthy"
    assert deps["redis"]["condition"] == "service_healthy"
    assert deps["migrate"]["condition"] == "service_completed_successfully"


def test_one_shot_jobs_do_not_restart(services):
    for name in ("migrate", "minio-init"):
        assert services[name].get("restart", "no") == "no", name
    assert services["migrate"]["command"][-3:] == ["manage.py", "migrate", "--noinput"]


def test_stores_have_healthchecks(services):
    for name in ("postgres", "redis", "minio"):
        assert services[name].get("healthcheck", {}).get("test"), name
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])


def test_every_named_volume_is_declared(compose, services):
    declared = set(compose.get("volumes") or {})
    for name, svc in services.items():
        for vol in svc.get("volumes") or []:
            source = vol.get("source") if isinstance(vol, dict) else str(vol).split(":", 1)[0]
            if not source or source.startswith((".", "/", "~", "$")):
                continue  # bind mount
            assert source in declared, f"{name} uses undeclared volume {source}"
    assert {"postgres-data", "minio-data"} <= declared


def test_bind_mounts_exist(services):
    for name, svc in services.items():
        for vol in svc.get("volumes") or []:
            source = vol.get("source") if isinstance(vol, dict) else str(vol).split(":", 1)[0]
            if source and source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def test_ports_published(services):
    published = set()
    for svc in services.values():
        published |= published_ports(svc)
    for port in (8000, 1935, 1985):
        assert (port, "tcp") in published, f"port {port} is not published"
    assert (8000, "tcp") in published_ports(services["web"])
    assert {(1935, "tcp"), (1985, "tcp")} <= published_ports(services["srs"])
    assert (9000, "tcp") in published_ports(services["minio"])


def test_minio_bucket_is_created_and_readable_by_name_only(services):
    """S-01: anonymous GetObject on the media prefixes, never ListBucket (`mc anonymous set
    download` grants both)."""
    script = " ".join(map(str, services["minio-init"].get("command") or []))
    assert "mc mb --ignore-existing local/socialflow" in script
    assert "mc anonymous set-json /etc/socialflow/minio-public-read.json local/socialflow" in script
    assert "set download" not in script and "set public" not in script
    mounts = [str(v.get("source") if isinstance(v, dict) else v) for v in services["minio-init"]["volumes"]]
    assert any(m.endswith("deploy/minio-public-read.json") or "minio-public-read.json" in m for m in mounts)
    policy = json.loads((ROOT / "deploy/minio-public-read.json").read_text())
    actions = {a for statement in policy["Statement"] for a in statement["Action"]}
    resources = {r for statement in policy["Statement"] for r in statement["Resource"]}
    assert actions == {"s3:GetObject"}
    assert all(r.startswith("arn:aws:s3:::socialflow/") and r.endswith("/*") for r in resources)


def test_the_app_signs_in_to_minio_as_a_user_limited_to_its_bucket(services):
    """S-12: the app (and so a compromised FFmpeg's worker) never holds MinIO's root keys."""
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert "MINIO_ROOT" not in str(env["AWS_ACCESS_KEY_ID"]) + str(env["AWS_SECRET_ACCESS_KEY"])
        assert "MINIO_APP_USER" in str(env["AWS_ACCESS_KEY_ID"])
    script = " ".join(map(str, services["minio-init"].get("command") or []))
    assert "mc admin policy create local socialflow-app /etc/socialflow/minio-app-policy.json" in script
    assert 'mc admin user add local "$MINIO_APP_USER"' in script.replace("$$", "$")
    assert "mc admin policy attach local socialflow-app --user" in script
    policy = json.loads((ROOT / "deploy/minio-app-policy.json").read_text())
    actions = {a for statement in policy["Statement"] for a in statement["Action"]}
    resources = {r for statement in policy["Statement"] for r in statement["Resource"]}
    assert actions <= {
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:ListBucket",
        "s3:GetBucketLocation",
    }
    assert resources <= {"arn:aws:s3:::socialflow", "arn:aws:s3:::socialflow/*"}


def test_workers_listen_on_the_right_queues(services):
    default = services["worker-default"]["command"]
    transcode = services["worker-transcode"]["command"]
    # The beat's analytics ticks and the webhook deliveries too.
    assert default[default.index("-Q") + 1] == "default,analytics,webhooks"
    from django.conf import settings

    consumed = {*default[default.index("-Q") + 1].split(","), "transcode"}
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert routed <= consumed, "a queue that tasks are routed to but no worker consumes"
    assert transcode[transcode.index("-Q") + 1] == "transcode"
    assert transcode[transcode.index("--prefetch-multiplier") + 1] == "1"
    # Slots are not the limit on broadcasts: threads that wait on FFmpeg, many of them.
    assert transcode[transcode.index("--pool") + 1] == "threads"
    assert int(transcode[transcode.index("--concurrency") + 1]) >= 8
    assert "--schedule" in services["beat"]["command"]


# --- media server --------------------------------------------------------------


# SRS 7's release tag (7.0.162): past 7.0.151 (the on_publish race, SRS #4182) and 7.0.156
# (the doubled hook param, SRS #4622). A release tag, never a moving one (`7`, `latest`).
SRS_IMAGE = "ossrs/srs:v7.0-a0"


def test_srs_is_pinned_to_an_srs7_release_with_the_fixes(services):
    assert services["srs"]["image"] == SRS_IMAGE
    # The conf says what it was checked against; keep the two in step when bumping.
    assert "ossrs/srs:v7.0-a0" in SRS_CONF.read_text(encoding="utf-8")


def test_srs_mounts_the_config(services):
    srs = services["srs"]
    mounts = [str(v) for v in srs.get("volumes") or []]
    target = "./deploy/srs.conf:/usr/local/srs/conf/srs.conf"
    assert any(m.startswith(target) for m in mounts), mounts
    assert SRS_CONF.is_file()


def test_srs_conf_hooks_point_at_the_hook_endpoint():
    text = SRS_CONF.read_text(encoding="utf-8")
    hooks = srs_directives(text)
    assert hooks.get("enabled") == ["on"]
    for hook in SRS_HOOKS:
        urls = hooks.get(hook)
        assert urls, f"srs.conf lacks {hook}"
        for url in urls:
            # No secret in the URL: SRS logs refused hooks' URLs at ERROR (issue 13).
            assert url == f"http://web:8000{HOOK_PATH}", f"{hook} -> {url}"


def test_srs_conf_keeps_own_hls_and_dvr_off():
    # SRS would name those files after the stream name, i.e. the secret stream key.
    text = SRS_CONF.read_text(encoding="utf-8")
    assert not srs_section_enabled(text, "hls")
    assert not srs_section_enabled(text, "dvr")
    assert re.search(r"^\s*daemon\s+off\s*;", text, re.MULTILINE)


def test_srs_conf_uses_srs7_directives():
    """SRS 7 (7.0.64) reads the RTMP listen from rtmp {}; its checker refuses unknown root
    directives. The root set is SRS 7's (srs_app_config.cpp check_normal_config, 5466d99c)."""
    text = re.sub(r"#[^\n]*", "", SRS_CONF.read_text(encoding="utf-8"))
    block = re.search(r"^rtmp\s*\{(.*?)\}", text, re.DOTALL | re.MULTILINE)
    assert block and re.search(r"\blisten\s+1935\s*;", block.group(1))
    depth, roots, last = 0, set(), ";"
    for token in re.findall(r"[{};]|[^\s{};]+", text):
        if token == "{":
            depth += 1
        elif token == "}":
            depth -= 1
        elif token != ";" and depth == 0 and last in ("{", "}", ";"):
            roots.add(token)  # the name that starts a root statement
        last = token
    assert "listen" not in roots and "chunk_size" not in roots  # SRS 6's top-level forms
    srs7_roots = {"max_connections", "daemon", "srs_log_tank", "srs_log_level", "rtmp", "http_api"}
    srs7_roots |= {"http_server"}
    assert roots <= srs7_roots | {"vhost"}, roots
    # warn keeps stream names, params (OBS's ?key=) and hook bodies out of SRS's trace lines.
    assert re.search(r"^srs_log_level\s+warn\s*;", text, re.MULTILINE)


def test_srs_hooks_carry_no_secret_and_srs_is_allowed_by_its_address(services):
    # SRS 5+ lets SRS_VHOST_HTTP_HOOKS_<HOOK> override vhost.http_hooks.<hook>. SRS logs a
    # refused hook's URL at ERROR: the URL carries no secret, SRS's fixed address is the proof.
    env = env_mapping(services["srs"])
    assert env.get("SRS_VHOST_HTTP_HOOKS_ENABLED") == "on"
    for hook in SRS_HOOKS:
        url = env.get(f"SRS_VHOST_HTTP_HOOKS_{hook.upper()}", "")
        assert url == f"http://web:8000{HOOK_PATH}", (hook, url)
        assert "secret" not in url
    address = services["srs"]["networks"]["default"]["ipv4_address"]
    allowed = [ip_network(n) for n in str(env_mapping(services["web"])["MEDIA_HOOK_ALLOWED_IPS"]).split(",")]
    assert any(ip_address(address) in network for network in allowed)
    assert all(network.num_addresses == 1 for network in allowed)  # SRS alone, not the network


# --- settings ------------------------------------------------------------------


def test_compose_env_names_are_read_by_settings(services):
    if not SETTINGS_FILE.is_file():
        pytest.skip("socialflow/settings.py does not exist yet")
    text = SETTINGS_FILE.read_text(encoding="utf-8")
    names = set()
    for name in APP_SERVICES:
        names |= env_names(services[name])
    unread = sorted(n for n in names if f'"{n}"' not in text and f"'{n}'" not in text)
    assert not unread, f"compose sets variables settings.py never reads: {unread}"


# --- the compose CLI's own validation -------------------------------------------


def compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], check=False, capture_output=True, text=True, timeout=60
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def run_compose_config(cli: list[str], extra_env: dict[str, str], tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k not in CLI_ENV}
    env.update(extra_env)
    # An empty env file, so a developer's .env cannot mask a missing variable.
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("", encoding="utf-8")
    return subprocess.run(
        [*cli, "--env-file", str(empty_env_file), "-f", str(COMPOSE_FILE), "config", "-q"],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_compose_cli_validates_the_file(tmp_path):
    cli = compose_cli()
    if cli is None:
        pytest.skip(
            "no compose CLI (`docker compose` plugin or docker-compose); "
            "`apt-get install docker-compose` provides one that needs no engine"
        )
    result = run_compose_config(cli, CLI_ENV, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_cli_refuses_missing_secrets(tmp_path):
    cli = compose_cli()
    if cli is None:
        pytest.skip("no compose CLI (`docker compose` plugin or docker-compose)")
    result = run_compose_config(cli, {}, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stdout + result.stderr


def test_workers_may_pull_the_raw_feed_from_inside_the_network(compose):
    """R-07: the pull allow-list covers the compose network the workers pull from."""
    subnet = ipaddress.ip_network(compose["networks"]["default"]["ipam"]["config"][0]["subnet"])
    allowed = compose["x-app"]["environment"]["MEDIA_PULL_ALLOWED_IPS"]
    default = allowed.split(":-", 1)[1].rstrip("}")
    assert any(subnet.subnet_of(ipaddress.ip_network(net)) for net in default.split(","))


def test_flower_watches_celery_behind_a_password_on_loopback(services):
    flower = services["flower"]
    command = flower["command"]
    assert command[:4] == ["celery", "-A", "socialflow", "flower"]
    assert "--basic-auth=${FLOWER_BASIC_AUTH:?set FLOWER_BASIC_AUTH=user:password in .env}" in command
    assert flower["ports"] == ["127.0.0.1:5555:5555"]  # not on the host's public addresses


def test_app_processes_hold_no_capability_and_gain_no_privilege(services):
    """S-12: FFmpeg, under the transcode worker, parses publisher media; no app container
    keeps a capability or lets a set-user-ID program raise it."""
    for name in APP_SERVICES:
        assert services[name].get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in services[name].get("security_opt", []), name
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "libseccomp2" in dockerfile  # FFmpeg's own filter (socialflow/lib/sandbox.py)
    assert "\nUSER app\n" in dockerfile
