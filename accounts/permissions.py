"""The Moderators group: site staff who moderate. Its permissions are listed here, once, and
the group is made to hold exactly these after every `migrate` (and every `flush`), the way
Django creates permissions: by a `post_migrate` receiver (connected in AccountsConfig.ready).

Permissions are named as "app_label.codename" strings, so this lowest app imports no other
app's code. (The data migrations that first built the group keep their own lists: they are
history, and ran already on real databases.)
"""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.contrib.auth.management import create_permissions
from django.db import DEFAULT_DB_ALIAS, router
from django.db.models import Q

MODERATORS = "Moderators"

MODERATOR_PERMISSIONS = [
    # accounts: ban users, grant go-live exemptions, remove follows
    "accounts.view_user",
    "accounts.change_user",
    "accounts.view_follow",
    "accounts.delete_follow",
    # streams: end broadcasts, rotate keys, manage categories, read stream events
    "streams.view_stream",
    "streams.change_stream",
    "streams.view_channel",
    "streams.change_channel",
    "streams.view_streamevent",
    "streams.view_category",
    "streams.add_category",
    "streams.change_category",
    "streams.delete_category",
    # chat: delete messages, chat bans, channel moderators, the moderation log, chat settings
    "chat.view_chatmessage",
    "chat.change_chatmessage",
    "chat.view_chatban",
    "chat.add_chatban",
    "chat.change_chatban",
    "chat.delete_chatban",
    "chat.view_channelmoderator",
    "chat.add_channelmoderator",
    "chat.delete_channelmoderator",
    "chat.view_moderationaction",
    "chat.view_chatsettings",
    "chat.change_chatsettings",
    "chat.add_chatsettings",
    # dvr: review recordings and clips, finalize again, delete files or clips
    "dvr.view_recording",
    "dvr.change_recording",
    "dvr.view_clip",
    "dvr.delete_clip",
]


def moderators_group_sync(
    *, apps: Apps = global_apps, using: str = DEFAULT_DB_ALIAS, verbosity: int = 0
) -> None:
    """Create the Moderators group, or update it, to hold exactly MODERATOR_PERMISSIONS.

    Permissions a model does not have yet (a partial migrate) are left out until the
    migrate that adds the model."""
    try:
        Group = apps.get_model("auth", "Group")
        Permission = apps.get_model("auth", "Permission")
    except LookupError:  # auth is not migrated (yet) on this database
        return
    if not router.allow_migrate_model(using, Group):
        return
    # Django creates every app's permissions after migrate, one app after another; the
    # apps after accounts have not had their turn when this runs.
    wanted = [name.split(".", 1) for name in MODERATOR_PERMISSIONS]
    for app_label in sorted({app_label for app_label, _ in wanted}):
        try:
            app_config = global_apps.get_app_config(app_label)
        except LookupError:
            continue
        create_permissions(app_config, verbosity=verbosity, interactive=False, using=using, apps=apps)
    match = Q()
    for app_label, codename in wanted:
        match |= Q(content_type__app_label=app_label, codename=codename)
    group, _ = Group.objects.using(using).get_or_create(name=MODERATORS)
    group.permissions.set(Permission.objects.using(using).filter(match))


def moderators_group_after_migrate(
    sender: Any, *, using: str = DEFAULT_DB_ALIAS, verbosity: int = 0, apps: Apps = global_apps, **kwargs: Any
) -> None:
    """The post_migrate receiver (`flush` sends the signal without `apps`)."""
    moderators_group_sync(apps=apps, using=using, verbosity=verbosity)
