"""The signature on every delivery, and its check (copy `verify` into a receiver).

Header `Hitl-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of f"{t}.{body}" under the secret>`, as
Stripe signs its webhooks: the timestamp inside the signed text stops an old request being replayed
later, and a receiver may see several `v1=` (one per secret while a secret is rotated).
"""
from __future__ import annotations

import hashlib
import hmac
import time


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The `Hitl-Signature` header value for `body` sent at `timestamp` (now by default)."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify(secret: str, header: str, body: bytes | str, tolerance: int = 300, now: float | None = None) -> bool:
    """True if `header` (the `Hitl-Signature` value) signs `body` (the raw request body, as received) with
    `secret`, and its timestamp is within `tolerance` seconds of `now`."""
    if isinstance(body, str):
        body = body.encode()
    timestamp, candidates = None, []
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
