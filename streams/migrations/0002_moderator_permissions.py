"""Moderators may end broadcasts, rotate keys, manage categories and read stream events."""

from django.db import migrations

from socialflow.lib.migration_helpers import grant_group_permissions, revoke_group_permissions

MODERATOR_PERMISSIONS = [
    ("streams", "view_stream"),
    ("streams", "change_stream"),
    ("streams", "view_channel"),
    ("streams", "change_channel"),
    ("streams", "view_streamevent"),
    ("streams", "view_category"),
    ("streams", "add_category"),
    ("streams", "change_category"),
    ("streams", "delete_category"),
]


def grant(apps, schema_editor):
    grant_group_permissions(apps, "Moderators", MODERATOR_PERMISSIONS)


def revoke(apps, schema_editor):
    revoke_group_permissions(apps, "Moderators", MODERATOR_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("streams", "0001_initial"),
        ("accounts", "0002_moderators_group"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
