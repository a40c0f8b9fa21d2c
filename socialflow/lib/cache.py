"""Django's Redis cache backend, with its connection pools and clients shared by the process.

Django keeps a cache object per thread, and under ASGI per request (its handler is a
context-local), and each object makes its own connection pool: under Daphne every request
opened a new connection to Redis (connect, HELLO, PING) for the throttles' first read, and
built a new `redis.Redis` (its command table, about 60 us) for every operation (Django
ticket #35651). Here the pools live as long as the process, one per server and options, as
do their clients; both are safe to share between threads, and redis-py renews a pool's
connections in a forked child.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.core.cache.backends import redis as django_redis

_lock = threading.Lock()
_pools: dict[tuple[str, str], Any] = {}
_clients: dict[int, Any] = {}  # by id() of their pool, which lives as long as the process


class RedisCacheClient(django_redis.RedisCacheClient):
    # Django's own attributes, which django-stubs leaves out.
    _servers: list[str]
    _pool_class: Any
    _pool_options: dict[str, Any]
    _client: Any
    _get_connection_pool_index: Callable[[bool], int]

    def _get_connection_pool(self, write: bool) -> Any:
        server = self._servers[self._get_connection_pool_index(write)]
        key = (server, repr(sorted(self._pool_options.items())))
        pool = _pools.get(key)
        if pool is None:
            with _lock:
                pool = _pools.get(key)
                if pool is None:
                    pool = _pools[key] = self._pool_class.from_url(server, **self._pool_options)
        return pool

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = _clients.get(id(pool))
        if client is None:
            client = _clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient
