"""The OpenAPI document as the app really answers: every 422 (and 413, 429) has our error body
``{"detail": [{"field", "message"}]}`` instead of FastAPI's default ``loc/msg/type``; a route
with an id in its path documents 404; a route that takes a body documents 413."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from backend.architecture import PRESETS
from backend.core.errors import ErrorBody
from backend.core.settings import settings
from backend.identity.rules import Message

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
                for code, response in responses.items():  # refusals are JSON, whatever the route serves
                    if code[0] in "45" and "text/html" in response.get("content", {}):
                        response["content"] = {"application/json": response["content"].pop("text/html")}
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
        _presets_accepted(components)
        _lab_limits(components)
        _configs_documented(components)
        _families_named(components)
        _studies_documented(components)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _lab_limits(components: dict[str, Any]) -> None:
    """The lab's time budget is a bound of the config's time budget (the parameter budget is
    checked on the architecture's exact size, which no schema can state)."""
    components["TrainConfig"]["properties"]["time_budget_s"]["maximum"] = settings.TIME_BUDGET_S


def _presets_accepted(components: dict[str, Any]) -> None:
    """An architecture may be given as a preset's name: say so where the schema takes one."""
    families = components["TrainConfig"]["properties"]["architecture"]
    name = {"type": "string", "enum": sorted(PRESETS), "description": "a preset (GET /api/presets)"}
    families["anyOf"] = [name, *families["anyOf"]]
    components["ArchitectureSummaryRequest"]["properties"]["architecture"] = families


def _ref(model: str, description: str) -> dict[str, Any]:
    return {"allOf": [{"$ref": REF.format(model=model)}], "description": description}


def grid_options(components: dict[str, Any]) -> dict[str, Any]:
    """Every run option a sweep may vary, by its dotted name, with the schema of one value."""
    options: dict[str, Any] = {}
    for name, prop in components["TrainConfig"]["properties"].items():
        target = prop.get("$ref") or next((a["$ref"] for a in prop.get("allOf", []) if "$ref" in a), None)
        if name == "architecture":
            options[name] = prop
            for family in prop["anyOf"][1:]:
                for field, sub in components[family["$ref"].rsplit("/", 1)[1]]["properties"].items():
                    if field != "family":
                        options.setdefault(f"architecture.{field}", sub)
        elif target:
            for field, sub in components[target.rsplit("/", 1)[1]]["properties"].items():
                options[f"{name}.{field}"] = sub
        else:
            options[name] = prop
    return options


def _configs_documented(components: dict[str, Any]) -> None:
    """Configs given inside other bodies (a sweep's base, a study's entries) are run configs."""
    sweep = components["SweepCreate"]["properties"]
    sweep["base_config"] = _ref("TrainConfig", sweep["base_config"].get("description", "a run config"))
    sweep["grid"] = {
        "type": "object", "minProperties": 1, "additionalProperties": False,
        "description": sweep["grid"].get("description", ""),
        "properties": {name: {"type": "array", "minItems": 1, "maxItems": 64, "items": schema}
                       for name, schema in grid_options(components).items()},
    }
    entry = components["StudyEntry"]["properties"]
    entry["config"] = _ref("TrainConfig", entry["config"].get("description", "a run config"))


def _families_named(components: dict[str, Any]) -> None:
    """A description without ``family`` is the seed's plain family: the others must name theirs."""
    for family in ("CompactArchitecture", "ResNetArchitecture"):
        schema = components[family]
        schema["required"] = sorted({*schema.get("required", []), "family"})


def _studies_documented(components: dict[str, Any]) -> None:
    """A study is made from entries or from run ids, one of the two, never empty; a launch's
    data overrides name only the data fields."""
    study = components["StudyCreate"]
    for key in ("entries", "run_ids"):
        prop = study["properties"][key]
        listed = next(s for s in prop["anyOf"] if s.get("type") == "array")
        study["properties"][key] = {**listed, "minItems": 1, "description": prop.get("description", "")}
    study["oneOf"] = [{"required": ["entries"], "not": {"required": ["run_ids"]}},
                      {"required": ["run_ids"], "not": {"required": ["entries"]}}]
    data = components["DataConfig"]["properties"]
    launch = components["LaunchCreate"]["properties"]
    launch["data"] = {"anyOf": [{"type": "object", "additionalProperties": False, "properties": dict(data)},
                                {"type": "null"}], "description": launch["data"].get("description", "")}
