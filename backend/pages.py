"""The HTML pages: Jinja2 shells that the browser fills in from the same REST API scripts use.
Plotly.js is served from the installed plotly package (no CDN: the lab may be offline)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import swagger_ui_bundle
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from backend.api.forms import body_fields
from backend.api.templates import FRONTEND, PLOTLY_JS, page, templates
from backend.architecture import PRESETS
from backend.core.db import SessionDep
from backend.core.errors import SignInRequired
from backend.core.limits import RunId, SearchId, StudyId, SweepId
from backend.core.settings import settings
from backend.core.tables import Run, Search, Study, Sweep
from backend.identity import service as user_service
from backend.identity.limiter import signin_limiter
from backend.identity.mode import auth_mode
from backend.identity.passwords import verify_password
from backend.identity.rules import SESSION_COOKIE, Identity, check_not_cross_site, identify, member, public
from backend.identity.schemas import PasswordChange, TokenCreate, UserCreate
from backend.identity.secrets import same
from backend.notifications.schemas import WebhookCreate
from backend.runs import query as run_query
from backend.runs.schemas import MAX_SWEEP_POINTS, RunCreate, SweepCreate
from backend.searches.schemas import SearchCreate, WinnerCreate
from backend.studies.schemas import LaunchCreate, StudyCreate, StudyEntry
from backend.training.options import Option, all_options, by_group, element_ids
from backend.training.recipes import RECIPES
from backend.views.schemas import NAME_MAX as VIEW_NAME_MAX

SWAGGER_UI = Path(swagger_ui_bundle.swagger_ui_path)
FAVICON = FRONTEND / "static" / "favicon.svg"

router = APIRouter(include_in_schema=False)


def page_member(request: Request, identity: Annotated[Identity, Depends(identify)]) -> Identity:
    """The rule ``member`` for pages: a signed-in user, else the sign-in page."""
    if identity.user is None and not identity.is_worker:
        raise SignInRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    return member(request, identity)


def page_admin(identity: Annotated[Identity, Depends(page_member)]) -> Identity:
    """The rule ``admin`` for pages."""
    if not identity.is_admin:
        assert identity.user is not None  # page_member let a signed-in user through only
        raise HTTPException(403, f"only an admin may open this page; {identity.user.username} is a member")
    return identity


page_member.__rule__ = "member"  # type: ignore[attr-defined]  # a marker attribute, read by test_permissions
page_admin.__rule__ = "admin"  # type: ignore[attr-defined]  # a marker attribute, read by test_permissions
PageMember = Annotated[Identity, Depends(page_member)]
PageAdmin = Annotated[Identity, Depends(page_admin)]


@router.get("/docs", response_class=HTMLResponse, dependencies=[Depends(public)])
def api_docs(request: Request) -> HTMLResponse:
    """The OpenAPI page, served from the installed Swagger UI (the lab may be offline)."""
    return templates.TemplateResponse(request, "docs.html", {})


@router.get("/favicon.ico", dependencies=[Depends(public)])
def favicon() -> FileResponse:
    """The lab's icon where a browser asks for it without a page naming it (the API page, a raw file):
    base.html links the same SVG."""
    return FileResponse(FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})


def not_found(request: Request, identity: Identity | None, what: str) -> HTMLResponse:
    """The page of an address that leads nowhere (a run, sweep, study or search that does not exist,
    or no page at all): 404, what is missing, and the way back. The API's 404s stay JSON (main.py)."""
    response = page(request, "not_found.html", identity, title="Not found", what=what)
    response.status_code = 404
    return response


@router.get("/vendor/plotly.min.js", dependencies=[Depends(public)])
def plotly_js() -> FileResponse:
    return FileResponse(PLOTLY_JS, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})


def lab_option(o: Option) -> Option:
    """A run option as this lab's form offers it: the time budget within the lab's
    (``TIME_BUDGET_S``, as the API's contract says)."""
    if o.name != "time_budget_s":
        return o
    cap = settings.TIME_BUDGET_S if o.maximum is None else min(o.maximum, settings.TIME_BUDGET_S)
    default = o.default if o.default is None else min(o.default, cap)
    return dataclasses.replace(o, maximum=cap, maximum_exclusive=False, default=default)


def form_groups() -> list[tuple[str, list[Option], list[Option]]]:
    return [(group, [lab_option(o) for o in shown], [lab_option(o) for o in advanced])
            for group, shown, advanced in by_group()]


# the ids the search form's inputs have kept (the rest: search-<field name>)
SEARCH_FORM_IDS = {"base_config": "search-base", "n_trials": "search-trials", "max_concurrent": "search-concurrent",
                   "objectives": "search-objective"}


@router.get("/", response_class=HTMLResponse)
def runs_page(request: Request, identity: PageMember) -> HTMLResponse:
    return page(request, "runs.html", identity, title="Runs", study_form=body_fields(StudyCreate),
                recipes=RECIPES.values(), column_choices=run_query.column_choices(),
                query_fields=run_query.field_help(), max_query=run_query.MAX_QUERY, max_columns=run_query.MAX_COLUMNS,
                view_name_max=VIEW_NAME_MAX)


@router.get("/runs/new", response_class=HTMLResponse)
def new_run_page(request: Request, identity: PageMember) -> HTMLResponse:
    return page(request, "new_run.html", identity, title="New run", groups=form_groups(), ids=element_ids(),
                recipes=RECIPES.values(), run_form=body_fields(RunCreate))


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: RunId, session: SessionDep, identity: PageMember) -> HTMLResponse:
    if session.get(Run, run_id) is None:
        return not_found(request, identity, f"There is no run {run_id}: it may have been deleted.")
    return page(request, "run.html", identity, title=f"Run {run_id}", run_id=run_id,
                predict_max_files=settings.PREDICT_MAX_FILES)


@router.get("/compare", response_class=HTMLResponse)
def compare_page(request: Request, identity: PageMember) -> HTMLResponse:
    return page(request, "compare.html", identity, title="Compare")


@router.get("/studies", response_class=HTMLResponse)
def studies_page(request: Request, identity: PageMember) -> HTMLResponse:
    return page(request, "studies.html", identity, title="Studies", study_form=body_fields(StudyCreate),
                entry_form=body_fields(StudyEntry))


@router.get("/studies/{study_id}", response_class=HTMLResponse)
def study_page(request: Request, study_id: StudyId, session: SessionDep, identity: PageMember) -> HTMLResponse:
    if session.get(Study, study_id) is None:
        return not_found(request, identity, f"There is no study {study_id}: it may have been deleted.")
    options = {o.name: o for o in all_options()}
    return page(request, "study.html", identity, title=f"Study {study_id}", study_id=study_id,
                launch_form=body_fields(LaunchCreate),
                data_options={name: options[f"data.{name}"] for name in ("train_limit", "test_limit")})


# what the new-sweep form starts from: a small sweep of a short recipe (3 runs of at most 15 minutes)
SWEEP_START: dict[str, Any] = {"name": "learning rate", "preset": "compact", "recipe": "pilot_15min",
                               "grid": {"lr": [0.1, 0.2, 0.4]}}


def sweep_options() -> list[dict[str, object]]:
    """What the sweep form's grid may vary, from the options' declaration (as the form shows them),
    and the network itself as a preset; not the family, which decides which other options exist."""
    network = {"name": "architecture", "title": "Network (preset)", "group": "architecture", "kind": "choice",
               "choices": sorted(PRESETS), "help": "every point trains this preset instead of the network above",
               "limits": "", "families": [], "nullable": False, "minimum": None, "maximum": None}
    return [network, *({**dataclasses.asdict(o), "limits": o.limits} for group in form_groups()
                       for o in (*group[1], *group[2]) if o.name != "architecture.family")]


SWEEPS_PAGE = 25  # sweeps a page of the list shows (GET /api/sweeps takes up to 500)


@router.get("/sweeps", response_class=HTMLResponse)
def sweeps_page(request: Request, identity: PageMember) -> HTMLResponse:
    return page(request, "sweeps.html", identity, title="Sweeps", page_size=SWEEPS_PAGE)


@router.get("/sweeps/new", response_class=HTMLResponse)
def new_sweep_page(request: Request, identity: PageMember) -> HTMLResponse:
    return page(request, "new_sweep.html", identity, title="New sweep", sweep_form=body_fields(SweepCreate),
                groups=form_groups(), ids=element_ids(), recipes=RECIPES.values(), options=sweep_options(),
                max_runs=MAX_SWEEP_POINTS, start=SWEEP_START)


@router.get("/sweeps/{sweep_id}", response_class=HTMLResponse)
def sweep_page(request: Request, sweep_id: SweepId, session: SessionDep, identity: PageMember) -> HTMLResponse:
    if session.get(Sweep, sweep_id) is None:
        return not_found(request, identity, f"There is no sweep {sweep_id}: it may have been deleted.")
    return page(request, "compare.html", identity, title=f"Sweep {sweep_id}", sweep_id=sweep_id)


@router.get("/searches", response_class=HTMLResponse)
def searches_page(request: Request, identity: PageMember) -> HTMLResponse:
    fields = body_fields(SearchCreate)
    return page(request, "searches.html", identity, title="Searches", fields=fields,
                ids={name: SEARCH_FORM_IDS.get(name, "search-" + name.replace("_", "-")) for name in fields})


@router.get("/searches/{search_id}", response_class=HTMLResponse)
def search_page(request: Request, search_id: SearchId, session: SessionDep, identity: PageMember) -> HTMLResponse:
    if session.get(Search, search_id) is None:
        return not_found(request, identity, f"There is no search {search_id}: it may have been deleted.")
    return page(request, "search.html", identity, title=f"Search {search_id}", search_id=search_id,
                run_form=body_fields(RunCreate), winner_form=body_fields(WinnerCreate))


@router.get("/workers", response_class=HTMLResponse)
def workers_page(request: Request, identity: PageMember) -> HTMLResponse:
    """The workers (up or down, what each trains) and the queue (each queued run's place and ETA)."""
    return page(request, "workers.html", identity, title="Workers", refresh_s=WORKERS_REFRESH_S,
                queue_shown=QUEUE_SHOWN)


WORKERS_REFRESH_S = 5  # the Workers page reads the workers and the queue again this often
QUEUE_SHOWN = 500  # queued runs the Workers page lists (GET /api/runs's largest page)


@router.get("/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, identity: PageMember) -> HTMLResponse:
    return page(request, "tokens.html", identity, title="API tokens", token_form=body_fields(TokenCreate))


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, identity: PageMember) -> HTMLResponse:
    return page(request, "account.html", identity, title="Account", password_form=body_fields(PasswordChange),
                webhook_form=body_fields(WebhookCreate))


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, identity: PageAdmin) -> HTMLResponse:
    return page(request, "users.html", identity, title="Users", user_form=body_fields(UserCreate),
                token_form=body_fields(TokenCreate))


# --- signing in and out --------------------------------------------------------------------------

def safe_next(next_url: str | None) -> str:
    """Only a path of this site: never another site (an open redirect) or a scheme."""
    if next_url and next_url.startswith("/") and not next_url.startswith("//") and "\\" not in next_url:
        return next_url
    return "/"


SIGNIN_FAILED = "Wrong username or password."  # the same whether or not the username exists
USERNAME_MAX, PASSWORD_MAX = 100, 256  # the sign-in form's fields (login.html renders them)


@router.get("/login", response_class=HTMLResponse, dependencies=[Depends(public)])
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    return page(request, "login.html", title="Sign in", next=safe_next(next), error="", username="",
                username_max=USERNAME_MAX, password_max=PASSWORD_MAX)


@router.post("/login", response_class=HTMLResponse, dependencies=[Depends(public)])
def login(request: Request, session: SessionDep, username: Annotated[str, Form(max_length=USERNAME_MAX)],
          password: Annotated[str, Form(max_length=PASSWORD_MAX)],
          next: Annotated[str, Form(max_length=2000)] = "/") -> Response:
    """Signs in with a password: an HttpOnly, SameSite=Lax session cookie (Secure over https).
    Failed attempts are limited per username and per client address (429 with Retry-After)."""
    check_not_cross_site(request)
    name = user_service.canonical(username)
    address = request.client.host if request.client else "unknown"
    wait, succeeded = signin_limiter.check(name, address)

    def again(message: str, status: int, headers: dict[str, str] | None = None) -> HTMLResponse:
        response = page(request, "login.html", title="Sign in", next=safe_next(next), error=message, username=username,
                        username_max=USERNAME_MAX, password_max=PASSWORD_MAX)
        response.status_code = status
        response.headers.update(headers or {})
        return response

    if wait is not None:
        return again(f"Too many failed sign-ins; try again in {wait} s.", 429, {"Retry-After": str(wait)})
    user = user_service.find_user(session, name)
    ok = verify_password(password, user.password_hash if user is not None and user.active else None)
    if not ok or user is None:
        return again(SIGNIN_FAILED, 401)  # the attempt stays counted
    succeeded()
    made = user_service.start_session(session, user)
    session.commit()
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, made.cookie, max_age=int(settings.SESSION_DAYS * 86400), httponly=True,
                        samesite="lax", secure=request.url.scheme == "https", path="/")
    return response


@router.post("/logout", dependencies=[Depends(public)])
def logout(request: Request, session: SessionDep, csrf_token: Annotated[str, Form(max_length=100)] = "") -> Response:
    """Ends this browser's session (the form carries the page's CSRF token)."""
    check_not_cross_site(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        row = user_service.session_of(session, cookie)
        if row is not None and not same(csrf_token, row.csrf_token):
            raise HTTPException(403, "signing out needs the page's CSRF token")
        user_service.end_session(session, cookie)
        session.commit()
    response = RedirectResponse("/login" if auth_mode() == "required" else "/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
