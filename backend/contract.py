"""The OpenAPI document as the app really answers: every 422 (and 413, 429) has our error body
``{"detail": [{"field", "message"}]}`` instead of FastAPI's default ``loc/msg/type``; a route
with an id in its path documents 404; a route that takes a body documents 413."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from backend.api.deps import ErrorBody
from backend.auth.rules import Message

REF = "#/components/schemas/{model}"


def _content(model: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": REF.format(model=model)}}}


def _models(components: dict[str, Any]) -> None:
    for model in (ErrorBody, Message):
        schema = model.model_json_schema(ref_template=REF)
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        _models(components)
        for path, operations in schema.get("paths", {}).items():
            for method, op in operations.items():
                responses = op.setdefault("responses", {})
                if "422" in responses:
                    responses["422"] = {"description": "A field was refused: the body names it and the limit",
                                        "content": _content("ErrorBody")}
                if "{" in path or "404" in responses:
                    responses["404"] = {"description": responses.get("404", {}).get("description", "Not found"),
                                        "content": {"application/json": {"schema": {"anyOf": [
                                            {"$ref": REF.format(model="Message")},
                                            {"$ref": REF.format(model="ErrorBody")}]}}}}
                if "requestBody" in op or method in ("post", "put", "patch"):
                    responses.setdefault("413", {"description": "The body is over the lab's limit",
                                                 "content": _content("ErrorBody")})
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
