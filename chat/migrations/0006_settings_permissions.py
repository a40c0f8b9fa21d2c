"""Moderators may change a channel's chat settings."""

from django.db import migrations

from socialflow.lib.migration_helpers import grant_group_permissions, revoke_group_permissions

MODERATOR_PERMISSIONS = [("chat", "view_chatsettings"), ("chat", "change_chatsettings"), ("chat", "add_chatsettings")]


def grant(apps, schema_editor):
    grant_group_permissions(apps, "Moderators", MODERATOR_PERMISSIONS)


def revoke(apps, schema_editor):
    revoke_group_permissions(apps, "Moderators", MODERATOR_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("chat", "0005_chat_settings")]

    operations = [migrations.RunPython(grant, revoke)]
