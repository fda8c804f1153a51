"""Short codes people read out over the phone: order numbers and sell batch ids."""

from __future__ import annotations

import secrets

# Crockford's base32: no I, L, O or U to misread.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def readable_code(prefix: str) -> str:
    """``PREFIX-XXXX-XXXX``: 40 random bits, so one code says nothing about the next."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"{prefix}-{chars[:4]}-{chars[4:]}"
