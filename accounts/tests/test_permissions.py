"""The Moderators group holds exactly MODERATOR_PERMISSIONS after every migrate and flush
(accounts.permissions, run on post_migrate as Django creates permissions)."""

import subprocess
import sys

import psycopg
import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.db import connection

from accounts.permissions import MODERATOR_PERMISSIONS, MODERATORS
from socialflow.tests.processes import BASE_DIR, process_env


def moderator_permissions() -> set[str]:
    permissions = Group.objects.get(name=MODERATORS).permissions.select_related("content_type")
    return {f"{p.content_type.app_label}.{p.codename}" for p in permissions}


def test_the_list_names_each_permission_once():
    assert len(set(MODERATOR_PERMISSIONS)) == len(MODERATOR_PERMISSIONS)


@pytest.mark.django_db
def test_a_fresh_migrate_gives_the_group_the_full_list():
    """On an empty database, in its own process: the data migrations, then post_migrate."""
    db = connection.settings_dict
    server = {
        "host": db["HOST"] or "127.0.0.1",
        "port": db["PORT"] or 5432,
        "user": db["USER"],
        "password": db["PASSWORD"],
    }
    fresh = f"{db['NAME']}_fresh"  # beside this session's test database (TEST_SLOT's own)
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{fresh}"')
    try:
        url = f"postgres://{server['user']}:{server['password']}@{server['host']}:{server['port']}/{fresh}"
        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "--verbosity", "0"],
            cwd=BASE_DIR,
            env=process_env(DATABASE_URL=url),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        with psycopg.connect(dbname=fresh, **server) as migrated:
            granted = migrated.execute(
                "SELECT ct.app_label || '.' || p.codename"
                " FROM auth_group g"
                " JOIN auth_group_permissions gp ON gp.group_id = g.id"
                " JOIN auth_permission p ON p.id = gp.permission_id"
                " JOIN django_content_type ct ON ct.id = p.content_type_id"
                " WHERE g.name = %s",
                [MODERATORS],
            ).fetchall()
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')
    assert sorted(name for (name,) in granted) == sorted(MODERATOR_PERMISSIONS)


@pytest.mark.django_db
def test_migrate_puts_the_group_back_to_exactly_the_list():
    group = Group.objects.get(name=MODERATORS)
    group.permissions.remove(Permission.objects.get(codename="change_stream"))
    group.permissions.add(Permission.objects.get(codename="delete_user"))  # granted by hand
    call_command("migrate", verbosity=0)  # nothing to apply; post_migrate still runs
    assert moderator_permissions() == set(MODERATOR_PERMISSIONS)


@pytest.mark.django_db(transaction=True)
def test_the_group_comes_back_after_a_flush():
    """Transactional tests flush every table after each test; Django's flush sends
    post_migrate, so the group is there for the next test (and for `bob`)."""
    call_command("flush", interactive=False, verbosity=0)
    assert moderator_permissions() == set(MODERATOR_PERMISSIONS)
