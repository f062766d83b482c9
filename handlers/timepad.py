"""Timepad's webhooks (external-services.md §1.4) at ``/hooks/<key>/timepad``, answered ``{"ok": true}``.

``X-Hub-Signature: sha1=<hex HMAC-SHA1(secret phrase, raw body)>``. Two shapes arrive at one URL: the
flat ticket hook (``event_id``, ``order_id``, ``status_raw``, ``id`` = "<order>:<ticket>") and the order
hook (the API's order: ``id``, ``status{name}``, ``event{id}``, ``tickets[]``). Either names an order of an
event; the job reads that order from the API (deliveries come out of order) and schedules the event's
end-of-event sync the first time the event is seen.
"""

import hashlib
import hmac
import json
import re
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from b24app.errors import BadRequest
from b24app.timepad.sync import hook_job

from . import Source, Work

Id = Field(gt=0, lt=10**12)


def signature(raw: bytes, secret: str) -> str:
    """``sha1=<hex>`` of the raw body, as Timepad signs it."""
    return "sha1=" + hmac.new(secret.encode(), raw, hashlib.sha1).hexdigest()


def verify(raw: bytes, headers: Mapping[str, str], secret: str) -> bool:
    """The X-Hub-Signature matches (constant time)."""
    given = headers.get("X-Hub-Signature", "").strip().lower()
    return hmac.compare_digest(given.encode("ascii", "replace"), signature(raw, secret).encode())


class Lenient(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    @field_validator("*", mode="before")
    @classmethod
    def digits(cls, value):
        """Ids come as numbers in the API and as strings in the flat hook."""
        return (
            int(value)
            if isinstance(value, str) and value.strip().isdigit() and len(value) < 13
            else value
        )


class TicketHook(Lenient):
    """The flat ticket hook (§1.4 a)."""

    event_id: int = Id
    order_id: int = Id
    status_raw: str = Field(max_length=40, pattern=r"^[a-z_]+$")
    id: str = Field(default="", max_length=60)


class EventRef(Lenient):
    id: int = Id


class OrderStatus(Lenient):
    name: str = Field(max_length=40, pattern=r"^[a-z_]+$")


class OrderHook(Lenient):
    """The order hook (§1.4 b): the API's order object."""

    id: int = Id
    event: EventRef
    status: OrderStatus
    tickets: list[dict] = Field(default_factory=list, max_length=1000)


def parse(raw: bytes, headers: Mapping[str, str], kind: str) -> Work:
    """Either shape → the order to read and apply; BadRequest naming what is wrong."""
    data = body_of(raw)
    model = OrderHook if "tickets" in data or isinstance(data.get("event"), dict) else TicketHook
    try:
        hook = model.model_validate(data)
    except ValidationError as exc:
        names = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])} ({e['msg'][:60]})" for e in exc.errors()[:8]
        )
        raise BadRequest(f"timepad: invalid fields: {names}") from None
    if isinstance(hook, OrderHook):
        event_id, order_id, status, ticket = hook.event.id, hook.id, hook.status.name, "order"
    else:
        ticket = "t" + re.sub(
            r"[^0-9]+", "_", hook.id
        )  # "<order>:<ticket>" into a job id's alphabet
        event_id, order_id, status = hook.event_id, hook.order_id, hook.status_raw
    delivery = f"{event_id}-{order_id}-{ticket}-{status}"
    return Work(delivery, hook_job, {"event_id": event_id, "order_id": order_id, "status": status})


def body_of(raw: bytes) -> dict:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"timepad: the body is not UTF-8 JSON ({str(exc)[:80]})") from None
    if not isinstance(data, dict):
        raise BadRequest("timepad: the body must be a JSON object")
    return data


GUIDE = (
    "В настройках организации на Timepad («Настройки» → «API и вебхуки») вставьте адрес из таблицы ниже в "
    "«Ссылка для уведомления» и ту же секретную фразу, что в поле «Timepad: секрет подписи вебхуков» здесь. "
    "Токен API (с правом view_visitors) и ID организации впишите в поля Timepad ниже. Когда мероприятие "
    "закончится, участники попадут в CRM сами; «Синхронизировать мероприятия Timepad» повторит это вручную.",
    "In the Timepad organisation settings (Settings → API and webhooks) put the address from the table below "
    "into «Ссылка для уведомления» and the same secret phrase as «Timepad: webhook signing secret» here. "
    "Enter the API token (with view_visitors) and the organisation id into the Timepad fields below. When an "
    "event ends its participants reach the CRM by themselves; «Sync Timepad events» does it by hand.",
)
SOURCE = Source("timepad", "timepad_secret", (), verify, parse, lambda: {"ok": True}, GUIDE)
