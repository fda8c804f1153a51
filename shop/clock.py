"""The only place the application reads the time.

Aware UTC everywhere; tests freeze it with freezegun. Stored times are fixed-width
ISO-8601 text (microseconds always present, ``Z`` suffix) so that text order is time
order in SQL, on SQLite and on D1 alike.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

STORED_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

# One clock for every app server of a shop on PostgreSQL: this process's offset from the
# database server's clock (measured by shop.db.sync_clock); None on SQLite, one box with
# one clock.
_offset: timedelta | None = None


def now() -> datetime:
    """The current time, aware, in UTC: on PostgreSQL the database server's, as measured
    (so servers whose clocks disagree decide expiries alike); else this machine's."""
    if _offset is None:
        return datetime.now(UTC)
    return datetime.now(UTC) + _offset


def local_now() -> datetime:
    """This machine's own clock, whatever the database's."""
    return datetime.now(UTC)


def set_offset(offset: timedelta | None) -> None:
    """Follow another clock (``now() = this machine's + offset``), or this machine's."""
    global _offset
    _offset = offset


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
