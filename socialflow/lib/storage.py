"""Storage for live media on S3/MinIO, with caching headers a CDN can follow."""

from storages.backends.s3 import S3Storage


class LiveS3Storage(S3Storage):
    def get_object_parameters(self, name: str) -> dict:
        params = super().get_object_parameters(name)
        if name.endswith(".m3u8"):
            params["CacheControl"] = "max-age=1"  # live playlists change every segment
        elif name.endswith(".ts"):
            params["CacheControl"] = "public, max-age=31536000, immutable"  # never rewritten
        elif name.endswith(".jpg"):
            params["CacheControl"] = "max-age=10"
        return params
