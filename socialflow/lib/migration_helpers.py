"""Helpers for data migrations (kept stable: old migrations import them)."""

from __future__ import annotations

from django.apps.registry import Apps
from django.contrib.auth.management import create_permissions


def grant_group_permissions(apps: Apps, group_name: str, permissions: list[tuple[str, str]]) -> None:
    """Give `group_name` the (app_label, codename) permissions, creating what is missing."""
    # Permissions are normally created after all migrations; make sure ours exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True  # type: ignore[assignment]  # what create_permissions checks
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=group_name)
    for app_label, codename in permissions:
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def revoke_group_permissions(apps: Apps, group_name: str, permissions: list[tuple[str, str]]) -> None:
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name=group_name).first()
    if group is None:
        return
    for app_label, codename in permissions:
        group.permissions.remove(
            *Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        )
