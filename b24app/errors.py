"""The app's error tree.

Blago24Error
├── InboundError            (has .status: what we answer the sender)
│   ├── BadRequest          400: unparsable or incomplete input, named in the message
│   ├── Unauthorized        401: a signature, token, application_token or member_id not confirmed
│   ├── Forbidden           403: a confirmed user who may not do this (not a portal admin)
│   ├── NotFound            404: no such URL for this app (an unknown portal key, source or file)
│   └── Unavailable         503: a dependency (the portal) cannot be reached now
├── BitrixError             outbound REST errors: their own tree in bitrix.py
├── PortalBusy              ratelimit.py: the portal's limit would keep a job waiting; ``retry_at``
├── PortalNotFound          portals.py: the portal is not (or no longer) installed
├── IdentityBusy            matching/intake.py: another intake holds the person's lock (RQ retries)
└── ScanRunning             matching/scanrun.py: a duplicate scan already runs for the portal
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


class Forbidden(InboundError):
    status = 403


class NotFound(InboundError):
    status = 404


class Unavailable(InboundError):
    status = 503
