"""The app's error tree.

Blago24Error
├── InboundError            (has .status: what we answer the sender)
│   ├── BadRequest          400: unparsable or incomplete input, named in the message
│   └── Unauthorized        401: a signature, application_token or member_id that does not match
└── (outbound Bitrix24 errors arrive with the REST facade)
"""


class Blago24Error(Exception):
    """Root of every error the app raises on purpose."""


class InboundError(Blago24Error):
    """A request we refuse; ``status`` is the HTTP answer."""

    status = 400


class BadRequest(InboundError):
    status = 400


class Unauthorized(InboundError):
    status = 401


class Unavailable(InboundError):
    status = 503
