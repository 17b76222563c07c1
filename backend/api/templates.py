"""The HTML shell of every page: the Jinja2 templates (autoescaping on: user text is never HTML),
what every page carries (who is signed in, the CSRF token, the lab's enumerated words), and a page
that needs nothing but itself (the study export)."""

from __future__ import annotations

import re
from pathlib import Path

import plotly
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from backend.core.settings import settings
from backend.core.statuses import RunStatus, vocabulary
from backend.identity.rules import Identity

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
templates = Jinja2Templates(directory=FRONTEND / "templates")  # autoescaping on: user text is never HTML


def page(request: Request, name: str, identity: Identity | None = None, **context: object) -> HTMLResponse:
    """A page; with an identity, the header shows who is signed in and the page carries the CSRF
    token its scripts send with every change (common.js). Every page carries the lab's enumerated
    words (``vocabulary()``, one JSON attribute of its body that common.js reads)."""
    csrf = identity.session_row.csrf_token if identity and identity.session_row else ""
    return templates.TemplateResponse(request, name, {
        "param_budget": settings.PARAM_BUDGET, "run_statuses": list(RunStatus), "vocabulary": vocabulary(),
        "me": identity.user if identity else None, "via": identity.via if identity else None,
        "csrf_token": csrf, **context,
    })


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
              "charts_js": inline_asset(static / "js" / "charts.js"),
              "report_js": inline_asset(static / "js" / "study_report.js")}
    return page(request, name, None, **assets, **context)  # no identity: the export shows no one signed in
