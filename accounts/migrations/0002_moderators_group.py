"""The Moderators group (ban users, grant go-live exemptions, remove follows); the site name."""

from django.db import migrations

from socialflow.lib.migration_helpers import grant_group_permissions

MODERATOR_PERMISSIONS = [
    ("accounts", "view_user"),
    ("accounts", "change_user"),
    ("accounts", "view_follow"),
    ("accounts", "delete_follow"),
]


def create_group(apps, schema_editor):
    grant_group_permissions(apps, "Moderators", MODERATOR_PERMISSIONS)


def name_site(apps, schema_editor):
    # allauth puts the site's name in e-mail subjects; "example.com" would confuse people.
    from urllib.parse import urlsplit

    from django.conf import settings

    Site = apps.get_model("sites", "Site")
    Site.objects.update_or_create(
        pk=settings.SITE_ID,
        defaults={"domain": urlsplit(settings.SITE_URL).netloc[:100], "name": settings.SITE_NAME[:50]},
    )


def delete_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="Moderators").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("sites", "0002_alter_domain_unique"),
    ]

    operations = [
        migrations.RunPython(create_group, delete_group),
        migrations.RunPython(name_site, migrations.RunPython.noop),
    ]
