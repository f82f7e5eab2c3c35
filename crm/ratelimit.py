"""A fixed-window rate limit per key in the Django cache (Redis in production, shared by the
workers), for endpoints whose answers must not be harvested by trying many inputs."""

from __future__ import annotations

import time

from django.core.cache import cache


def over_limit(*, key: str, limit: int, window_seconds: int = 60) -> bool:
    """Count one hit for ``key`` in the current window; True once more than ``limit`` hits
    fell in it. ``add`` then ``incr`` are atomic in Redis, so parallel requests cannot both
    slip under the limit."""
    window = int(time.time()) // window_seconds
    bucket = f"ratelimit:{key}:{window}"
    if cache.add(bucket, 1, timeout=window_seconds + 1):
        return limit < 1
    try:
        return cache.incr(bucket) > limit
    except ValueError:  # expired between add and incr: this is the first hit of a new window
        cache.add(bucket, 1, timeout=window_seconds + 1)
        return limit < 1
