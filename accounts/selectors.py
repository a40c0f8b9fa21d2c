"""Reads for accounts: profiles with counts, follower lists, go-live eligibility."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, TypedDict

from django.conf import settings
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Lower
from django.http import Http404

from accounts.models import Follow, Notification, User
from socialflow.lib.ratelimit import recall, remember


def active_follows() -> QuerySet[Follow]:
    # A suspended account neither counts as a follower nor shows in anyone's lists.
    return Follow.objects.filter(follower__is_active=True, followee__is_active=True)


def _follow_count(field: str) -> Coalesce:
    """A correlated COUNT of active follows whose `field` is the outer user."""
    counts = (
        active_follows()
        .filter(**{field: OuterRef("pk")})
        .order_by()
        .values(field)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


class ProfileCounts(TypedDict):
    follower_count: int
    following_count: int
    is_following: bool


if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

if TYPE_CHECKING:  # WithAnnotations takes two arguments only for the type checker
    ProfileUser = WithAnnotations[User, ProfileCounts]


def users_with_counts(*, viewer: User | None = None) -> QuerySet[ProfileUser]:
    """Active users annotated with follower_count, following_count and is_following."""
    qs = User.objects.filter(is_active=True).annotate(
        follower_count=_follow_count("followee"),
        following_count=_follow_count("follower"),
    )
    if viewer is not None and viewer.is_authenticated:
        qs = qs.annotate(is_following=Exists(Follow.objects.filter(follower=viewer, followee=OuterRef("pk"))))
    else:
        qs = qs.annotate(is_following=Value(False))
    return qs


def _by_username(qs: QuerySet[User], username: str) -> QuerySet[User]:
    # LOWER(username) matches the case-insensitive unique index; iexact (UPPER) would not.
    return qs.alias(username_lower=Lower("username")).filter(username_lower=username.lower())


def user_get_profile(*, username: str, viewer: User | None = None) -> User:
    """An active user by username (case-insensitive) with counts; 404 otherwise."""
    user = _by_username(users_with_counts(viewer=viewer), username).first()
    if user is None:
        raise Http404("No such user.")
    return user


def user_get_active(*, username: str) -> User:
    user = _by_username(User.objects.filter(is_active=True), username).first()
    if user is None:
        raise Http404("No such user.")
    return user


def user_followers(*, user: User) -> QuerySet[Follow]:
    """Who follows `user`, newest first, with each follower loaded (no N+1)."""
    return active_follows().filter(followee=user).select_related("follower").order_by("-created_at", "-pk")


def user_following(*, user: User) -> QuerySet[Follow]:
    """Whom `user` follows, newest first, with each followee loaded (no N+1)."""
    return active_follows().filter(follower=user).select_related("followee").order_by("-created_at", "-pk")


def user_followee_ids(*, user: User) -> QuerySet:
    """A subquery of the ids `user` follows (for filters such as followers-only streams)."""
    return Follow.objects.followee_ids_of(user)


def user_follower_ids(*, user: User) -> QuerySet:
    return active_follows().filter(followee=user).values("follower")


def user_follower_count(*, user: User) -> int:
    return active_follows().filter(followee=user).count()


POPULAR_CACHE_SECONDS = 60


def users_search(*, q: str, viewer: User | None = None) -> QuerySet[ProfileUser]:
    q = q.replace("\x00", "").strip()[:100]
    return (
        users_with_counts(viewer=viewer)
        .filter(Q(username__icontains=q) | Q(display_name__icontains=q))
        .order_by("-follower_count", "username")
    )


def users_popular(*, limit: int = 12, viewer: User | None = None) -> list[ProfileUser]:
    """Channels with the most followers, for discovery on the home page.

    Which channels is recomputed once a minute (one GROUP BY over follows, shared by every
    web process through the cache); their counts are always fresh.
    """
    key = f"accounts:popular:{limit}"
    ids = recall(key)  # with Redis away: None, and the page is computed afresh
    if ids is None:
        ranked = (
            active_follows().values("followee").annotate(n=Count("pk")).order_by("-n", "followee")[:limit]
        )
        ids = [row["followee"] for row in ranked]
        remember(key, ids, POPULAR_CACHE_SECONDS)
    users = users_with_counts(viewer=viewer).filter(pk__in=ids)
    return sorted(users, key=lambda u: (-u.follower_count, u.username))


@dataclass(frozen=True)
class Eligibility:
    eligible: bool
    follower_count: int
    required: int
    reason: str
    code: str
    exempt: bool = False

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def progress_percent(self) -> int:
        if self.required <= 0:
            return 100
        return min(100, self.follower_count * 100 // self.required)


def _followers(n: int) -> str:
    return f"{n} follower" if n == 1 else f"{n} followers"


def user_go_live_eligibility(*, user: User) -> Eligibility:
    """Whether `user` may go live now, with a reason a person can act on.

    Called by the dashboard, the API, and again by the media-server hook at publish
    time, since followers can drop between the two.
    """
    required = settings.GO_LIVE_MIN_FOLLOWERS
    count = user_follower_count(user=user)
    if not user.is_active:
        return Eligibility(
            eligible=False,
            follower_count=count,
            required=required,
            reason="Your account is suspended, so you can't go live.",
            code="suspended",
        )
    if user.go_live_exempt:
        return Eligibility(
            eligible=True,
            follower_count=count,
            required=required,
            reason="Your account is exempt from the follower requirement; you can go live.",
            code="exempt",
            exempt=True,
        )
    if count < required:
        return Eligibility(
            eligible=False,
            follower_count=count,
            required=required,
            reason=f"You need {_followers(required)} to go live; you have {count}.",
            code="not_enough_followers",
        )
    return Eligibility(
        eligible=True,
        follower_count=count,
        required=required,
        reason=f"You have {_followers(count)}; you can go live.",
        code="eligible",
    )


def notifications_for(*, user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user).select_related("actor")


def notifications_unread_count(*, user: User) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()
