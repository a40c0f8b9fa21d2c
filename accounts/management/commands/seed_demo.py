"""Demo data for `make run`: an admin, a moderator, an eligible streamer, viewers.

The demo users get one random password, printed when they are created and kept in
`var/demo-password` (readable by its owner only). Running it again tops up followers and
changes no account it finds: never a password, never a flag (S-11). It refuses to run
without DEBUG or when `BIND` is not a loopback address.
"""

import os
import secrets
from pathlib import Path

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import Follow, User
from accounts.permissions import MODERATORS

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def password_file() -> Path:
    return Path(settings.BASE_DIR) / "var" / "demo-password"


def demo_password() -> str:
    """The demo users' password: made once, then read back."""
    path = password_file()
    if path.exists():
        return path.read_text().strip()
    password = secrets.token_urlsafe(12)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(password + "\n")
    return password


class Command(BaseCommand):
    help = "Create demo users: admin, mod, demo (eligible streamer), viewer1-3 and followers."

    @transaction.atomic
    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo makes known logins: it runs only with DEBUG=true (make run).")
        bind = os.environ.get("BIND", "127.0.0.1")
        if bind not in LOOPBACK:  # a refusal, not a failure: `make run` goes on without them
            self.stderr.write(
                f"No demo data with BIND={bind}: known logins on a reachable address. "
                "Create your own admin with `.venv/bin/python manage.py createsuperuser`."
            )
            return
        self.password = demo_password()
        self.created: list[str] = []
        admin = self._user("admin", display_name="Admin", is_staff=True, is_superuser=True)
        mod = self._user("mod", display_name="Moderator", is_staff=True)
        moderators = Group.objects.filter(name=MODERATORS).first()
        if moderators and "mod" in self.created:
            mod.groups.add(moderators)
        demo = self._user("demo", display_name="Demo Streamer", bio="Test patterns, all day, every day.")
        viewers = [self._user(f"viewer{i}", display_name=f"Viewer {i}") for i in range(1, 4)]

        # Enough real followers to pass the go-live threshold (no exemption needed).
        needed = settings.GO_LIVE_MIN_FOLLOWERS
        fans = [*viewers, mod]
        existing = set(User.objects.filter(username__startswith="fan").values_list("username", flat=True))
        new_fans = [
            User(username=f"fan{i:04d}", display_name=f"Fan {i}", email=f"fan{i:04d}@example.com")
            for i in range(1, max(0, needed - len(fans)) + 1)
            if f"fan{i:04d}" not in existing
        ]
        for fan in new_fans:
            fan.set_unusable_password()
        User.objects.bulk_create(new_fans)
        fans += list(
            User.objects.filter(username__startswith="fan").order_by("username")[: max(0, needed - len(fans))]
        )
        Follow.objects.bulk_create(
            [Follow(follower=fan, followee=demo) for fan in fans], ignore_conflicts=True
        )
        for viewer in viewers:
            Follow.objects.get_or_create(follower=viewer, followee=admin)

        if self.created:
            where = f"password for all, also in {password_file()}: {self.password}"
        else:
            where = f"they were there already; their password when made is in {password_file()}"
        self.stdout.write(self.style.SUCCESS(f"Demo data ready. Logins ({where}):"))
        self.stdout.write("  admin    superuser, Django admin at /admin/")
        self.stdout.write("  mod      moderator (staff, Moderators group)")
        self.stdout.write(
            f"  demo     streamer with {Follow.objects.filter(followee=demo).count()} followers (eligible)"
        )
        self.stdout.write("  viewer1, viewer2, viewer3   viewers")

    def _user(self, username, **fields):
        """The demo user, made with the demo password; one that exists is left as it is."""
        user = User.objects.filter(username=username).first()
        if user is not None:
            return user
        user = User(username=username, email=f"{username}@example.com", **fields)
        user.set_password(self.password)
        user.save()
        self.created.append(username)
        EmailAddress.objects.get_or_create(
            user=user, email=user.email, defaults={"primary": True, "verified": True}
        )
        return user
