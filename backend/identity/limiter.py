"""Failed sign-ins, counted over a sliding window per (username, client address) pair, per
username over every address and per client address; past a limit a password is refused (429)
before it is even checked. The pair's limit is the low one, so guesses from elsewhere never lock
the owner out at their own address; the others stop guessing spread over many addresses or names.
An address where the user signed in rightly (within CNNLAB_SESSION_DAYS) is known: the user's
count over every address does not apply there, so a stranger guessing from many addresses still
cannot lock the owner out at theirs.
The sign-in form and the password change (which checks the current password) share them.

In memory, so per backend process: a lab running N backend processes allows N times the limit."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, defaultdict, deque
from collections.abc import Callable

from backend.core.settings import settings


class SignInLimiter:
    KNOWN_PAIRS = 100_000  # (user, address) pairs remembered, least recently seen out

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._known: OrderedDict[str, float] = OrderedDict()  # pair → when its password was last right
        self._lock = threading.Lock()

    def _is_known(self, pair: str) -> bool:
        with self._lock:
            seen = self._known.get(pair)
            return seen is not None and time.monotonic() - seen < settings.SESSION_DAYS * 86_400

    def _remember(self, pair: str) -> None:
        with self._lock:
            self._known[pair] = time.monotonic()
            self._known.move_to_end(pair)
            while len(self._known) > self.KNOWN_PAIRS:
                self._known.popitem(last=False)

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

    def succeeded(self, forgiven_key: str, other_keys: list[str], stamp: float) -> None:
        """A right password: the failures of ``forgiven_key`` (the user's at this address) are
        forgiven, the attempt taken back elsewhere."""
        with self._lock:
            self._failures.pop(forgiven_key, None)
            for key in other_keys:
                try:
                    self._failures[key].remove(stamp)
                except ValueError:
                    pass

    def check(self, username: str, address: str) -> tuple[int | None, Callable[[], None]]:
        """Reserve one password check of ``username`` from ``address``. Returns (seconds to wait,
        None when allowed; what to call when the password was right)."""
        pair, user, addr = f"pair:{username}@{address}", f"user:{username}", f"addr:{address}"
        limits = [(pair, settings.SIGNIN_MAX_FAILURES_PER_USER), (addr, settings.SIGNIN_MAX_FAILURES_PER_ADDRESS)]
        if not self._is_known(pair):
            limits.append((user, settings.SIGNIN_MAX_FAILURES_PER_USER_ALL_ADDRESSES))
        wait, stamp = self.attempt(limits, settings.SIGNIN_WINDOW_S)

        def right() -> None:
            self.succeeded(pair, [key for key, _ in limits[1:]], stamp)
            self._remember(pair)

        return wait, right

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()
            self._known.clear()


signin_limiter = SignInLimiter()
