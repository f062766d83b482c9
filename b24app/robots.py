"""Robots (bitrix24-rest.md §5): a robot's frozen spec, the call the portal posts to it (§5.2) as a frozen
model, the call's confirmation, and the run's one answer (``bizproc.event.send``, §5.3).

A call is believed only when its ``member_id`` and ``application_token`` are the stored ones and its
``auth[access_token]`` is confirmed at the portal's OAuth server (every user's page receives the
application token, so it alone proves nothing). The run is queued under the call's ``event_token`` and
answered once: the answer's state is kept per token, and a re-sent answer after a crash is harmless
because the portal closes the step at the first one and refuses the token afterwards (ACCESS_DENIED).
"""

import functools
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import StringConstraints

from . import context
from .bitrix import BitrixError
from .errors import BadRequest, Unauthorized
from .inbound import Frozen, MemberId, OptionalToken, Token, parse
from .jobs import portal_job
from .portals import Portal, portal_key
from .queue import URGENT, enqueue_once
from .template.items import Label

log = logging.getLogger(__name__)
CONFIRMED_TTL = 300  # seconds a confirmed access token is believed without asking again
ANSWER_KEEP = 7 * 86400
EventToken = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z._|-]{1,512}$")]
DocumentPart = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_\\]{1,128}$")]


@dataclass(frozen=True)
class Property:
    """A robot property or return value: its label, Bitrix24 type, default and (select) options."""

    name: Label
    type: str = "string"  # bool, date, datetime, double, int, select, string, text, user
    default: str = ""
    options: tuple[tuple[str, Label], ...] = ()
    required: bool = False

    def registration(self) -> dict:
        out: dict[str, Any] = {"Name": self.name.as_map(), "Type": self.type,
                               "Required": "Y" if self.required else "N", "Multiple": "N"}  # fmt: skip
        if self.default != "":
            out["Default"] = self.default
        if self.options:
            out["Options"] = {code: label.ru for code, label in self.options}
        return out

    def value(self, key: str, raw: Any) -> Any:
        """The typed value of a property as the portal sent it; BadRequest naming ``key`` otherwise."""
        text = str(raw if raw not in (None, "") else self.default).strip()
        try:
            if self.type == "int":
                return int(Decimal(text or "0"))
            if self.type == "double":
                return Decimal(text or "0")
        except (InvalidOperation, ValueError):
            raise BadRequest(f"property {key} must be a number, not {text[:40]!r}") from None
        if self.options and text not in dict(self.options):
            raise BadRequest(f"property {key} must be one of {', '.join(dict(self.options))}")
        return text


@dataclass(frozen=True)
class Robot:
    """One robot: its code, name and description, properties, return values, and its job
    ``job(member_id, call_json)`` (wrapped by ``robot_job``)."""

    code: str
    name: Label
    description: Label
    properties: tuple[tuple[str, Property], ...]
    returns: tuple[tuple[str, Property], ...]
    job: Callable[..., Any]
    pipeline: str = (
        ""  # the template pipeline and stage it belongs on (placing it is a person's click)
    )
    stage: str = ""
    documents: tuple[str, ...] = ("CCrmDocumentDeal",)  # where the automation designer offers it

    def registration(self, public_url: str) -> dict:
        """``bizproc.robot.add`` params (§5.1)."""
        return {"CODE": self.code, "HANDLER": f"{public_url.rstrip('/')}/robots/{self.code}",
                "AUTH_USER_ID": 1, "USE_SUBSCRIPTION": "Y", "NAME": self.name.as_map(),
                "DESCRIPTION": self.description.as_map(),
                "PROPERTIES": {k: p.registration() for k, p in self.properties},
                "RETURN_PROPERTIES": {k: p.registration() for k, p in self.returns},
                "DOCUMENT_TYPE": ["crm", "CCrmDocumentDeal", "DEAL"],
                "FILTER": {"INCLUDE": [["crm", d] for d in self.documents]}}  # fmt: skip

    def values(self, call: "RobotCall") -> dict[str, Any]:
        """The call's properties typed by the spec (missing ones take their default)."""
        return {k: p.value(k, call.properties.get(k)) for k, p in self.properties}


class RobotAuth(Frozen):
    """The ``auth`` block of a robot call (§5.2): the access token is required."""

    domain: str
    member_id: MemberId
    application_token: Token
    access_token: Token
    client_endpoint: str = ""
    server_endpoint: str = ""
    user_id: str = ""
    refresh_token: OptionalToken = ""


class RobotCall(Frozen):
    """What the portal posts to a robot's handler (§5.2)."""

    code: str
    workflow_id: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z._-]{1,128}$")]
    event_token: EventToken
    document_id: tuple[DocumentPart, DocumentPart, DocumentPart]
    properties: dict[str, str] = {}
    use_subscription: str = "Y"
    timeout_duration: str = "0"
    ts: str = ""
    auth: RobotAuth

    @property
    def entity(self) -> tuple[str, int]:
        """(entity kind lower-case, id) of the document: ``DEAL_12`` → ("deal", 12)."""
        kind, _, number = self.document_id[2].rpartition("_")
        if not number.isdigit():
            raise BadRequest(f"document_id {self.document_id[2]!r} names no record")
        return kind.lower(), int(number)

    @property
    def answer_expected(self) -> bool:
        return self.use_subscription.upper() != "N"


def parse_call(form: dict) -> RobotCall:
    """The form as a RobotCall, or BadRequest naming what is missing or bad."""
    if isinstance(form.get("properties"), list):
        form = {**form, "properties": {}}
    return parse(RobotCall, form)


def confirm_call(
    portal: Portal, call: RobotCall, confirm: Callable[[Portal, str, str], Any]
) -> None:
    """The call's access token confirmed at the portal's OAuth server (``confirm``: the install
    lifecycle's own check), remembered a few minutes by its digest; Unauthorized otherwise."""
    redis = context.redis()
    digest = hashlib.sha256(call.auth.access_token.encode()).hexdigest()
    remembered = portal_key(portal.member_id, "robots", "confirmed", digest)
    if redis.get(remembered) == portal.install_id.encode():
        return
    info = confirm(portal, call.auth.access_token, call.auth.domain)
    if info.member_id != portal.member_id:
        raise Unauthorized("the access token belongs to another portal")
    redis.set(remembered, portal.install_id, ex=CONFIRMED_TTL)


def queue_call(member_id: str, robot: Robot, call: RobotCall) -> bool:
    """Queue the robot's job once per event_token (urgent queue); False when it was queued already."""
    job_id = f"robot-{member_id}-{hashlib.sha256(call.event_token.encode()).hexdigest()[:24]}"
    redis, seen = context.redis(), portal_key(member_id, "robots", "call", job_id)
    if redis.exists(seen):
        return False
    enqueue_once(redis, URGENT, job_id, robot.job, member_id, call.model_dump(mode="json"))
    redis.set(seen, 1, ex=ANSWER_KEEP)
    return True


def robot_job(robot_code: str):
    """Decorator of a robot's work ``fn(member_id, call) → return values``: a portal job that answers
    the run once through ``bizproc.event.send`` (when the portal waits for an answer)."""

    def wrap(fn: Callable[[str, RobotCall], dict]) -> Callable[[str, dict], str]:
        @portal_job
        @functools.wraps(fn)
        def job(member_id: str, call_json: dict) -> str:
            call = RobotCall.model_validate(call_json)
            values = fn(member_id, call)
            return answer(member_id, call, values)

        return job

    return wrap


def answer(member_id: str, call: RobotCall, values: dict[str, Any]) -> str:
    """``bizproc.event.send`` once per event_token; a run the portal no longer waits for is left."""
    if not call.answer_expected:
        return "answer not expected"
    redis = context.redis()
    key = portal_key(
        member_id, "robots", "answer", hashlib.sha256(call.event_token.encode()).hexdigest()
    )
    if redis.get(key) == b"sent":
        return "answered already"
    redis.set(key, "sending", ex=ANSWER_KEEP)
    text = {k: "" if v is None else str(v) for k, v in values.items()}
    try:
        context.client(member_id).call("bizproc.event.send", {"EVENT_TOKEN": call.event_token,
                                                               "RETURN_VALUES": text,
                                                               "LOG_MESSAGE": log_message(text)})  # fmt: skip
    except BitrixError as exc:
        if exc.code != "ACCESS_DENIED":
            raise
        log.info(
            "portal %s: robot %s run closed before its answer (%s)", member_id, call.code, exc.code
        )
    redis.set(key, "sent", ex=ANSWER_KEEP)
    return f"answered {text}"


def log_message(values: dict[str, str]) -> str:
    return "Благо24: " + ", ".join(f"{k}={v}" for k, v in values.items())
