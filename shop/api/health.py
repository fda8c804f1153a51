"""Health check and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from shop.api import schemas
from shop.api.errors import error_response
from shop.api.openapi import document
from shop.api.routing import route
from shop.services import system

bp = Blueprint("health", __name__)


@route(bp, "/healthz", "GET", summary="Liveness and database check",
       response=schemas.HealthOut, errors=[503])
def healthz() -> Any:
    if not system.database_ok():
        return error_response(503, "busy", "the database is not answering",
                              {"database": "error"}, retry_after=5)
    return {"status": "ok", "database": "ok"}


@route(bp, "/api/openapi.json", "GET", summary="This OpenAPI document")
def openapi() -> Any:
    return document()
