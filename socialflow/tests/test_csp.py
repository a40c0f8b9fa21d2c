"""S-16: a Content-Security-Policy on every page that allows only the site's own scripts and
its media storage, and pages that need no exception to it (no inline script or handler).

What the browser does with it is checked where a page plays video in Chromium
(streams/tests/test_transcode_e2e.py): no violation while hls.js plays.
"""

from __future__ import annotations

import ast

import pytest

from socialflow.tests.helpers import PRODUCTION, assert_csp_clean, manage

pytestmark = pytest.mark.django_db


def test_the_pages_a_viewer_and_a_streamer_see_need_no_exception(client, go_live, streamer, bob):
    stream = go_live()
    viewer_pages = ["/", "/categories/", "/search/?q=a", f"/streams/{stream.pk}/", "/u/alice/", "/alice/"]
    viewer_pages += ["/accounts/login/", "/accounts/signup/", "/accounts/password/reset/", "/api/docs/"]
    for url in viewer_pages:
        assert_csp_clean(client.get(url, follow=True))
    client.force_login(streamer)
    streamer_pages = ["/dashboard/", "/dashboard/analytics/", f"/dashboard/analytics/{stream.pk}/"]
    streamer_pages += ["/settings/profile/", "/notifications/", "/accounts/email/"]
    streamer_pages += ["/accounts/password/change/"]
    for url in streamer_pages:
        assert_csp_clean(client.get(url))


def test_the_admin_needs_no_exception(admin_client, go_live):
    stream = go_live()
    for url in ["/admin/", "/admin/streams/stream/", f"/admin/streams/stream/{stream.pk}/change/"]:
        assert_csp_clean(admin_client.get(url))
    assert_csp_clean(admin_client.get("/admin/accounts/user/add/"))


def test_the_api_docs_load_their_script_from_the_site():
    from django.test import Client

    page = Client().get("/api/docs/").content.decode()
    assert '<script src="/api/docs/?script=' in page
    script = Client().get("/api/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


def test_the_policy_names_the_media_storage():
    # S3/MinIO: viewers fetch segments, thumbnails and avatars from the storage's origin.
    env = {
        **PRODUCTION,
        "AWS_STORAGE_BUCKET_NAME": "socialflow",
        "AWS_S3_ENDPOINT_URL": "http://minio:9000",
        "AWS_S3_PUBLIC_URL": "https://media.example.com/socialflow",
    }
    code = "from django.conf import settings as s; print(s.CONTENT_SECURITY_POLICY['DIRECTIVES'])"
    result = manage("shell", "-c", code, env=env)
    directives = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    for name in ("img-src", "media-src", "connect-src"):
        assert "https://media.example.com" in directives[name], directives[name]
        assert "http://minio:9000" in directives[name]
    assert directives["script-src"] == ["'self'"]  # scripts never come from the storage


def test_a_browser_is_told_the_policy_on_every_page(client):
    policy = assert_csp_clean(client.get("/"))
    assert policy["media-src"] == ["'self'", "blob:"]  # local media: this site only
    assert policy["frame-ancestors"] == ["'none'"] and policy["form-action"] == ["'self'"]
