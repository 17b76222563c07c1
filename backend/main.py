"""The FastAPI app: wires routers, error format, the reaper. Nothing else lives here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError, OperationalError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.routing import Match
from starlette.types import Scope

from backend import pages
from backend.api import contract, health, vocabulary
from backend.api.templates import FRONTEND
from backend.core import events, notifier
from backend.core.db import SessionLocal
from backend.core.errors import Conflict, Refusal, SignInRequired, field_detail
from backend.core.limits import BodyLimit
from backend.core.security_headers import SecurityHeaders
from backend.core.validation import describe_errors
from backend.identity import routes as identity
from backend.identity.early import EarlyAuth
from backend.identity.mode import allowed_hosts, check_admin_exists, check_mode
from backend.identity.routing import every_route
from backend.models import routes as models
from backend.notifications import routes as notifications
from backend.notifications.delivery import deliver_forever
from backend.organise import routes as organise
from backend.runs import compare_routes as compare
from backend.runs import group_routes as groups
from backend.runs import live
from backend.runs import routes as runs
from backend.runs import sweep_routes as sweeps
from backend.runs import system_routes as system_metrics
from backend.searches import routes as searches
from backend.storage import routes as storage
from backend.storage.service import collect_forever
from backend.studies import routes as studies
from backend.studies.catalog import ensure_shipped
from backend.training import routes as architectures
from backend.views import routes as saved_views
from backend.workers import presence_routes as presence
from backend.workers import routes as worker
from backend.workers.reaper import reap_forever

logger = logging.getLogger("cnnlab.backend")


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await asyncio.to_thread(check_startup)
    await asyncio.to_thread(_ship_studies)
    app.state.snapshots = live.Snapshots()
    app.state.notifier = notices = notifier.for_lab()
    events.board.bind(asyncio.get_running_loop())
    events.board.publish = notices.publish
    tasks = [asyncio.create_task(reap_forever()), asyncio.create_task(notices.listen(events.board)),
             asyncio.create_task(deliver_forever())]
    tasks.append(asyncio.create_task(collect_forever()))  # artefacts: retention and orphans, now and hourly
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()


def check_startup() -> None:
    """Refuse to serve when the mode would leave the lab open (local mode off loopback) or closed
    to everyone (sign-in required and no admin), or several processes deaf to each other's changes:
    backend.core.errors.StartupRefused says why."""
    check_mode()
    notifier.check_processes()
    try:
        with SessionLocal() as session:
            check_admin_exists(session)
    except SQLAlchemyError as exc:  # a database that is down (or not migrated) is checked when it is back
        logger.warning("could not check for an admin yet: %s", exc.__class__.__name__)


def _ship_studies() -> None:
    """The shipped studies exist once the schema does; a database that is down now only delays them
    to the first listing of studies (GET /api/studies writes any that are missing)."""
    try:
        with SessionLocal() as session:
            ensure_shipped(session)
    except SQLAlchemyError as exc:
        logger.warning("shipped studies not written yet (database unavailable or not migrated): %s",
                       exc.__class__.__name__)


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    methods: set[str] = set()
    probe = {**scope, "method": "GET"}
    for route in every_route(app.routes):
        route_methods: set[str] | None = getattr(route, "methods", None)  # Route and APIRoute have them
        if not route_methods:
            continue
        if route.matches(probe)[0] != Match.NONE:  # /api/runs/{run_id:int} does not match /api/runs/events
            methods |= set(route_methods)
    return sorted(methods)


def html_side(request: Request) -> bool:
    """A page's address, asked for by a browser's GET: its 404 is the lab's page (pages.not_found),
    while the API's, a static file's and a vendored file's stay as they are (JSON, or empty)."""
    path = request.url.path
    return (request.method in ("GET", "HEAD") and path not in ("/api", "/openapi.json")
            and not path.startswith(("/api/", "/static/", "/vendor/")))


def create_app() -> FastAPI:
    app = FastAPI(title="cnnlab", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Train small image classifiers under a budget and compare the runs. Every route "
                              "but /api/health needs a signed-in user (API token or session cookie), or the "
                              "worker credential for /api/worker/*; in local mode (a laptop) requests without "
                              "credentials act as the local admin.")

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        if html_side(request) and all((e.get("loc") or ("",))[0] == "path" for e in exc.errors()):
            return pages.not_found(request, None, f"There is nothing at {request.url.path}.")  # /runs/abc, /runs/0
        detail = describe_errors(list(exc.errors()), drop_prefix=("body", "query", "path", "header"))
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(Conflict)
    async def _conflict(_request: Request, exc: Conflict) -> JSONResponse:
        """A valid request the state refuses (finished, running, superseded lease): 409, once for all routes."""
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(Refusal)
    async def _refused(_request: Request, exc: Refusal) -> JSONResponse:
        """A field refused (field_error, a run not admitted, over a quota, a worker's impossible report,
        a users' request, an upload that is no image, …): its status, the field, why (and a quota's
        limit and count)."""
        return JSONResponse({"detail": exc.detail()}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(DataError)
    async def _unstorable(_request: Request, exc: DataError) -> JSONResponse:
        # e.g. a NUL character, which PostgreSQL's text cannot hold: the request's fault, not ours
        return JSONResponse({"detail": field_detail("body", "holds a value the database cannot store "
                                                            "(a NUL character?)")}, status_code=422)

    @app.exception_handler(OperationalError)
    async def _database_down(_request: Request, exc: OperationalError) -> JSONResponse:
        return JSONResponse({"detail": "database unavailable, retry later"}, status_code=503,
                            headers={"Retry-After": "1"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # a body that is not JSON at all (bytes that are not UTF-8): refused like any bad field
            return JSONResponse({"detail": field_detail("body", "is not valid JSON")}, status_code=422)
        if exc.status_code == 404 and html_side(request):
            return pages.not_found(request, None, f"There is no page at {request.url.path}.")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not only those of the first route that matched
            headers["Allow"] = ", ".join(allowed_methods(request.app, request.scope))
        return await http_exception_handler(request, StarletteHTTPException(exc.status_code, exc.detail, headers))

    @app.exception_handler(SignInRequired)
    async def _sign_in(_request: Request, exc: SignInRequired) -> RedirectResponse:
        return RedirectResponse(f"/login?next={quote(exc.next_url, safe='/')}", status_code=303)

    app.state.snapshots = live.Snapshots()  # made anew by each start (lifespan): its locks belong to one loop
    for module in (runs, models, worker, presence, architectures, sweeps, searches, studies, compare, groups, health,
                   vocabulary, identity, system_metrics, notifications):
        app.include_router(module.router)
    app.include_router(organise.router)  # PATCH of runs, sweeps, studies, searches; stars
    app.include_router(storage.router)  # disk use, the garbage collector on demand
    app.include_router(saved_views.router)  # the runs list's saved views, per user
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=FRONTEND / "static"), name="static")
    app.mount("/vendor/swagger", StaticFiles(directory=pages.SWAGGER_UI), name="swagger")
    contract.install(app)
    app.add_middleware(BodyLimit)
    app.add_middleware(EarlyAuth)  # outside BodyLimit: an anonymous body is refused before it is measured
    app.add_middleware(SecurityHeaders)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts())
    return app


app = create_app()
