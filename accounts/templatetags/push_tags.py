from django import template
from django.conf import settings
from django.templatetags.static import static
from django.urls import reverse

register = template.Library()


@register.inclusion_tag("accounts/_push_toggle.html", takes_context=True)
def push_toggle(context, profile):
    """The "Notify me in the browser" toggle on a channel's pages: for a logged-in follower,
    when this site has a VAPID key pair (static/js/push.js drives it)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    show = bool(
        settings.WEB_PUSH_ENABLED
        and user is not None
        and user.is_authenticated
        and user.pk != profile.pk
        and getattr(profile, "is_following", False)
    )
    return {
        "show": show,
        "public_key": settings.WEB_PUSH_VAPID_PUBLIC_KEY,
        "api_url": reverse("api-push-subscriptions"),
        "worker_url": static("js/push-sw.js"),
        "csrf_token": context.get("csrf_token"),
    }
