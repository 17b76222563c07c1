"""Change notices for the live event stream.

The routes that record an epoch or a status change bump a per-run version here; the SSE loops of
the same process see it within one short tick. Changes made by another backend process are found
by the loop's periodic read of the database, so no change is missed, only seen a little later.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_versions: dict[int, int] = {}
_any = 0  # bumped by every change: the runs list's stream watches this one


def changed(run_id: int) -> None:
    global _any
    with _lock:
        _versions[run_id] = _versions.get(run_id, 0) + 1
        _any += 1


def any_version() -> int:
    with _lock:
        return _any


def version(run_id: int) -> int:
    with _lock:
        return _versions.get(run_id, 0)


_search_versions: dict[int, int] = {}


def search_changed(search_id: int) -> None:
    """A search moved (a trial told or asked, stopped, resumed, deleted): its page's stream sends."""
    global _any
    with _lock:
        _search_versions[search_id] = _search_versions.get(search_id, 0) + 1
        _any += 1


def search_version(search_id: int) -> int:
    with _lock:
        return _search_versions.get(search_id, 0)
