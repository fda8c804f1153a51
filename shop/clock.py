"""The only place the application reads the time.

Aware UTC everywhere; tests freeze it with freezegun. Stored times are fixed-width
ISO-8601 text (microseconds always present, ``Z`` suffix) so that text order is time
order in SQL, on SQLite and on D1 alike.
"""

from __future__ import annotations

from datetime import UTC, datetime

STORED_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def to_text(moment: datetime) -> str:
    """Fixed-width UTC text for storage and for JSON responses."""
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are refused: times are aware UTC")
    return moment.astimezone(UTC).strftime(STORED_FORMAT)


def from_text(text: str) -> datetime:
    """Parse text written by :func:`to_text` (or any ISO-8601 with an offset)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
