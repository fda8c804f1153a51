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
from decimal import Decimal
from typing import Annotated, Any

from flask import Blueprint, Response, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, WrapValidator
from pydantic_core import PydanticCustomError
from werkzeug.routing import IntegerConverter

from shop.api.auth import current_user, require_admin
from shop.errors import Invalid, NotFound, PayloadTooLarge


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
    """``<id:name>``: a positive id that fits SQLite's INTEGER; anything else is a 404.

    The pattern itself refuses 0 and leading zeros: a value Werkzeug matched by pattern
    but then refused in ``to_python`` is answered 405 (not 404) when another method is
    registered on the same path. The one value the pattern cannot refuse, 19 digits past
    SQLite's largest integer, becomes 0, which :func:`route` answers with the same 404.
    """

    regex = r"[1-9][0-9]{0,18}"
    MAX = 2**63 - 1

    def __init__(self, map: Any) -> None:
        super().__init__(map)

    def to_python(self, value: str) -> int:
        number = int(value)
        return number if number <= self.MAX else 0


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
    upload: str | None = None  # a multipart/form-data file field the route also accepts
    max_upload: int | None = None  # bytes in that file
    raw: type[BaseModel] | None = None  # a body documented by this model, handed over unread


ROUTES: list[RouteSpec] = []


# --- what a refusal says ---------------------------------------------------------------------
# Every field rule is told as a sentence, here and nowhere else: a constrained type carries
# its own (``explained``, which also puts it in the OpenAPI document as the description);
# the rest get one by pydantic's error type. Never a regex, never pydantic's own wording.
_GENERIC = {
    "missing": "is required",
    "extra_forbidden": "is not a field of this request",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be text",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "list_type": "must be a list",
    "date_type": "must be a date like 2025-01-31",
    "date_parsing": "must be a date like 2025-01-31",
    "date_from_datetime_parsing": "must be a date like 2025-01-31",
    "date_from_datetime_inexact": "must be a date like 2025-01-31",
}


def _sentence(err: Any) -> str:
    """One validation error as the end of a sentence that starts with the field's name."""
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "explained":
        return str(ctx["sentence"])
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}"
    if kind in ("too_short", "too_long"):
        low, high = ctx.get("min_length", 0), ctx.get("max_length")
        return f"must have {low} to {high} entries" if high else f"must have at least {low}"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters"
    if kind == "string_too_short":
        return f"must be at least {ctx['min_length']} characters"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return "is out of range"
    return _GENERIC.get(kind, "is not valid")


def explained(annotation: Any, sentence: str) -> Any:
    """``annotation`` whose every refusal is ``sentence`` ("must be ..."), which is also its
    description in the OpenAPI document."""

    def check(value: Any, handler: Any) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise PydanticCustomError("explained", "{sentence}", {"sentence": sentence}) from None

    return Annotated[annotation, Field(description=sentence), WrapValidator(check)]


def _field_name(loc: tuple[Any, ...]) -> str:
    # A union names the branch it tried ("metadata.size.str"); the field is what came before.
    parts = [str(p) for p in loc if p not in ("str", "int", "float", "bool", "[key]")]
    return ".".join(parts) or "body"


def _field_errors(exc: ValidationError) -> dict[str, str]:
    fields: dict[str, str] = {}
    for err in exc.errors():
        fields.setdefault(_field_name(err["loc"]), _sentence(err))
    return fields


def _validated(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = _field_errors(exc)
        if len(fields) == 1:
            [(name, sentence)] = fields.items()
            message = f"{name} {sentence}"
        else:
            message = "these fields are not valid: " + ", ".join(sorted(fields))
        raise Invalid(message, details={"fields": fields}) from None


# Request headers the routes read, with the rule each must follow, told as a sentence.
HEADERS = {
    "Idempotency-Key": {"type": "string", "pattern": r"^[\x20-\x7e]{1,255}$",
                        "description": "Makes a retry return the first answer.",
                        "rule": "must be 1 to 255 printable ASCII characters"},
    "Stripe-Signature": {"type": "string", "pattern": r"^[\x20-\x7e]{1,2000}$",
                         "description": "Stripe's signature of the body: t=<unix time>,"
                                        "v1=<hex HMAC-SHA256 of \"<t>.<body>\">.",
                         "rule": "must be 1 to 2000 printable ASCII characters"},
    "X-Cart-Session": {"type": "string", "pattern": r"^[A-Za-z0-9_-]{16,64}$",
                       "description": "A guest's cart id, issued by the first cart call.",
                       "rule": "must be the cart session id the shop issued: 16 to 64 letters, "
                               "digits, hyphens or underscores"},
}


def header(name: str) -> str | None:
    """A request header of HEADERS, checked against its rule when sent; 400 naming it
    otherwise. Routes list the headers they read (``headers=``) for the document."""
    value = request.headers.get(name)
    if value is None:
        return None
    pattern = HEADERS[name]["pattern"]
    if not re.fullmatch(pattern, value):
        rule = HEADERS[name]["rule"]
        raise Invalid(f"the {name} header {rule}", details={"fields": {name: rule}})
    return value


def parse_query(model: type[BaseModel]) -> BaseModel:
    """The query string validated into ``model``; 400 ``invalid`` naming the parameter."""
    return _validated(model, request.args.to_dict(flat=True))


def _json_number(text: str) -> int | float:
    """A JSON number with a fraction part or exponent. JSON has one kind of number and JSON
    Schema calls 22.0 (or 2.2e1) an integer, so one with nothing after the point is read as
    the whole number it is, exactly; fields typed integer then accept it, as documented."""
    value = float(text)
    if value.is_integer() and abs(value) <= 2**64:  # bounded: no int() of 1e999999
        return int(Decimal(text))
    return value


def _not_json(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")  # NaN, Infinity: Python reads them, JSON has none


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
            data = json.loads(raw, parse_float=_json_number, parse_constant=_not_json)
        except RecursionError:  # absurdly deep nesting: still just bad input
            raise Invalid("the body is nested too deeply",
                          details={"fields": {"body": "is nested too deeply"}}) from None
        except ValueError:  # not UTF-8, or not JSON
            raise Invalid("the body must be JSON",
                          details={"fields": {"body": "must be JSON"}}) from None
    if not isinstance(data, dict):
        raise Invalid("the body must be a JSON object",
                      details={"fields": {"body": "must be a JSON object"}})
    return _validated(model, data)


def _limit_body(max_body: int, *, above_app_limit: bool = False) -> None:
    """Refuse a body over ``max_body`` bytes (or the app's limit, if lower, unless
    ``above_app_limit``: an upload route's own limit) before a byte of it is parsed: by its
    Content-Length, or, without one (chunked), by reading at most one byte more than the
    limit."""
    app_limit = request.max_content_length
    limit = max_body if app_limit is None or above_app_limit else min(app_limit, max_body)
    message = f"the body may be at most {limit} bytes"
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(message)
    # Werkzeug stops reading at max_content_length: a body that ends exactly at the limit
    # is read whole, and a longer one shows its first extra byte.
    request.max_content_length = limit + 1
    if len(request.get_data(cache=True)) > limit:
        raise PayloadTooLarge(message)


# What a multipart body may carry besides the file: its boundaries and part headers.
MULTIPART_OVERHEAD = 64 * 1024


def _multipart() -> bool:
    return request.mimetype == "multipart/form-data"


def parse_upload(name: str, max_bytes: int) -> bytes:
    """The bytes of the multipart field ``name`` (a file part, or a plain field), the only
    field allowed; 400 ``invalid`` naming it when absent, 413 over ``max_bytes``. The file
    name and the part's Content-Type are not read: what the bytes are is decided later, by
    decoding them."""
    form, files = request.form, request.files  # parsed from the body read by _limit_body
    for other in sorted((set(form) | set(files)) - {name}):
        raise Invalid(f"{other} is not a field of this request",
                      details={"fields": {other: "is not a field of this request"}})
    if name in files:
        data = files[name].stream.read(max_bytes + 1)
    elif name in form:
        data = form[name].encode()
    else:
        sentence = f"is required: send it as a multipart/form-data field named {name}"
        raise Invalid(f"{name} {sentence}", details={"fields": {name: sentence}})
    if len(data) > max_bytes:
        sentence = f"may be at most {max_bytes // (1024 * 1024)} MiB"
        raise PayloadTooLarge(f"the {name} {sentence}", details={"fields": {name: sentence}})
    return data


def route(bp: Blueprint, path: str, method: str, *, summary: str, status: int = 200,
          body: type[BaseModel] | None = None, query: type[BaseModel] | None = None,
          response: type[BaseModel] | None = None,
          auth: str = "none", errors: list[int] | None = None,
          headers: list[str] | None = None, max_body: int | None = None,
          upload: str | None = None, max_upload: int | None = None,
          raw: type[BaseModel] | None = None) -> Callable:
    """Register a view on ``bp`` and describe it for the OpenAPI document.

    The view receives the validated body as ``body=`` when a body model is given, the
    validated query string as ``query=`` when a query model is given, and
    returns a response model instance (or a dict matching it), or ``None`` for 204.
    ``max_body`` lowers the size limit for this route: a larger body is a 413
    ``payload_too_large`` before a byte of it is parsed (see :func:`parse_body`).

    ``upload`` names a file field: the route then also takes a multipart/form-data body
    carrying that field alone, of at most ``max_upload`` bytes (a limit above the app's
    SHOP_MAX_REQUEST_BYTES, for this route's multipart bodies only). The view receives its
    bytes as ``upload=`` (and ``body=None``), or ``upload=None`` and the JSON body.

    ``raw`` documents a JSON body that the view receives unparsed, as ``raw=`` bytes (at
    most SHOP_MAX_REQUEST_BYTES): a signed webhook, whose signature is checked over the
    exact bytes before anything in them is read.
    """
    if upload is not None and max_upload is None:
        raise ValueError("an upload route needs max_upload")
    prefix = bp.url_prefix or ""
    spec = RouteSpec(path=prefix + path, method=method.lower(), summary=summary, status=status,
                     body=body, query=query, response=response, auth=auth, tags=[bp.name],
                     errors=errors or [], headers=headers or [], max_body=max_body,
                     upload=upload, max_upload=max_upload, raw=raw)
    ROUTES.append(spec)

    ids = re.findall(r"<id:([a-z_]+)>", path)

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if any(kwargs.get(name) == 0 for name in ids):  # see IdConverter
                raise NotFound("The requested URL was not found on the server.")
            multipart = upload is not None and _multipart()
            if multipart:  # before anything reads the body
                _limit_body(max_upload + MULTIPART_OVERHEAD, above_app_limit=True)
            elif max_body is not None:
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
            if multipart:
                kwargs["upload"] = parse_upload(upload, max_upload)
                if body is not None:
                    kwargs["body"] = None
            else:
                if upload is not None:
                    kwargs["upload"] = None
                if body is not None:
                    kwargs["body"] = parse_body(body)
                if raw is not None:
                    _limit_body(request.max_content_length or 1024 * 1024)
                    kwargs["raw"] = request.get_data(cache=True)
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
