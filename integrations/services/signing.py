"""The Revops-Signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>`.

The timestamp is signed with the body, so a captured request cannot be replayed later than the
receiver's tolerance (default 5 minutes), and a changed body or timestamp breaks the signature.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time

HEADER = "Revops-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE = 300  # seconds


class SignatureError(ValueError):
    """The header is missing, malformed, too old, or does not match the body."""


def secret_generate() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(body: bytes | str, secret: str, *, timestamp: int | None = None) -> str:
    """The header value for `body` sent now (or at `timestamp`)."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},{SCHEME}={_digest(secret, t, _as_bytes(body))}"


def verify(header: str, body: bytes | str, secret: str, tolerance: int = DEFAULT_TOLERANCE, *,
           now: float | None = None) -> int:
    """Check `header` against the raw `body`; return the signed timestamp or raise SignatureError.

    Several v1 values are accepted (any may match), so a sender can sign with an old and a new secret
    while they are rotated. The comparison is constant-time.
    """
    if not header:
        raise SignatureError("no signature header")
    timestamp = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError("the timestamp is not a number") from None
        elif key == SCHEME:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError(f"the header needs t=... and {SCHEME}=...")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError(f"the timestamp is outside the {tolerance} s tolerance")
    expected = _digest(secret, timestamp, _as_bytes(body))
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("the signature does not match the body")
    return timestamp
