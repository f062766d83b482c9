"""Parse what Bitrix24 posts to the app (bracket-key form bodies) into typed, frozen models."""

import hmac
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from .errors import BadRequest, Unauthorized

MAX_KEYS = 10_000  # a Timepad order hook with many tickets stays far below
MAX_DEPTH = 8  # bracket levels: data[FIELDS][PHONE][0][VALUE] is 4
MAX_BODY = 2 * 1024 * 1024


def unflatten(pairs: Iterable[tuple[str, str]]) -> dict:
    """``auth[access_token]=x&data[FIELDS][ID]=1`` → nested dicts (keys 0..n-1 become lists);
    BadRequest past ``MAX_KEYS`` keys or ``MAX_DEPTH`` bracket levels."""
    out: dict = {}
    for n, (key, value) in enumerate(pairs, 1):
        if n > MAX_KEYS:
            raise BadRequest(f"more than {MAX_KEYS} form keys")
        head, _, rest = key.partition("[")
        parts = [head] + ([p.rstrip("]") for p in rest.split("[")] if rest else [])
        if len(parts) > MAX_DEPTH + 1:
            raise BadRequest(f"form key {key[:60]!r} nests deeper than {MAX_DEPTH} brackets")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[parts[-1]] = value
    return _lists(out)


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        value = {k: _lists(v) for k, v in value.items()}
        if value and list(value) == [str(i) for i in range(len(value))]:
            return list(value.values())
    return value


# Bitrix24's tokens and ids are short ASCII strings; bounding them keeps junk out of storage and logs.
Token = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z._-]{1,128}$")]
OptionalToken = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z._-]{0,128}$")]
MemberId = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{1,64}$")]
Seconds = Annotated[int, Field(ge=0, le=10**7)]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class EventAuth(Frozen):
    """The ``auth`` block of an event or ONAPPINSTALL (tokens absent for robot-made changes)."""

    domain: str
    member_id: MemberId
    application_token: Token
    client_endpoint: str = ""
    server_endpoint: str = ""
    access_token: Token | None = None
    refresh_token: Token | None = None
    expires_in: Seconds | None = None
    scope: str = ""
    user_id: str | None = None


class AppEvent(Frozen):
    """An event POST from the portal (§6.2, §1.3)."""

    event: str
    data: dict = {}
    ts: str = ""
    auth: EventAuth


class PageOpen(Frozen):
    """The POST that opens an app page or the install page in the portal's iframe (§1.2)."""

    DOMAIN: str
    PROTOCOL: str = "1"
    LANG: str = "ru"
    APP_SID: str = ""
    AUTH_ID: Token
    AUTH_EXPIRES: Seconds = 3600
    REFRESH_ID: OptionalToken = ""
    SERVER_ENDPOINT: str = ""
    APPLICATION_TOKEN: OptionalToken = ""
    APPLICATION_SCOPE: str = ""
    member_id: MemberId
    status: str = ""
    PLACEMENT: str = "DEFAULT"
    PLACEMENT_OPTIONS: str = ""


def parse(model: type[Frozen], data: dict) -> Any:
    """Validate into ``model`` or raise BadRequest naming the missing or bad fields."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        names = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        raise BadRequest(f"{model.__name__}: missing or invalid fields: {names}") from None


def check_portal(registry, member_id: str, application_token: str):
    """The installed portal whose stored application_token matches; else Unauthorized (§1.3, §6.2)."""
    portal = registry.get(member_id) if member_id and isinstance(member_id, str) else None
    if portal is None or portal.status == "uninstalled" or not application_token:
        raise Unauthorized("unknown portal (member_id) or missing application_token")
    if not hmac.compare_digest(portal.application_token.encode(), str(application_token).encode()):
        raise Unauthorized("application_token does not match this portal")
    return portal
