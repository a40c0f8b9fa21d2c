"""The cache backend (socialflow.lib.cache): Django's Redis cache, with one connection pool
and one client per server for the whole process, whatever number of cache objects Django
makes (one per thread, and one per request under ASGI)."""

import threading

from django.conf import settings
from django.core.cache import caches

from socialflow.lib.cache import RedisCache


def test_cache_objects_share_one_pool_and_client_and_work():
    cache = caches["default"]
    assert isinstance(cache, RedisCache)
    config = settings.CACHES["default"]
    other = RedisCache(config["LOCATION"], config)  # what another request or thread gets
    client = cache._cache.get_client("k", write=True)
    assert other._cache.get_client("k") is client
    from_a_thread = []
    thread = threading.Thread(target=lambda: from_a_thread.append(caches["default"]._cache.get_client("k")))
    thread.start()
    thread.join()
    assert from_a_thread == [client]

    cache.set("socialflow-test-cache", {"a": 1}, 5)
    assert other.get("socialflow-test-cache") == {"a": 1}


def test_another_server_gets_its_own_pool():
    config = settings.CACHES["default"]
    away = RedisCache("redis://127.0.0.1:1/0", config)
    assert away._cache.get_client() is not caches["default"]._cache.get_client()
