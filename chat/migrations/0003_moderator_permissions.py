"""Moderators may delete chat messages, manage chat bans and channel moderators, and read
the moderation log."""

from django.db import migrations

from socialflow.lib.migration_helpers import grant_group_permissions, revoke_group_permissions

MODERATOR_PERMISSIONS = [
    ("chat", "view_chatmessage"),
    ("chat", "change_chatmessage"),
    ("chat", "view_chatban"),
    ("chat", "add_chatban"),
    ("chat", "change_chatban"),
    ("chat", "delete_chatban"),
    ("chat", "view_channelmoderator"),
    ("chat", "add_channelmoderator"),
    ("chat", "delete_channelmoderator"),
    ("chat", "view_moderationaction"),
]


def grant(apps, schema_editor):
    grant_group_permissions(apps, "Moderators", MODERATOR_PERMISSIONS)


def revoke(apps, schema_editor):
    revoke_group_permissions(apps, "Moderators", MODERATOR_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0002_moderation"),
        ("accounts", "0002_moderators_group"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
