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
    problem = system.storage_health()
    if problem is not None:
        return error_response(503, problem, HEALTH_MESSAGES[problem],
                              {"database": problem}, retry_after=5)
    return {"status": "ok", "database": "ok"}


HEALTH_MESSAGES = {
    "storage_full": "the disk is full: the shop cannot save anything",
    "read_only": "the shop's files are read-only",
    "storage_error": "the database cannot be used",
}


@route(bp, "/api/openapi.json", "GET", summary="This OpenAPI document")
def openapi() -> Any:
    return document()
