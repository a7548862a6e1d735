"""A Redis cache that a Redis outage does not turn into failed requests.

The shared cache holds rate-limit counters only: while Redis is unreachable, reads miss and
writes are dropped (logged once a minute at most), so the API stays up without counting.
"""

import logging
import time

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)
_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


class ResilientRedisCache(RedisCache):
    _last_warning = 0.0

    def _down(self, exc):
        now = time.monotonic()
        if now - ResilientRedisCache._last_warning > 60:
            ResilientRedisCache._last_warning = now
            log.warning("cache unreachable, rate limits not counted meanwhile: %s", exc)

    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except _DOWN as exc:
            self._down(exc)
            return default

    def get_many(self, keys, version=None):
        try:
            return super().get_many(keys, version)
        except _DOWN as exc:
            self._down(exc)
            return {}

    def set(self, key, value, timeout=None, version=None):
        try:
            return super().set(key, value, timeout, version)
        except _DOWN as exc:
            self._down(exc)

    def add(self, key, value, timeout=None, version=None):
        try:
            return super().add(key, value, timeout, version)
        except _DOWN as exc:
            self._down(exc)
            return False

    def delete(self, key, version=None):
        try:
            return super().delete(key, version)
        except _DOWN as exc:
            self._down(exc)
            return False

    def incr(self, key, delta=1, version=None):
        try:
            return super().incr(key, delta, version)
        except _DOWN as exc:
            self._down(exc)
            raise ValueError(f"key {key!r} not found (cache unreachable)") from exc
