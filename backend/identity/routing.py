"""Walking the app's routes: those of included routers too (FastAPI keeps them inside), and the
access rule a route declares (backend.identity.rules marks each rule function with ``__rule__``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from starlette.routing import BaseRoute


def every_route(routes: Sequence[BaseRoute]) -> Iterator[BaseRoute]:
    for route in routes:
        if hasattr(route, "original_router"):
            yield from every_route(route.original_router.routes)
        else:
            yield route


def declared_rules(route: BaseRoute) -> list[str]:
    """The rules a route declares among its dependencies (exactly one each: test_permissions)."""
    dependant = getattr(route, "dependant", None)
    return [d.call.__rule__ for d in getattr(dependant, "dependencies", []) if hasattr(d.call, "__rule__")]
