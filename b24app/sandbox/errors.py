"""Errors the sandbox portal answers with, in Bitrix24's error envelope (bitrix24-rest.md §2.3)."""

from typing import Any


class RestError(Exception):
    """A REST error: Bitrix ``error`` code, ``error_description`` and HTTP status, plus extra keys."""

    def __init__(self, error: Any, description: str = "", status: int = 400, **extra: Any):
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.extra = extra

    def body(self) -> dict:
        """The JSON body: ``{"error": ..., "error_description": ...}`` and any extra keys."""
        return {"error": self.error, "error_description": self.description, **self.extra}


def not_found(description: str = "Not found") -> RestError:
    """Classic CRM methods' empty-code "Not found" (400)."""
    return RestError("", description, 400)


def bad_id() -> RestError:
    """Classic CRM methods' answer to a missing or non-numeric id."""
    return RestError("", "ID is not defined or invalid.", 400)


def access_denied(description: str = "Access denied!") -> RestError:
    """403 ACCESS_DENIED."""
    return RestError("ACCESS_DENIED", description, 403)


def argument(name: str, description: str = "") -> RestError:
    """ERROR_ARGUMENT naming the bad parameter in ``argument``."""
    return RestError(
        "ERROR_ARGUMENT", description or f"Argument '{name}' is null or empty", 400, argument=name
    )


METHOD_NOT_FOUND = ("ERROR_METHOD_NOT_FOUND", "Method not found!", 404)
NO_AUTH_FOUND = ("NO_AUTH_FOUND", "Wrong authorization data", 401)
INVALID_TOKEN = ("invalid_token", "Unable to get application by token", 401)
EXPIRED_TOKEN = ("expired_token", "The access token provided has expired.", 401)
INSUFFICIENT_SCOPE = (
    "insufficient_scope",
    "The request requires higher privileges than provided by the access token",
    401,
)
WRONG_AUTH_TYPE = ("WRONG_AUTH_TYPE", "Current authorization type is denied for this method", 403)
QUERY_LIMIT_EXCEEDED = ("QUERY_LIMIT_EXCEEDED", "Too many requests", 503)
OPERATION_TIME_LIMIT = (
    "OPERATION_TIME_LIMIT",
    "Method is blocked due to operation time limit.",
    429,
)


def system(triple: tuple[str, str, int]) -> RestError:
    """A system error from one of the (code, description, status) triples above."""
    code, description, status = triple
    return RestError(code, description, status)
