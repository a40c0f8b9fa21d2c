from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.urls import register_converter

from accounts.converters import UsernameConverter
from accounts.permissions import moderators_group_after_migrate


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self):
        # `<username:...>` in any URLconf: only URL-plain names reach a view.
        register_converter(UsernameConverter, "username")
        # As Django does for permissions: after every migrate (and flush), the Moderators
        # group holds exactly accounts.permissions.MODERATOR_PERMISSIONS.
        post_migrate.connect(
            moderators_group_after_migrate, sender=self, dispatch_uid="accounts.moderators_group"
        )
        # app loading: DRF cannot be imported before the registry is ready. The API's JSON
        # bodies are typed as its schema says.
        from socialflow.lib.api import strict_json_types

        strict_json_types()
