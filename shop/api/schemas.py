"""Request and response schemas of the HTTP API (API.md). The OpenAPI document uses these."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, PlainSerializer, StringConstraints

from shop import clock
from shop.api.routing import RequestModel, ResponseModel

UtcTime = Annotated[datetime, PlainSerializer(clock.to_text, return_type=str, when_used="json")]
Email = Annotated[str, StringConstraints(min_length=3, max_length=254,
                                         pattern=r"^[^@\s]+@[^@\s]+$")]
Password = Annotated[str, StringConstraints(min_length=10, max_length=200,
                                            strip_whitespace=False)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Optional200 = Annotated[str, StringConstraints(max_length=200)] | None


class RegisterIn(RequestModel):
    email: Email
    password: Password
    name: Name


class LoginIn(RequestModel):
    email: Email
    password: Annotated[str, StringConstraints(min_length=1, max_length=200,
                                               strip_whitespace=False)]


class PasswordResetIn(RequestModel):
    email: Email


class PasswordResetConfirmIn(RequestModel):
    token: Annotated[str, StringConstraints(min_length=10, max_length=200)]
    password: Password


class AddressIn(RequestModel):
    name: Name
    line1: Name
    line2: Optional200 = None
    city: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    county: Optional200 = None
    eircode: Annotated[str, StringConstraints(max_length=10)] | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = "IE"


class AddressOut(ResponseModel):
    kind: Literal["billing", "delivery"]
    name: str
    line1: str
    line2: str | None
    city: str
    county: str | None
    eircode: str | None
    country: str


class UserOut(ResponseModel):
    id: int
    email: str
    name: str
    role: Literal["customer", "admin"]
    created_at: UtcTime
    addresses: list[AddressOut] = Field(default_factory=list)


class UserWrapper(ResponseModel):
    user: UserOut


class AddressWrapper(ResponseModel):
    address: AddressOut


class SessionOut(ResponseModel):
    user: UserOut
    token: str
    expires_at: UtcTime


class Accepted(ResponseModel):
    status: Literal["accepted"] = "accepted"


class HealthOut(ResponseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "error"]
