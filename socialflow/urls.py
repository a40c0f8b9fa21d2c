from django.conf import settings
from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from socialflow import error_views, metrics
from socialflow.lib import media_urls
from streams import views as streams_views

api_v1 = [
    path("", include("accounts.api_urls")),
    path("", include("streams.api_urls")),
    path("", include("chat.api_urls")),
    path("", include("dvr.api_urls")),
    path("", include("analytics.api_urls")),
]

urlpatterns = [
    path("", include("accounts.urls")),
    path("", include("streams.urls")),
    path("", include("dvr.urls")),
    path("", include("analytics.urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("hooks/", include("streams.hook_urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("metrics", metrics.metrics, name="metrics"),
    path("healthz/", lambda request: HttpResponse("ok", content_type="text/plain"), name="healthz"),
]

if settings.SERVE_MEDIA:
    # Local storage: Django serves uploads itself (S3/CDN serve them in production).
    media_prefix = settings.MEDIA_URL.lstrip("/")
    urlpatterns += [
        # A followers-only broadcast's files (private/) only by a signed URL (S-04).
        re_path(rf"^{media_prefix}(?P<path>.*)$", media_urls.serve_media),
    ]

# Channel pages at /<username>/ come last: reserved names (ACCOUNT_USERNAME_BLACKLIST)
# keep usernames from shadowing the routes above.
urlpatterns += [path("<username:username>/", streams_views.channel, name="channel")]

handler400 = error_views.bad_request
handler403 = error_views.permission_denied
handler404 = error_views.page_not_found
handler500 = error_views.server_error
