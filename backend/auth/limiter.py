"""Failed sign-ins, counted per username and per client address over a sliding window; past the
limit a sign-in is refused (429) before its password is even checked.

In memory, so per backend process: a lab running N backend processes allows N times the limit."""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque


class SignInLimiter:
    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _prune(self, key: str, now: float, window: float) -> deque[float]:
        times = self._failures[key]
        while times and times[0] <= now - window:
            times.popleft()
        return times

    def retry_after(self, keys_and_limits: list[tuple[str, int]], window: float) -> int | None:
        """Seconds until a sign-in may be tried again, or None when no limit is reached."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key, limit in keys_and_limits:
                times = self._prune(key, now, window)
                if limit and len(times) >= limit:
                    wait = max(wait, times[len(times) - limit] + window - now)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._failures[key].append(now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()


signin_limiter = SignInLimiter()
