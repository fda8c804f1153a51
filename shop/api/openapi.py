"""The OpenAPI 3.1 document, generated from the route registry and its pydantic schemas."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shop.api.routing import ROUTES, RouteSpec

_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message", "details"],
        "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "details": {"type": "object"},
        },
    }},
}
_REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No content", 400: "Invalid input",
            401: "Not signed in", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
            409: "Conflict", 413: "Payload too large", 429: "Rate limited",
            500: "Internal error", 503: "Busy"}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation(spec: RouteSpec) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": spec.summary, "tags": spec.tags,
                          "operationId": f"{spec.method}_{spec.path}"}
    params = re.findall(r"<(?:[a-z]+:)?([a-z_]+)>", spec.path)
    if params:
        op["parameters"] = [{"name": p, "in": "path", "required": True,
                             "schema": {"type": "string"}} for p in params]
    if spec.body is not None:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": _ref(spec.body)}}}
    ok: dict[str, Any] = {"description": _REASONS.get(spec.status, "OK")}
    if spec.response is not None:
        ok["content"] = {"application/json": {"schema": _ref(spec.response)}}
    responses: dict[str, Any] = {str(spec.status): ok}
    errors = set(spec.errors) | {500}
    if spec.body is not None:
        errors |= {400, 413}
    if spec.auth in ("user", "admin"):
        errors.add(401)
        op["security"] = [{"bearer": []}]
    if spec.auth == "admin":
        errors.add(403)
    for status in sorted(errors):
        responses[str(status)] = {
            "description": _REASONS.get(status, "Error"),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    op["responses"] = responses
    return op


def document() -> dict[str, Any]:
    """Every registered route, with request and response schemas as components."""
    models = {m for spec in ROUTES for m in (spec.body, spec.response) if m is not None}
    ordered = sorted(models, key=lambda m: m.__name__)
    _, defs = models_json_schema(
        [(m, "validation") for m in ordered], ref_template="#/components/schemas/{model}")
    schemas = dict(sorted(defs.get("$defs", {}).items()))
    schemas["Error"] = _ERROR_SCHEMA
    paths: dict[str, Any] = {}
    for spec in sorted(ROUTES, key=lambda s: (s.path, s.method)):
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", spec.path)
        paths.setdefault(path, {})[spec.method] = _operation(spec)
    return {
        "openapi": "3.1.0",
        "info": {"title": "edge-shop", "version": "0.1.0",
                 "description": "HTTP API of the edge-shop backend (see API.md)."},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
