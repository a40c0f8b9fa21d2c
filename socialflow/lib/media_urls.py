"""URLs of media in the "live" storage: plain for what anyone may fetch by name, signed and
short-lived for a followers-only broadcast's files (S-04).

A followers-only broadcast writes under `private/` instead of `live/`. Nothing serves that
prefix to anyone without a signature: not the public bucket policy (it grants `live/*`
only, deploy/minio-public-read.json), not Django's local media serving (`serve_media`).
The app hands a signed URL to a viewer only after the visibility check, and it lapses after
MEDIA_SIGNED_URL_SECONDS, so a copied link dies with it, and an unfollower's player stops
at its next playlist refresh.

Locally the signature is an HMAC of the name and the expiry (Django's signer); on S3 it is
S3's own presigned URL, made for the address viewers download from (AWS_S3_PUBLIC_URL).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from functools import cache
from typing import Any
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.core.files.storage import storages
from django.utils.crypto import salted_hmac

PRIVATE_ROOT = "private"
_SALT = "socialflow.media_urls"


def is_private(name: str) -> bool:
    return name.startswith(f"{PRIVATE_ROOT}/")


def media_url(name: str, absolute: Callable[[str], str]) -> str:
    """The URL a player or a page fetches `name` by: signed when it is private."""
    if not is_private(name):
        return absolute(storages["live"].url(name))
    if settings.USE_S3:
        return _presigned(name)
    expires = int(time.time()) + settings.MEDIA_SIGNED_URL_SECONDS
    return absolute(f"{settings.MEDIA_URL}{quote(name)}?e={expires}&s={signature(name, expires)}")


def signature(name: str, expires: int) -> str:
    return salted_hmac(_SALT, f"{name}|{expires}", algorithm="sha256").hexdigest()[:32]


def signature_ok(name: str, expires: str | None, given: str | None) -> bool:
    """A local signed URL's check: the right signature, not expired."""
    if not expires or not given or not expires.isdigit():
        return False
    if int(expires) < time.time():
        return False
    return hmac.compare_digest(signature(name, int(expires)), given)


def _presigned(name: str) -> str:
    from storages.utils import clean_name

    storage: Any = storages["live"]
    key = storage._normalize_name(clean_name(name))
    return _public_client().generate_presigned_url(
        "get_object",
        Params={"Bucket": settings.AWS_STORAGE_BUCKET_NAME, "Key": key},
        ExpiresIn=settings.MEDIA_SIGNED_URL_SECONDS,
    )


@cache
def _public_client() -> Any:
    """An S3 client that signs for the address viewers use: the signature covers the host,
    so a URL signed for the app's internal endpoint (http://minio:9000) would not do."""
    import boto3
    from botocore.config import Config

    public = getattr(settings, "AWS_S3_PUBLIC_URL", "") or ""
    options: dict[str, Any] = {
        "region_name": getattr(settings, "AWS_S3_REGION_NAME", None),
        "aws_access_key_id": getattr(settings, "AWS_ACCESS_KEY_ID", None),
        "aws_secret_access_key": getattr(settings, "AWS_SECRET_ACCESS_KEY", None),
    }
    if public:  # MinIO or S3 by path: https://media.example.com/<bucket>
        parts = urlsplit(public)
        options["endpoint_url"] = f"{parts.scheme}://{parts.netloc}"
        options["config"] = Config(signature_version="s3v4", s3={"addressing_style": "path"})
    else:
        options["endpoint_url"] = getattr(settings, "AWS_S3_ENDPOINT_URL", None)
        options["config"] = Config(signature_version="s3v4")
    return boto3.client("s3", **options)


def serve_media(request: Any, path: str) -> Any:
    """Local media (SERVE_MEDIA): what anyone may fetch by name; a private file only by a
    signed URL that has not expired (404 otherwise, as for a file that does not exist)."""
    from django.http import Http404
    from django.views.static import serve

    if is_private(path) and not signature_ok(path, request.GET.get("e"), request.GET.get("s")):
        raise Http404("No such file.")
    return serve(request, path, document_root=str(settings.MEDIA_ROOT))
