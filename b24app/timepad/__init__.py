"""Timepad events (product.md C6, external-services.md §1): events, orders and tickets read leniently into
frozen models, and the rules that turn tickets into a participation stage.

Stages of «Участие в мероприятиях» by their template codes: NEW «Зарегистрирован», B24_PAID «Оплачено»,
SUCCESS «Посетил», FAIL «Не пришёл», B24_CANCELLED «Отменён».
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ..matching.contacts import normalise_email, normalise_phone

MOSCOW = ZoneInfo(
    "Europe/Moscow"
)  # Timepad's times without an offset (hook reg_date) are Moscow's [U]
REGISTERED, PAID, ATTENDED, ABSENT, CANCELLED = (
    "NEW",
    "B24_PAID",
    "SUCCESS",
    "FAIL",
    "B24_CANCELLED",
)
CANCELLED_STATUSES = {"notpaid", "inactive", "rejected", "deleted", "blocked", "return_org", "return_tp",
                      "returned"}  # fmt: skip
PAID_STATUSES = {"paid", "paid_offline", "paid_ur", "transfer_payment", "return_payment_request",
                 "return_payment_reject"}  # fmt: skip
BOOKED_STATUSES = {"booked", "booked_offline", "pending", "ok"}
RANK = {ATTENDED: 4, PAID: 3, REGISTERED: 2, ABSENT: 1, CANCELLED: 0}  # the best outcome wins
STAGE_NAMES = {REGISTERED: "Зарегистрирован", PAID: "Оплачено", ATTENDED: "Посетил", ABSENT: "Не пришёл",
               CANCELLED: "Отменён"}  # fmt: skip
_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")


def parse_time(value: object) -> datetime | None:
    """A Timepad time, leniently: ``2024-05-20T19:00:00+0300`` (no colon), ``+03:00``, ``Z``, a space for
    the ``T``, no offset (Moscow); None for a missing or unreadable one."""
    if not isinstance(value, str) or not value.strip() or len(value) > 40:
        return None
    text = _OFFSET.sub(r"\1:\2", value.strip().replace("Z", "+00:00"))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=MOSCOW)


@dataclass(frozen=True)
class Event:
    """A Timepad event: id, name, start, end (None when Timepad has none) and its organisation."""

    id: int
    name: str
    starts_at: datetime | None
    ends_at: datetime | None = None
    organization_id: int = 0

    def end(self, end_hours: float) -> datetime | None:
        """When the event is over: ``ends_at``, else ``starts_at`` plus ``end_hours``."""
        if self.ends_at is not None:
            return self.ends_at
        return self.starts_at + timedelta(hours=end_hours) if self.starts_at else None

    @classmethod
    def of(cls, data: dict) -> "Event":
        """From the API's EventResponse (§1.3), unknown keys ignored."""
        org = data.get("organization") if isinstance(data.get("organization"), dict) else {}
        return cls(_int(data.get("id")), str(data.get("name") or "")[:300], parse_time(data.get("starts_at")),
                   parse_time(data.get("ends_at")), _int(org.get("id")))  # fmt: skip

    def as_json(self) -> dict:
        return {"id": self.id, "name": self.name, "organization": {"id": self.organization_id},
                "starts_at": self.starts_at.isoformat() if self.starts_at else None,
                "ends_at": self.ends_at.isoformat() if self.ends_at else None}  # fmt: skip


@dataclass(frozen=True)
class Ticket:
    """One ticket as a participant: whose (answers), its status and whether it was checked in."""

    id: str
    order_id: str
    status: str
    email: str
    first: str
    last: str
    phone: str
    attended: bool

    @property
    def identity(self) -> str:
        """What tells one person's tickets apart from another's: the e-mail, else names and phone."""
        if mailbox := normalise_email(self.email):
            return f"e:{mailbox}"
        phone = normalise_phone(self.phone) or ""
        return f"n:{self.last.strip().lower()}|{self.first.strip().lower()}|{phone}"

    def as_json(self) -> dict:
        return dict(self.__dict__)


def tickets_of(order: dict) -> list[Ticket]:
    """The tickets of an API order (§1.3): the order's status, a ticket's own ``status_raw_name`` if given;
    names and e-mail from the ticket's answers, else the order's."""
    status = order.get("status")
    status = str((status.get("name") if isinstance(status, dict) else status) or "").lower()[:40]
    order_answers = order.get("answers") if isinstance(order.get("answers"), dict) else {}
    out = []
    tickets = order.get("tickets") if isinstance(order.get("tickets"), list) else []
    for ticket in tickets[:1000]:
        if not isinstance(ticket, dict):
            continue
        answers = ticket.get("answers") if isinstance(ticket.get("answers"), dict) else {}
        answers = {
            k: _text(answers.get(k)) or _text(order_answers.get(k))
            for k in ("mail", "name", "surname", "phone")
        }
        pick = answers.__getitem__
        attendance = ticket.get("attendance") if isinstance(ticket.get("attendance"), dict) else {}
        own = _text(ticket.get("status_raw_name")).lower()
        out.append(Ticket(str(_int(ticket.get("id"))), str(_int(order.get("id"))), own or status,
                          pick("mail") or _text(order.get("mail")), pick("name"), pick("surname"),
                          pick("phone"), bool(attendance.get("starts_at")) or ticket.get("attended") is True))  # fmt: skip
    return out


def used_checkin(tickets: Iterable[Ticket]) -> bool:
    """Whether the event used check-in: at least one ticket was checked in."""
    return any(t.attended for t in tickets)


def stage_of(ticket: Ticket, ended: bool, checkin: bool) -> str:
    """The participation stage one ticket earns (issue 16's table)."""
    if ticket.status in CANCELLED_STATUSES:
        return CANCELLED
    if ended and checkin:
        return ATTENDED if ticket.attended else ABSENT
    if ticket.status in PAID_STATUSES:
        return PAID
    return REGISTERED  # booked, booked_offline, pending, ok (and a status Timepad adds later)


def best_stage(stages: Iterable[str]) -> str:
    """A person's one outcome from several tickets: Посетил > Оплачено > Зарегистрирован > Не пришёл >
    Отменён."""
    return max(stages, key=RANK.__getitem__, default=CANCELLED)


def counts_as_visit(stage: str, ended: bool, checkin: bool) -> bool:
    """Whether the participation counts in «Мероприятия: посещено»: checked in, or a past event without
    check-in where the person was paid or registered."""
    return stage == ATTENDED or (ended and not checkin and stage in (PAID, REGISTERED))


def _int(value: object) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value if 0 <= value < 10**15 else 0
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 16:
        return int(value.strip())
    return 0


def _text(value: object, limit: int = 200) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""
