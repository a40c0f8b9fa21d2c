"""Input meant to break things gets a clear 4xx, never a 500."""

import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from accounts.models import User
from accounts.tests.factories import PASSWORD
from socialflow.tests.helpers import assert_error


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    ["/u/%00/", "/u/a%00b/followers/", "/u/%E2%98%83/", "/u/a.b/", "/u/" + "x" * 31 + "/"],
)
def test_odd_usernames_in_page_urls_are_404(client, path):
    assert client.get(path).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/api/v1/users/%00/", "/api/v1/users/a%00/followers/", "/api/v1/users/%E2%98%83/follow/"]
)
def test_odd_usernames_in_api_urls_are_json_404(api_as, carol, path):
    client = api_as(carol)
    assert_error(client.get(path), 404, "not_found")
    assert_error(client.post(path), 404, "not_found")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("page=abc", 400, "invalid_page"),
        ("page=0", 400, "invalid_page"),
        ("page=1&page=2", 400, "invalid_page"),
        ("page=99999999999999999999", 404, "not_found"),  # past the end
        ("page_size=-5", 400, "invalid_page"),
        ("page_size=x", 400, "invalid_page"),
        ("page_size=101", 400, "invalid_page"),
    ],
)
def test_odd_pagination_is_refused_with_a_reason(api, alice, query, status, code):
    assert_error(api.get(f"/api/v1/users/alice/followers/?{query}"), status, code)


def _image_bytes(fmt, mode="RGB", size=(64, 48), exif=None) -> bytes:
    buffer = io.BytesIO()
    image = Image.new(mode, size, "teal")
    kwargs = {"exif": exif} if exif is not None else {}
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


@pytest.mark.django_db
def test_avatar_is_reencoded_and_named_by_its_real_format(api_as, alice, settings):
    # A GIF posing as a PDF becomes a plain JPEG; the client's name and extension are ignored.
    upload = SimpleUploadedFile("evil.pdf", _image_bytes("GIF"), content_type="application/pdf")
    response = api_as(alice).put("/api/v1/me/avatar/", {"avatar": upload}, format="multipart")
    assert response.status_code == 200, response.content
    alice.refresh_from_db()
    assert alice.avatar.name.endswith(".jpg") and "evil" not in alice.avatar.name
    with Image.open(settings.MEDIA_ROOT / alice.avatar.name) as stored:
        assert stored.format == "JPEG"


@pytest.mark.django_db
def test_avatar_metadata_is_dropped_and_size_capped(api_as, alice, settings):
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    upload = SimpleUploadedFile("me.jpg", _image_bytes("JPEG", size=(2000, 1000), exif=exif.tobytes()))
    api_as(alice).put("/api/v1/me/avatar/", {"avatar": upload}, format="multipart")
    alice.refresh_from_db()
    with Image.open(settings.MEDIA_ROOT / alice.avatar.name) as stored:
        assert stored.size == (512, 256)
        assert not stored.getexif()


@pytest.mark.django_db
def test_transparent_avatar_stays_png(api_as, alice):
    upload = SimpleUploadedFile("me.png", _image_bytes("PNG", mode="RGBA"))
    api_as(alice).put("/api/v1/me/avatar/", {"avatar": upload}, format="multipart")
    alice.refresh_from_db()
    assert alice.avatar.name.endswith(".png")


@pytest.mark.django_db
def test_unsupported_image_format_is_refused_and_nothing_written(api_as, alice, settings):
    upload = SimpleUploadedFile("me.bmp", _image_bytes("BMP"))
    assert_error(
        api_as(alice).put("/api/v1/me/avatar/", {"avatar": upload}, format="multipart"), 400, "invalid_image"
    )
    assert not (settings.MEDIA_ROOT / "avatars").exists()


@pytest.mark.django_db
def test_oversized_avatar_is_refused(api_as, alice, settings):
    settings.AVATAR_MAX_BYTES = 1000
    upload = SimpleUploadedFile("me.png", _image_bytes("PNG", size=(400, 400)) + b"\0" * 2000)
    body = assert_error(
        api_as(alice).put("/api/v1/me/avatar/", {"avatar": upload}, format="multipart"),
        400,
        "avatar_too_large",
    )
    assert "larger than" in body["detail"]


@pytest.mark.django_db
def test_tokens_end_when_the_password_changes(api, alice):
    tokens = api.post(
        "/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}, format="json"
    ).json()
    alice.set_password("a-brand-new-password-9")
    alice.save()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert_error(api.get("/api/v1/me/"), 401, "token_not_valid")
    api.credentials()
    assert_error(
        api.post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json"),
        401,
        "token_not_valid",
    )


@pytest.mark.django_db
def test_anonymous_htmx_follow_redirects_the_page_not_the_button(client, alice):
    response = client.post("/u/alice/follow/", headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response["HX-Redirect"] == "/accounts/login/?next=/u/alice/"


@pytest.mark.django_db
def test_database_refuses_a_second_account_with_the_same_email(alice):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        User.objects.create_user("alice2", email="ALICE@example.com", password=PASSWORD)


def test_api_docs_load_nothing_from_a_cdn(client):
    html = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in html
    # Every script, style and image comes from this site (not `cdn` anywhere: the page's
    # CSP nonce is random and once held "…5cdn8q").
    loaded = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", html)
    assert loaded and all(url.startswith("/") and not url.startswith("//") for url in loaded), loaded
    assert "https://" not in html and "//cdn" not in html.lower()


@pytest.mark.django_db
def test_an_avatar_over_16_megapixels_is_refused_before_decoding(api_as, alice, settings):
    """S-19: a few KB of PNG can claim 6300 x 6300 pixels; 16 MP is the most decoded."""
    settings.AVATAR_MAX_BYTES = 10 * 1024 * 1024
    upload = SimpleUploadedFile("bomb.png", _image_bytes("PNG", size=(4100, 4000)))
    body = assert_error(
        api_as(alice).put("/api/v1/me/avatar/", {"avatar": upload}, format="multipart"), 400, "invalid_image"
    )
    assert "too many pixels" in body["detail"]
    photo = SimpleUploadedFile("photo.jpg", _image_bytes("JPEG", size=(4000, 4000)))
    answer = api_as(alice).put("/api/v1/me/avatar/", {"avatar": photo}, format="multipart")
    assert answer.status_code == 200, answer.content
