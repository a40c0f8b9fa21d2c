from django.apps import AppConfig
from django.urls import register_converter


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self):
        from accounts.converters import UsernameConverter

        # `<username:...>` in any URLconf: only URL-plain names reach a view.
        register_converter(UsernameConverter, "username")
