"""Routes declared once, with their request and response schemas.

A view is registered through :func:`route`, which validates the JSON body into a pydantic
model before the view runs (unknown fields and wrong types are a 400 naming the field),
serialises the view's answer through the declared response model, and records everything
the OpenAPI document needs. The document is therefore generated from the same schemas the
views validate with.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, request
from pydantic import BaseModel, ConfigDict, ValidationError
from werkzeug.routing import IntegerConverter

from shop.api.auth import current_user, require_admin
from shop.errors import Invalid, PayloadTooLarge


class RequestModel(BaseModel):
    """Base for request bodies: strict types, unknown fields refused. Nothing is stripped:
    lengths and patterns are checked on the value as sent, so the OpenAPI document (made
    from the same constraints) says exactly what is accepted."""

    model_config = ConfigDict(extra="forbid", strict=True)


class QueryModel(BaseModel):
    """Base for query strings: values arrive as text, so numbers and booleans are parsed
    (not strict); unknown parameters are refused like unknown body fields."""

    model_config = ConfigDict(extra="forbid")


class IdConverter(IntegerConverter):
    """``<id:name>``: a positive id that fits SQLite's INTEGER; anything else is a 404."""

    def __init__(self, map: Any) -> None:
        super().__init__(map, min=1, max=2**63 - 1)


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


@dataclass
class Answer:
    """A view's answer when the status is not the route's usual one (an idempotent replay
    answers with the status the first request got), or when it carries headers."""

    body: Any
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RouteSpec:
    path: str
    method: str
    summary: str
    status: int
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    auth: str  # "none" | "user" | "admin" | "optional"
    tags: list[str]
    errors: list[int] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    max_body: int | None = None  # bytes; a larger body is a 413 (else SHOP_MAX_REQUEST_BYTES)


ROUTES: list[RouteSpec] = []


def _field_errors(exc: ValidationError) -> dict[str, str]:
    fields: dict[str, str] = {}
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]) or "body"
        fields.setdefault(name, err["msg"])
    return fields


def _validated(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = _field_errors(exc)
        names = ", ".join(sorted(fields))
        raise Invalid(f"invalid fields: {names}", details={"fields": fields}) from None


# Request headers the routes read, with the rule each must follow.
HEADERS = {
    "Idempotency-Key": {"type": "string", "pattern": r"^[\x20-\x7e]{1,255}$",
                        "description": "Makes a retry return the first answer."},
    "X-Cart-Session": {"type": "string", "pattern": r"^[A-Za-z0-9_-]{16,64}$",
                       "description": "A guest's cart id, issued by the first cart call."},
}


def header(name: str) -> str | None:
    """A request header of HEADERS, checked against its rule when sent; 400 naming it
    otherwise. Routes list the headers they read (``headers=``) for the document."""
    value = request.headers.get(name)
    if value is None:
        return None
    pattern = HEADERS[name]["pattern"]
    if not re.fullmatch(pattern, value):
        raise Invalid(f"the {name} header is not valid",
                      details={"fields": {name: "does not match " + pattern}})
    return value


def parse_query(model: type[BaseModel]) -> BaseModel:
    """The query string validated into ``model``; 400 ``invalid`` naming the parameter."""
    return _validated(model, request.args.to_dict(flat=True))


def parse_body(model: type[BaseModel]) -> BaseModel:
    """The request's JSON body validated into ``model``; 400 ``invalid`` otherwise.

    The bytes are read first, so a body over the size limit is a 413 however it arrives.
    With a Content-Length, Werkzeug refuses it up front. A chunked body is cut at the limit
    by a single read, silently; the read after it raises RequestEntityTooLarge if the body
    went on.
    """
    raw = request.get_data(cache=True)
    limit = request.max_content_length
    if limit is not None and len(raw) >= limit:
        request.stream.read(1)  # raises 413 when the body does not end at the limit
    data: Any = {}
    if raw:
        try:
            data = json.loads(raw)
        except RecursionError:  # absurdly deep nesting: still just bad input
            raise Invalid("the body is nested too deeply",
                          details={"fields": {"body": "too deep"}}) from None
        except ValueError:  # not UTF-8, or not JSON
            raise Invalid("the body must be JSON",
                          details={"fields": {"body": "not JSON"}}) from None
    if not isinstance(data, dict):
        raise Invalid("the body must be a JSON object",
                      details={"fields": {"body": "not an object"}})
    return _validated(model, data)


def _limit_body(max_body: int) -> None:
    """Refuse a body over ``max_body`` bytes (or the app's limit, if lower) before a byte
    of it is parsed: by its Content-Length, or, without one (chunked), by reading at most
    one byte more than the limit."""
    app_limit = request.max_content_length
    limit = max_body if app_limit is None else min(app_limit, max_body)
    message = f"the body may be at most {limit} bytes"
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(message)
    # Werkzeug stops reading at max_content_length: a body that ends exactly at the limit
    # is read whole, and a longer one shows its first extra byte.
    request.max_content_length = limit + 1
    if len(request.get_data(cache=True)) > limit:
        raise PayloadTooLarge(message)


def route(bp: Blueprint, path: str, method: str, *, summary: str, status: int = 200,
          body: type[BaseModel] | None = None, query: type[BaseModel] | None = None,
          response: type[BaseModel] | None = None,
          auth: str = "none", errors: list[int] | None = None,
          headers: list[str] | None = None, max_body: int | None = None) -> Callable:
    """Register a view on ``bp`` and describe it for the OpenAPI document.

    The view receives the validated body as ``body=`` when a body model is given, the
    validated query string as ``query=`` when a query model is given, and
    returns a response model instance (or a dict matching it), or ``None`` for 204.
    ``max_body`` lowers the size limit for this route: a larger body is a 413
    ``payload_too_large`` before a byte of it is parsed (see :func:`parse_body`).
    """
    prefix = bp.url_prefix or ""
    spec = RouteSpec(path=prefix + path, method=method.lower(), summary=summary, status=status,
                     body=body, query=query, response=response, auth=auth, tags=[bp.name],
                     errors=errors or [], headers=headers or [], max_body=max_body)
    ROUTES.append(spec)

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if max_body is not None:  # before anything reads the body
                _limit_body(max_body)
            # Who is asking comes before what they sent: no schema details for strangers.
            if auth == "user":
                current_user()
            elif auth == "admin":
                require_admin()
            elif auth == "optional":
                current_user(required=False)
            if query is not None:
                kwargs["query"] = parse_query(query)
            if body is not None:
                kwargs["body"] = parse_body(body)
            result = view(*args, **kwargs)
            if result is None:
                return "", 204
            if isinstance(result, Response):
                return result
            extra_headers: dict[str, str] = {}
            answered = status
            if isinstance(result, Answer):
                answered = result.status or status
                result, extra_headers = result.body, result.headers
            if isinstance(result, tuple):
                result, extra_headers = result
            if response is not None:
                # Fields the view did not set (an optional extra) are left out, not null.
                result = response.model_validate(result).model_dump(mode="json",
                                                                    exclude_unset=True)
            return result, answered, extra_headers

        bp.add_url_rule(path, endpoint=view.__name__, view_func=wrapper,
                        methods=[method.upper()])
        return wrapper

    return decorator
