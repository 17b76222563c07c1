"""The few calls of the cnnlab REST API that the command line makes, and its error bodies as lines."""

from __future__ import annotations

from typing import Any

import httpx

TOKEN_HINT = ("hint: set CNNLAB_TOKEN (make a token on the Tokens page or with "
              "`python -m backend.cli.users token NAME --name LABEL`)")


class ApiError(Exception):
    """An HTTP error answer of the API; ``lines`` are what to print, one per field error."""

    def __init__(self, status: int, detail: Any) -> None:
        self.status = status
        self.detail = detail
        self.lines = [f"HTTP {status}: {text}" for text in detail_messages(detail)]
        super().__init__("\n".join(self.lines))


def detail_messages(detail: Any) -> list[str]:
    """``{"detail": [{"field", "message"}]}`` or ``{"detail": "text"}`` (or FastAPI's own loc/msg) as messages."""
    if isinstance(detail, str):
        return [detail]
    if isinstance(detail, list) and detail:
        out = []
        for item in detail:
            if isinstance(item, dict):
                field = item.get("field")
                if field is None and isinstance(item.get("loc"), list):
                    field = ".".join(str(p) for p in item["loc"] if p not in ("body", "query", "path", "header"))
                message = item.get("message", item.get("msg", ""))
                out.append(f"{field}: {message}" if field else str(message))
            else:
                out.append(str(item))
        return out
    return [str(detail)] if detail not in (None, "", [], {}) else []


def error_from(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    if not detail_messages(detail):
        text = response.text.strip().splitlines()
        detail = text[0][:200] if text else (response.reason_phrase or "error")
    return ApiError(response.status_code, detail)


def check(response: httpx.Response) -> httpx.Response:
    if response.is_error:
        response.read()
        raise error_from(response)
    return response


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object (every route the client calls answers one)."""
    body = check(response).json()
    if not isinstance(body, dict):
        raise ApiError(response.status_code, f"expected a JSON object from {response.request.url.path}")
    return body


class Client:
    """An httpx.Client on the server with the token, if any, as ``Authorization: Bearer``."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0) -> None:
        from cnnlab_client import __version__

        headers = {"User-Agent": f"cnnlab-client/{__version__}", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.url = url
        self.http = httpx.Client(base_url=url, headers=headers, timeout=timeout)
        self._vocabulary: dict[str, list[str]] | None = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        query = {k: v for k, v in params.items() if v is not None}
        return json_object(self.http.get(path, params=query))

    def post(self, path: str, body: Any = None) -> dict[str, Any]:
        return json_object(self.http.post(path, json=body))

    # --- the API ---
    def submit_run(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.post("/api/runs", body)

    def submit_sweep(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.post("/api/sweeps", body)

    def run(self, run_id: int) -> dict[str, Any]:
        return self.get(f"/api/runs/{run_id}")

    def runs(self, status: str | None = None, owner: str | None = None, limit: int | None = None,
             q: str | None = None) -> dict[str, Any]:
        """A page of runs; ``q``: the runs list's query (``tag:baseline lr>0.1 test_acc>=85%``)."""
        return self.get("/api/runs", status=status, owner=owner, limit=limit, q=q)

    def cancel(self, run_id: int) -> dict[str, Any]:
        return self.post(f"/api/runs/{run_id}/cancel")

    def me(self) -> dict[str, Any]:
        return self.get("/api/me")

    def vocabulary(self) -> dict[str, list[str]]:
        """The server's enumerated words (GET /api/vocabulary), asked once per client."""
        if self._vocabulary is None:
            self._vocabulary = {kind: [str(w) for w in words] for kind, words in self.get("/api/vocabulary").items()}
        return self._vocabulary

    def finished_statuses(self) -> frozenset[str]:
        """The run statuses the server calls final: a run in one never changes again."""
        return frozenset(self.vocabulary()["finished_run_statuses"])

    def trained_statuses(self) -> frozenset[str]:
        """The final statuses whose numbers count (succeeded, or stopped by the time budget)."""
        return frozenset(self.vocabulary()["trained_run_statuses"])
