"""HMAC signing and verification: short-lived tokens for the app's own pages (auth + CSRF in one)."""

import base64
import hashlib
import hmac
import json
import time


class BadSignature(ValueError):
    """The token was forged, altered, expired or made for another purpose."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: str, purpose: str, payload: dict, ttl: int = 3600) -> str:
    """A token carrying ``payload`` for ``purpose``, valid for ``ttl`` seconds."""
    body = _b64(json.dumps({**payload, "_p": purpose, "_exp": int(time.time()) + ttl}).encode())
    mac = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def verify(secret: str, purpose: str, token: str) -> dict:
    """The payload (with its ``_exp``) of a token made by ``sign`` for ``purpose``; raises BadSignature (and nothing else)
    for any other string: forged, truncated, expired, foreign, or not even ASCII."""
    body, _, mac = (token if isinstance(token, str) else "").partition(".")
    expected = _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())
    if not body or not hmac.compare_digest(mac.encode(), expected.encode()):
        raise BadSignature("signature mismatch")
    try:
        payload = json.loads(_unb64(body))
    except (
        ValueError
    ):  # cannot happen for a body we signed; kept so no input can raise anything else
        raise BadSignature("unreadable token") from None
    if not isinstance(payload, dict) or payload.pop("_p", None) != purpose:
        raise BadSignature("token made for another purpose")
    if not isinstance(payload.get("_exp"), int) or payload["_exp"] < time.time():
        raise BadSignature("token expired")
    return payload


def peek(token: str, limit: int = 4096) -> dict:
    """A token's payload unverified (only to find whose secret verifies it); {} for anything unreadable."""
    body = (token if isinstance(token, str) else "").partition(".")[0][:limit]
    try:
        payload = json.loads(_unb64(body))
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}
