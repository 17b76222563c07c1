"""The HTML pages: Jinja2 shells that the browser fills in from the same REST API scripts use.
Plotly.js is served from the installed plotly package (no CDN: the lab may be offline)."""

from __future__ import annotations

import re
from pathlib import Path

import plotly
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates

from backend.settings import settings

FRONTEND = Path(__file__).resolve().parents[1] / "frontend"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
templates = Jinja2Templates(directory=FRONTEND / "templates")  # autoescaping on: user text is never HTML

router = APIRouter(include_in_schema=False)


def page(request: Request, name: str, **context: object) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"param_budget": settings.PARAM_BUDGET, **context})


def inline_asset(path: Path) -> str:
    """A static file's text, safe inside an inline <script> or <style> element: nothing in it can
    close the element or open an HTML comment that would swallow the rest of the page."""
    text = path.read_text(encoding="utf-8")
    return re.sub(r"</(script|style)", r"<\\/\1", text, flags=re.IGNORECASE).replace("<!--", "<\\!--")


def export_page(request: Request, name: str, **context: object) -> HTMLResponse:
    """A page that needs nothing but itself: Plotly, CSS and scripts inline (see study_export.html)."""
    static = FRONTEND / "static"
    assets = {"plotly_js": inline_asset(PLOTLY_JS), "app_css": inline_asset(static / "css" / "app.css"),
              "common_js": inline_asset(static / "js" / "common.js"),
              "report_js": inline_asset(static / "js" / "study_report.js")}
    return page(request, name, **assets, **context)


@router.get("/vendor/plotly.min.js")
def plotly_js() -> FileResponse:
    return FileResponse(PLOTLY_JS, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})


@router.get("/", response_class=HTMLResponse)
def runs_page(request: Request) -> HTMLResponse:
    return page(request, "runs.html", title="Runs")


@router.get("/runs/new", response_class=HTMLResponse)
def new_run_page(request: Request) -> HTMLResponse:
    return page(request, "new_run.html", title="New run")


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: int) -> HTMLResponse:
    return page(request, "run.html", title=f"Run {run_id}", run_id=run_id)


@router.get("/compare", response_class=HTMLResponse)
def compare_page(request: Request) -> HTMLResponse:
    return page(request, "compare.html", title="Compare")


@router.get("/studies", response_class=HTMLResponse)
def studies_page(request: Request) -> HTMLResponse:
    return page(request, "studies.html", title="Studies")


@router.get("/studies/{study_id}", response_class=HTMLResponse)
def study_page(request: Request, study_id: int) -> HTMLResponse:
    return page(request, "study.html", title=f"Study {study_id}", study_id=study_id)


@router.get("/sweeps/new", response_class=HTMLResponse)
def new_sweep_page(request: Request) -> HTMLResponse:
    return page(request, "new_sweep.html", title="New sweep")


@router.get("/sweeps/{sweep_id}", response_class=HTMLResponse)
def sweep_page(request: Request, sweep_id: int) -> HTMLResponse:
    return page(request, "compare.html", title=f"Sweep {sweep_id}", sweep_id=sweep_id)
