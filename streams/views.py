from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render

from accounts import selectors as account_selectors


def home(request):
    return render(
        request,
        "streams/home.html",
        {"popular": account_selectors.users_popular(viewer=request.user)},
    )


@login_required
def following(request):
    follows = account_selectors.user_following(user=request.user)
    page = Paginator(follows, 24).get_page(request.GET.get("page"))
    return render(request, "streams/following.html", {"page": page})


@login_required
def dashboard(request):
    return render(
        request,
        "streams/dashboard.html",
        {"eligibility": account_selectors.user_go_live_eligibility(user=request.user)},
    )
