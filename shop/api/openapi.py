"""The OpenAPI 3.1 document, generated from the route registry and its pydantic schemas."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shop.api.routing import HEADERS, ROUTES, RouteSpec

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
            409: "Conflict", 413: "Payload too large", 414: "URL too long", 429: "Rate limited",
            500: "Internal error", 503: "Busy"}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


_PATH_PARAM = re.compile(r"<(?:([a-z]+):)?([a-z_]+)>")


def _path_parameter(converter: str, name: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if converter == "id":
        schema = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """One parameter per field; an optional field's ``null`` branch is dropped, because a
    query string can leave a parameter out but cannot send null."""
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        branches = [b for b in prop.pop("anyOf", []) if b.get("type") != "null"]
        if len(branches) == 1:
            prop.update(branches[0])
        elif branches:
            prop["anyOf"] = branches
        prop.pop("default", None) if prop.get("default") is None else None
        prop.pop("title", None)
        params.append({"name": name, "in": "query", "required": name in required,
                       "schema": prop})
    return params


def _operation(spec: RouteSpec) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": spec.summary, "tags": spec.tags,
                          "operationId": f"{spec.method}_{spec.path}"}
    params = [_path_parameter(c, n) for c, n in _PATH_PARAM.findall(spec.path)]
    if spec.query is not None:
        params.extend(_query_parameters(spec.query))
    params.extend({"name": name, "in": "header", "required": False,
                   "schema": {k: HEADERS[name][k] for k in ("type", "pattern")},
                   "description": f"{HEADERS[name]['description']} It {HEADERS[name]['rule']}."}
                  for name in spec.headers)
    if params:
        op["parameters"] = params
    content: dict[str, Any] = {}
    if spec.body is not None or spec.raw is not None:
        content["application/json"] = {"schema": _ref(spec.body or spec.raw)}
    if spec.upload is not None:
        megabytes = (spec.max_upload or 0) // (1024 * 1024)
        content["multipart/form-data"] = {
            "schema": {"type": "object", "required": [spec.upload],
                       "additionalProperties": False,
                       "properties": {spec.upload: {
                           "type": "string", "format": "binary",
                           "contentMediaType": "application/octet-stream",
                           "description": f"A JPEG, PNG or WebP image of at most {megabytes} "
                                          "MiB and 40 megapixels; its type is read from its "
                                          "content, never from its name."}}},
            "encoding": {spec.upload: {"contentType": "image/jpeg, image/png, image/webp"}}}
    if content:
        op["requestBody"] = {"required": True, "content": content}
    ok: dict[str, Any] = {"description": _REASONS.get(spec.status, "OK")}
    if spec.response is not None:
        ok["content"] = {"application/json": {"schema": _ref(spec.response)}}
    responses: dict[str, Any] = {str(spec.status): ok}
    # 414: any URL can be longer than the server reads (a JSON error, see shop/api/worker.py).
    errors = set(spec.errors) | {414, 500}
    if spec.body is not None or spec.upload is not None or spec.raw is not None:
        errors |= {400, 413}
    if spec.query is not None or spec.headers:
        errors.add(400)  # a query or header that breaks its rule
    if _PATH_PARAM.search(spec.path):
        errors.add(404)  # a path value that names nothing (or is not an id at all)
    if spec.auth in ("user", "admin"):
        errors.add(401)
        op["security"] = [{"bearer": []}]
    elif spec.auth == "optional":  # anonymous is fine; a bad token is still a 401
        errors.add(401)
        op["security"] = [{}, {"bearer": []}]
    if spec.auth == "admin":
        errors.add(403)
    for status in sorted(errors):
        reason = _REASONS.get(status, "Error")
        if status == 413 and spec.max_upload is not None:
            reason += (f" (the {spec.upload} may be at most {spec.max_upload} bytes, "
                       "or 40 megapixels)")
        elif status == 413 and spec.max_body is not None:
            reason += f" (the body may be at most {spec.max_body} bytes)"
        responses[str(status)] = {
            "description": reason,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    op["responses"] = responses
    return op


def document() -> dict[str, Any]:
    """Every registered route, with request and response schemas as components."""
    models = {m for spec in ROUTES for m in (spec.body, spec.raw, spec.response)
              if m is not None}
    ordered = sorted(models, key=lambda m: m.__name__)
    _, defs = models_json_schema(
        [(m, "validation") for m in ordered], ref_template="#/components/schemas/{model}")
    schemas = dict(sorted(defs.get("$defs", {}).items()))
    schemas["Error"] = _ERROR_SCHEMA
    paths: dict[str, Any] = {}
    for spec in sorted(ROUTES, key=lambda s: (s.path, s.method)):
        path = _PATH_PARAM.sub(r"{\2}", spec.path)
        paths.setdefault(path, {})[spec.method] = _operation(spec)
    return {
        "openapi": "3.1.0",
        "info": {"title": "edge-shop", "version": "0.1.0",
                 "description": "HTTP API of the edge-shop backend. Errors share one body, "
                                "{\"error\": {\"code\", \"message\", \"details\"}}; "
                                "lists are paginated with ?limit= and an opaque ?cursor=."},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
