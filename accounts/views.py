from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts import selectors, services, webhooks
from accounts.errors import AccountError
from accounts.forms import ProfileForm, WebhookForm

FOLLOW_LIST_PAGE_SIZE = 30


def profile(request, username):
    # The page shows the live broadcast through streams' template tag (`live_stream_of`).
    user = selectors.user_get_profile(username=username, viewer=request.user)
    return render(request, "accounts/profile.html", {"profile": user})


def _follow_list(request, username, *, side, title):
    user = selectors.user_get_profile(username=username, viewer=request.user)
    follows = (
        selectors.user_followers(user=user) if side == "follower" else selectors.user_following(user=user)
    )
    page = Paginator(follows, FOLLOW_LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    entries = [getattr(follow, side) for follow in page]
    return render(
        request,
        "accounts/follow_list.html",
        {"profile": user, "page": page, "entries": entries, "title": title, "side": side},
    )


def followers(request, username):
    return _follow_list(request, username, side="follower", title="Followers")


def following(request, username):
    return _follow_list(request, username, side="followee", title="Following")


def _back(request, username):
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("accounts:profile", username=username)


@require_POST
def follow_toggle(request, username, action):
    if not request.user.is_authenticated:
        login = f"{reverse('account_login')}?next={reverse('accounts:profile', args=[username])}"
        if request.headers.get("HX-Request"):
            # A redirect would be followed by the XHR and the login page swapped into the button.
            return HttpResponse(status=204, headers={"HX-Redirect": login})
        return redirect(login)
    followee = selectors.user_get_active(username=username)
    try:
        if action == "follow":
            services.follow_create(follower=request.user, followee=followee)
        else:
            services.follow_delete(follower=request.user, followee=followee)
    except AccountError as exc:
        if request.headers.get("HX-Request"):
            current = selectors.user_get_profile(username=username, viewer=request.user)
            context = {"profile": current, "error": exc.message}
            return render(request, "accounts/_follow_button.html", context, status=400)
        messages.error(request, exc.message)
        return _back(request, username)
    if request.headers.get("HX-Request"):
        updated = selectors.user_get_profile(username=username, viewer=request.user)
        # htmx swaps the button in place and, out of band, every count of this channel.
        return render(request, "accounts/_follow_button.html", {"profile": updated, "oob": True})
    if action == "follow":
        messages.success(request, f"You follow {followee.name} now.")
    else:
        messages.info(request, f"You no longer follow {followee.name}.")
    return _back(request, username)


@login_required
def profile_edit(request):
    form = ProfileForm.for_user(request.user, request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_update_profile(
                user=request.user,
                display_name=form.cleaned_data["display_name"],
                bio=form.cleaned_data["bio"],
                avatar=form.cleaned_data["avatar"],
                remove_avatar=form.cleaned_data["remove_avatar"],
                email_notifications=form.cleaned_data["email_notifications"],
            )
        except AccountError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Your profile is saved.")
            return redirect("accounts:profile", username=request.user.username)
    return render(request, "accounts/profile_edit.html", {"form": form})


@login_required
def notifications(request):
    page = Paginator(selectors.notifications_for(user=request.user), 30).get_page(request.GET.get("page"))
    response = render(request, "accounts/notifications.html", {"page": page})
    services.notifications_mark_read(user=request.user)  # after rendering: unread ones still stand out
    return response


# --- Webhooks (the dashboard's integrations page) --------------------------------------


@login_required
def webhooks_page(request):
    form = WebhookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            webhook = webhooks.webhook_create(owner=request.user, **form.cleaned_data)
        except AccountError as exc:
            form.add_error("url" if exc.code == "webhook_target_refused" else None, exc.message)
        else:
            messages.success(
                request, "Webhook added. Check each delivery's signature with its secret (below)."
            )
            return redirect(f"{reverse('accounts:webhooks')}#webhook-{webhook.pk}")
    hooks = [_webhook_rows(hook) for hook in webhooks.webhooks_of(owner=request.user)]
    context = {"form": form, "hooks": hooks, "timeout": settings.WEBHOOK_TIMEOUT_SECONDS}
    return render(request, "accounts/webhooks.html", context)


def _webhook_rows(hook) -> dict:
    deliveries = webhooks.webhook_deliveries(webhook=hook, limit=20)
    pending = any(delivery.status == "pending" for delivery in deliveries)
    return {"hook": hook, "deliveries": deliveries, "pending": pending}


def _own_webhook(request, webhook_id):
    try:
        return webhooks.webhook_get_for_owner(owner=request.user, webhook_id=webhook_id)
    except AccountError:
        raise Http404("No such webhook.") from None


@login_required
def webhook_deliveries(request, webhook_id):
    """The deliveries table of one webhook (htmx polls it while one is pending)."""
    hook = _own_webhook(request, webhook_id)
    return render(request, "accounts/_webhook_deliveries.html", _webhook_rows(hook))


@login_required
@require_POST
def webhook_test(request, webhook_id):
    hook = _own_webhook(request, webhook_id)
    try:
        webhooks.webhook_ping(webhook=hook)
    except AccountError:  # deleted meanwhile (another tab)
        raise Http404("No such webhook.") from None
    messages.success(request, "A test delivery is on its way; its answer appears in the table below.")
    return redirect(f"{reverse('accounts:webhooks')}#webhook-{hook.pk}")


@login_required
@require_POST
def webhook_delete(request, webhook_id):
    hook = _own_webhook(request, webhook_id)
    webhooks.webhook_delete(webhook=hook)
    messages.success(request, f"Webhook {hook.url} deleted.")
    return redirect("accounts:webhooks")
