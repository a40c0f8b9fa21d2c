"""Demo data for `make run`: an admin, a moderator, an eligible streamer, viewers.

Idempotent: running it again resets the demo passwords and tops up followers.
"""

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Follow, User
from accounts.permissions import MODERATORS

DEMO_PASSWORD = "socialflow-demo"


class Command(BaseCommand):
    help = "Create demo users: admin, mod, demo (eligible streamer), viewer1-3 and followers."

    @transaction.atomic
    def handle(self, *args, **options):
        admin = self._user("admin", display_name="Admin", is_staff=True, is_superuser=True)
        mod = self._user("mod", display_name="Moderator", is_staff=True)
        moderators = Group.objects.filter(name=MODERATORS).first()
        if moderators:
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

        self.stdout.write(self.style.SUCCESS(f"Demo data ready. Logins (password for all: {DEMO_PASSWORD}):"))
        self.stdout.write("  admin    superuser, Django admin at /admin/")
        self.stdout.write("  mod      moderator (staff, Moderators group)")
        self.stdout.write(
            f"  demo     streamer with {Follow.objects.filter(followee=demo).count()} followers (eligible)"
        )
        self.stdout.write("  viewer1, viewer2, viewer3   viewers")

    def _user(self, username, **fields):
        user, _ = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
        for name, value in fields.items():
            setattr(user, name, value)
        user.is_active = True
        user.set_password(DEMO_PASSWORD)
        user.save()
        EmailAddress.objects.get_or_create(
            user=user, email=user.email, defaults={"primary": True, "verified": True}
        )
        return user
