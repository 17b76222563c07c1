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

    def attempt(self, keys_and_limits: list[tuple[str, int]], window: float) -> tuple[int | None, float]:
        """Reserve one sign-in attempt on every key at once: it counts as a failure until
        ``succeeded`` takes it back, so concurrent guesses cannot all slip in while passwords are
        being checked. Returns (seconds to wait, None when allowed; the attempt's stamp)."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key, limit in keys_and_limits:
                times = self._prune(key, now, window)
                if limit and len(times) >= limit:
                    wait = max(wait, times[len(times) - limit] + window - now)
            if wait > 0:
                return max(1, math.ceil(wait)), now
            for key, _ in keys_and_limits:
                self._failures[key].append(now)
        return None, now

    def succeeded(self, user_key: str, other_keys: list[str], stamp: float) -> None:
        """A right password: the user's failures are forgiven, the attempt taken back elsewhere."""
        with self._lock:
            self._failures.pop(user_key, None)
            for key in other_keys:
                try:
                    self._failures[key].remove(stamp)
                except ValueError:
                    pass

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()


signin_limiter = SignInLimiter()
