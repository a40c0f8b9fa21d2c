#!/usr/bin/env bash
# Idempotent machine set-up for `make run` and `make test` on Debian (root or sudo).
# Usage: scripts/setup.sh STEP...   steps: apt-run apt-test venv redis postgres envfile
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
PG_URL_ROLE=socialflow
log() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
  # Install the Debian packages that are not installed yet.
  local missing=()
  for pkg in "$@"; do dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  if [ $apt_updated = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

step_apt_run() {
  command -v redis-server >/dev/null || apt_install redis-server
  # The local media server (nginx + RTMP module) and the transcoder; libseccomp2 for the
  # seccomp filter FFmpeg runs under (socialflow/lib/sandbox.py).
  apt_install nginx libnginx-mod-rtmp ffmpeg libseccomp2
  $PYTHON -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
}

step_apt_test() {
  step_apt_run
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  command -v psql >/dev/null || apt_install postgresql-client
  command -v docker-compose >/dev/null || apt_install docker-compose
  command -v chromium >/dev/null || apt_install chromium  # browser tests (Playwright drives it)
}

pip_install() {
  # pip's own status decides; only its noise about unreachable local indexes is hidden.
  local out status=0
  out=$("$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@" 2>&1) || status=$?
  printf '%s\n' "$out" | grep -v "^WARNING: Location" | grep -v '^$' || true
  [ $status -eq 0 ] || { echo "pip install $* failed" >&2; exit $status; }
}

step_venv() {
  local stamp="$VENV/.requirements.sha256" want
  want=$(sha256sum requirements.txt | cut -d' ' -f1)
  if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  log "virtualenv $VENV from requirements.txt"
  [ -x "$VENV/bin/python" ] || $PYTHON -m venv "$VENV"
  pip_install --upgrade pip
  pip_install -r requirements.txt
  "$VENV/bin/python" -m pip check >/dev/null || { "$VENV/bin/python" -m pip check; exit 1; }
  echo "$want" > "$stamp"
}

step_redis() {
  if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then return 0; fi
  log "starting Redis on 127.0.0.1:6379"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/socialflow.log
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "Redis did not start; see /var/log/redis/socialflow.log" >&2; exit 1
}

step_postgres() {
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    log "starting PostgreSQL"
    local version
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
    if [ -z "$version" ]; then
      # Packages installed but no cluster yet (e.g. installed without starting services).
      version=$(ls /usr/lib/postgresql | sort -V | tail -n1)
      log "creating PostgreSQL $version cluster 'main'"
      as_root pg_createcluster "$version" main
    fi
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 100); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
    pg_isready -q -h 127.0.0.1 -p 5432 || { echo "PostgreSQL did not start" >&2; exit 1; }
  fi
  # A role with a password works with trust and with scram-sha-256 (Debian's default) alike.
  local psql_admin=(as_root runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -d postgres)
  "${psql_admin[@]}" -tAc "SELECT 1 FROM pg_roles WHERE rolname='$PG_URL_ROLE'" | grep -q 1 || \
    "${psql_admin[@]}" -c "CREATE ROLE $PG_URL_ROLE LOGIN CREATEDB PASSWORD 'socialflow'"
  "${psql_admin[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname='socialflow'" | grep -q 1 || \
    "${psql_admin[@]}" -c "CREATE DATABASE socialflow OWNER $PG_URL_ROLE"
}

vapid_keys() {
  # A VAPID key pair for browser pushes (EC P-256), base64url as settings.py reads it: the
  # private key's 32-byte scalar and the public key's 65-byte uncompressed point.
  "$VENV/bin/python" - <<'PY'
from base64 import urlsafe_b64encode
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
key = ec.generate_private_key(ec.SECP256R1())
text = lambda raw: urlsafe_b64encode(raw).rstrip(b"=").decode()
print("WEB_PUSH_VAPID_PRIVATE_KEY=" + text(key.private_numbers().private_value.to_bytes(32, "big")))
print("WEB_PUSH_VAPID_PUBLIC_KEY=" + text(key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)))
PY
}

step_envfile() {
  # Secrets: readable by this user alone, whoever else is on the machine.
  umask 077
  if [ -f .env ]; then
    chmod 600 .env
    grep -q '^MEDIA_HOOK_SECRET=' .env || echo "MEDIA_HOOK_SECRET=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(32))')" >> .env
    grep -q '^WEBHOOKS_ALLOW_PRIVATE_TARGETS=' .env || echo "WEBHOOKS_ALLOW_PRIVATE_TARGETS=true" >> .env
    # Both keys or neither: a .env with one of them is the operator's to fix (settings says so).
    grep -q '^WEB_PUSH_VAPID_\(PUBLIC\|PRIVATE\)_KEY=' .env || vapid_keys >> .env
    return 0
  fi
  log "writing .env (local development settings; edit freely, never commit)"
  local secret
  secret=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(50))')
  cat > .env <<ENV
# Local development settings written by \`make run\`. See README.md for every variable.
DEBUG=true
SECRET_KEY=$secret
MEDIA_HOOK_SECRET=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(32))')
# Webhooks may call receivers on this machine or its network (a local tool); never in production.
WEBHOOKS_ALLOW_PRIVATE_TARGETS=true
$(vapid_keys)
ENV
}

for step in "$@"; do "step_${step//-/_}"; done
