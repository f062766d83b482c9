"""The fault matrix: FLOWS × FAULTS, each cell one run of a flow with one fault injected by the sandbox
portal into the flow's own write request, then every job drained; the cell passes when what the flow
made is in the portal exactly once. ``docs/faults.md`` is written from RESULTS (tests/faults/conftest.py).

A flow is a small class: ``target`` (the URL method and, for a batch, the command whose request the
fault hits), ``prepare`` (once per module: its portal), ``trigger`` (cell ``n``: make the work and
start it; returns what to look for) and ``check`` (asserts exactly once; returns the outcome in words).
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import quote

import requests

from b24app import context

TIMEOUT = 1.0  # the REST client's timeout inside the matrix (bitrix.TIMEOUT is 65 s)


@dataclass(frozen=True)
class Fault:
    """One way a portal request goes wrong, as a sandbox fault plan (docs/sandbox.md)."""

    name: str
    what: str
    plan: dict


FAULTS = [
    Fault("503", "503 Service Unavailable, twice", {"error": "SERVICE_UNAVAILABLE", "status": 503, "count": 2}),
    Fault("429", "429 QUERY_LIMIT_EXCEEDED, twice", {"error": "QUERY_LIMIT_EXCEEDED", "status": 429, "count": 2}),
    Fault("401", "401 expired_token (the token is refreshed)", {"error": "expired_token", "status": 401,
                                                                 "description": "The access token provided has expired."}),
    Fault("500", "500 INTERNAL_SERVER_ERROR (not applied)", {"error": "INTERNAL_SERVER_ERROR", "status": 500}),
    Fault("timeout", "applied, answer held past the client's timeout", {"lost": "timeout", "hold": TIMEOUT + 0.5}),
    Fault("lost", "applied, connection closed (answer lost)", {"lost": "close"}),
]  # fmt: skip
BY_FAULT = {f.name: f for f in FAULTS}

RESULTS: dict[tuple[str, str], str] = {}  # (flow, fault) → outcome in words, or "FAILED: …"


def every(portal, method: str, params: dict, items: bool = False) -> list[dict]:
    """Every row of a list method, page by page."""
    rows, start = [], 0
    while True:
        answer = portal.call(method, {**params, "start": start})
        rows += answer.result["items"] if items else answer.result
        if "next" not in answer.body:
            return rows
        start = answer.body["next"]


def by_email(portal, email: str) -> list[dict]:
    return portal.result(
        "crm.contact.list", {"filter": {"EMAIL": email}, "select": ["*", "UF_*", "EMAIL"]}
    )


def category(portal, name: str) -> int:
    rows = portal.result("crm.category.list", {"entityTypeId": 2})["categories"]
    return next(int(c["id"]) for c in rows if c["name"] == name)


# --- flows ---------------------------------------------------------------------------------------------

CP_SECRET = "8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d"
LEYKA_SECRET = "leyka-bridge-test-secret-3f9a1c7e5b2d"
TIMEPAD_SECRET, TIMEPAD_TOKEN = "timepad-test-secret-7c1e9a", "timepad-api-token-0123456789"
SENDER = "Фонд «Добро» <hello@dobro.example>"


class Flow:
    name = ""
    what = ""
    target: tuple[str, str | None] = ("batch", None)
    clocked = False  # the drain moves a controlled clock to scheduled jobs instead of pulling them

    def __init__(self, lab):
        self.lab = lab
        self.portal = lab.portal(self.name)
        self.prepare()

    def prepare(self) -> None:
        pass

    def settings(self, **values) -> None:
        with context.registry().change(self.portal.member_id) as record:
            record.settings.update(values)

    @property
    def key(self) -> str:
        return context.registry().require(self.portal.member_id).key


def pay_body(invoice: str, email: str, name: str) -> bytes:
    """A CloudPayments Pay (Completed) of 500.00 by ``name`` <``email``>."""
    fields = {"TransactionId": str(10**8 + int(invoice)), "Amount": "500.00", "Currency": "RUB",
              "InvoiceId": invoice, "AccountId": email, "Email": email, "DateTime": "2024-03-14 09:41:05",
              "TestMode": "0", "Status": "Completed", "CardFirstSix": "220220", "CardLastFour": "4242",
              "OperationType": "Payment", "Data": json.dumps({"name": name}, ensure_ascii=False)}  # fmt: skip
    return "&".join(f"{k}={quote(v, safe='')}" for k, v in fields.items()).encode()


SURNAMES = ["Абрамова", "Белова", "Воронова", "Галкина", "Данилова", "Ершова", "Жукова", "Зайцева",
            "Ильина", "Королёва", "Лебедева", "Морозова", "Новикова", "Орлова", "Павлова", "Романова"]  # fmt: skip


def donor(flow: str, n: int) -> tuple[str, str]:
    """A distinct donor per cell: (e-mail, «Имя Фамилия»)."""
    return f"{flow}.{n}@example.org", f"Анна {SURNAMES[n % len(SURNAMES)]}"


class CloudPayments(Flow):
    name, what = "cloudpayments", "a signed Pay → one deal, one donor"
    target = ("batch", "crm.deal.add")

    def prepare(self) -> None:
        self.settings(cloudpayments_secret=CP_SECRET)

    def deliver(self, raw: bytes) -> None:
        from handlers.cloudpayments import sign

        headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(raw, CP_SECRET)}
        answer = requests.post(f"{self.lab.app.url}/hooks/{self.key}/cloudpayments/pay", data=raw,
                               headers=headers, timeout=15)  # fmt: skip
        assert answer.json() == {"code": 0}, answer.text

    def trigger(self, n: int) -> tuple[str, str]:
        email, name = donor(self.name, n)
        invoice = str(50_000 + n)
        raw = pay_body(invoice, email, name)
        self.deliver(raw)
        self.deliver(raw)  # CloudPayments repeats: the repeat queues nothing
        return f"cp:{invoice}", email

    def check(self, made: tuple[str, str]) -> str:
        key, email = made
        deals = self.portal.result("crm.deal.list", {"filter": {"UF_CRM_B24_PAYMENT_ID": key},
                                                     "select": ["ID", "STAGE_ID", "OPPORTUNITY", "CONTACT_ID"]})  # fmt: skip
        contacts = by_email(self.portal, email)
        assert len(deals) == 1 and len(contacts) == 1, (deals, contacts)
        [deal] = deals
        assert deal["STAGE_ID"].endswith(":WON") and Decimal(deal["OPPORTUNITY"]) == Decimal(
            "500.00"
        ), deal
        assert deal["CONTACT_ID"] == contacts[0]["ID"]
        return "1 deal (Успешно, 500.00), 1 donor"


class Leyka(CloudPayments):
    name, what = "leyka", "a signed bridge post (funded) → one deal, one donor"

    def prepare(self) -> None:
        self.settings(leyka_secret=LEYKA_SECRET)

    def trigger(self, n: int) -> tuple[str, str]:
        from handlers.leyka import sign

        email, name = donor(self.name, n)
        lid = 60_000 + n
        body = {"event": "donation.status_changed", "site": "https://fond-example.ru", "delivery_id": f"d-{lid}",
                "changed_at": "2026-03-14T12:41:09+03:00",
                "donation": {"id": lid, "status": "funded", "amount": "500.00", "currency": "RUB",
                             "payment_type": "single", "init_recurring_donation_id": 0, "recurring_active": False,
                             "gateway_id": "other", "pm_id": "card", "campaign_id": 41, "campaign_title": "Уставная",
                             "donor_name": name, "donor_email": email, "donor_phone": "",
                             "date_created": "2026-03-14T12:41:05+03:00", "cp_transaction_id": "",
                             "cp_recurring_id": "", "error_id": ""}}  # fmt: skip
        raw = json.dumps(body, ensure_ascii=False).encode()
        for _ in range(2):  # the plugin retries from WP-cron until it gets a 2xx
            answer = requests.post(f"{self.lab.app.url}/hooks/{self.key}/leyka", data=raw, timeout=15,
                                   headers={"Content-Type": "application/json", **sign(raw, LEYKA_SECRET)})  # fmt: skip
            assert answer.status_code == 200, answer.text
        return f"leyka:{lid}", email


class Letters(CloudPayments):
    name, what = "letters", "a first gift's welcome letter (bitrix24 channel) → one letter"
    target = ("crm.activity.add", None)

    def prepare(self) -> None:
        self.portal.control("PATCH", "", json={"mailboxes": ["hello@dobro.example"]})
        self.settings(
            cloudpayments_secret=CP_SECRET, letter_sender=SENDER, letter_channel="bitrix24"
        )

    def check(self, made: tuple[str, str]) -> str:
        super().check(made)
        letters = [m for m in self.portal.control("GET", "/outbox") if made[1] in str(m["to"])]
        assert len(letters) == 1, letters
        return "1 letter in the outbox, 1 deal"


class Timepad(Flow):
    name, what = (
        "timepad",
        "an event's sync, 3 participants → one contact and one participation each",
    )
    target = ("batch", "crm.item.add")
    PEOPLE = 3

    def prepare(self) -> None:
        self.org = self.timepad(
            "POST", "/organizations", json={"name": "Центр", "token": TIMEPAD_TOKEN}
        )
        self.settings(timepad_secret=TIMEPAD_SECRET, timepad_token=TIMEPAD_TOKEN,
                      timepad_organization_id=str(self.org["id"]))  # fmt: skip
        ids = context.registry().require(self.portal.member_id).settings["template_ids"]
        self.etid = ids["smart_processes"]["B24_PARTICIPATION"]["entityTypeId"]

    def timepad(self, verb: str, path: str, **kw):
        answer = requests.request(
            verb, f"{self.lab.sandbox.url}/_sandbox/timepad{path}", timeout=60, **kw
        )
        assert answer.status_code < 300, answer.text
        return answer.json()

    def trigger(self, n: int) -> tuple[int, list[str]]:
        from b24app.timepad.sync import start_sync

        now = datetime.now(UTC)
        event = self.timepad("POST", "/events", json={"organization_id": self.org["id"], "name": f"Лекция {n}",
                                                      "starts_at": (now - timedelta(hours=5)).isoformat(),
                                                      "ends_at": (now - timedelta(hours=3)).isoformat()})  # fmt: skip
        emails = [f"tp{n}.{i}@example.org" for i in range(self.PEOPLE)]
        orders = [{"status": "paid", "tickets": [{"name": "Пётр", "surname": f"{SURNAMES[i]}{n}", "mail": m,
                                                  "attended": True}]} for i, m in enumerate(emails)]  # fmt: skip
        self.timepad("POST", f"/events/{event['id']}/orders", json={"orders": orders})
        assert start_sync(context.redis(), self.portal.member_id, event["id"])
        return event["id"], emails

    def check(self, made: tuple[int, list[str]]) -> str:
        event_id, emails = made
        contacts = [by_email(self.portal, e) for e in emails]
        assert all(len(c) == 1 for c in contacts), contacts
        ids = {int(c[0]["ID"]) for c in contacts}
        items = every(self.portal, "crm.item.list", {"entityTypeId": self.etid,
                                                     "filter": {"@contactId": sorted(ids)}}, items=True)  # fmt: skip
        assert sorted(int(i["contactId"]) for i in items) == sorted(ids), items
        return f"{self.PEOPLE} contacts, {self.PEOPLE} participations"


class Totals(Flow):
    name, what = "totals", "a full totals recompute → the donor's sum and count right"
    target = ("batch", "crm.contact.update")

    def prepare(self) -> None:
        self.pipeline = category(self.portal, "Электронные пожертвования")

    def trigger(self, n: int) -> tuple[int, str]:
        from b24app.donations.recompute import start_recompute

        contact = self.portal.result(
            "crm.contact.add",
            {"fields": {"NAME": "Ольга", "LAST_NAME": SURNAMES[n % len(SURNAMES)]}},
        )
        for amount in ("100.00", "250.50"):
            self.portal.result("crm.deal.add", {"fields": {
                "TITLE": "Пожертвование", "CATEGORY_ID": self.pipeline, "STAGE_ID": f"C{self.pipeline}:WON",
                "OPPORTUNITY": amount, "CURRENCY_ID": "RUB", "CONTACT_ID": contact, "CLOSEDATE": "2025-06-01"}})  # fmt: skip
        self.lab.drain()
        assert start_recompute(context.redis(), self.portal.member_id)
        return int(contact), "350.50|RUB"

    def check(self, made: tuple[int, str]) -> str:
        contact_id, total = made
        contact = self.portal.result("crm.contact.get", {"id": contact_id})
        assert (
            contact["UF_CRM_B24_GIFTS_SUM"] == total
            and str(contact["UF_CRM_B24_GIFTS_COUNT"]) == "2"
        ), contact
        return "sum 350.50, 2 gifts"


class DuplicateScan(Flow):
    name, what = (
        "dedup",
        "the duplicate scan with merging on → the pair merged once, e-mails kept once",
    )
    target = ("batch", "crm.entity.mergebatch")

    def trigger(self, n: int) -> tuple[list[int], str]:
        from b24app.matching.scanrun import start_scan

        surname, ids = f"Петров{SURNAMES[n % len(SURNAMES)][:-1]}", []
        for post, emails in (
            ("Бухгалтер", [f"s{n}@x.ru"]),
            ("Директор", [f"s{n}@x.ru", f"l{n}@x.ru"]),
        ):
            fields = {"NAME": "Иван", "LAST_NAME": surname, "POST": post,
                      "EMAIL": [{"VALUE": e, "VALUE_TYPE": "WORK"} for e in emails]}  # fmt: skip
            ids.append(int(self.portal.result("crm.contact.add", {"fields": fields})))
        assert start_scan(context.redis(), self.portal.member_id, "apply")
        return ids, surname

    def check(self, made: tuple[list[int], str]) -> str:
        ids, surname = made
        alive = self.portal.result(
            "crm.contact.list", {"filter": {"LAST_NAME": surname}, "select": ["ID", "EMAIL"]}
        )
        assert len(alive) == 1, alive
        emails = sorted(e["VALUE"] for e in alive[0].get("EMAIL") or [])
        assert len(emails) == len(set(emails)) == 2, emails
        return "2 contacts → 1, its 2 e-mails once each"


class DealMerge(Flow):
    name, what = "deal-merge", "merging old duplicate deals → one deal per payment, one comment"
    target = ("batch", "crm.entity.mergebatch")

    def prepare(self) -> None:
        self.pipeline = category(self.portal, "Электронные пожертвования")

    def trigger(self, n: int) -> str:
        from b24app.donations import duplicates

        key = f"cp:old-{n}"
        for stage in ("NEW", "WON"):
            self.portal.result("crm.deal.add", {"fields": {
                "TITLE": f"Платёж {n}: {stage}", "CATEGORY_ID": self.pipeline, "STAGE_ID": f"C{self.pipeline}:{stage}",
                "OPPORTUNITY": "500.00", "CURRENCY_ID": "RUB", "UF_CRM_B24_PAYMENT_ID": key}})  # fmt: skip
        redis, member = context.redis(), self.portal.member_id
        assert duplicates.start(redis, member, "proposing")
        self.lab.drain()
        assert duplicates.start(redis, member, "merging")
        return key

    def check(self, key: str) -> str:
        deals = self.portal.result(
            "crm.deal.list",
            {"filter": {"UF_CRM_B24_PAYMENT_ID": key}, "select": ["ID", "STAGE_ID"]},
        )
        assert len(deals) == 1 and deals[0]["STAGE_ID"].endswith(":WON"), deals
        comments = self.portal.result("crm.timeline.comment.list", {"filter": {"ENTITY_TYPE": "deal",
                                                                               "ENTITY_ID": deals[0]["ID"]}})  # fmt: skip
        assert len(comments) == 1, comments
        return "2 deals → 1 (Успешно), 1 comment"


LESSON_DATES = "B24_LESSON_DATES"
REMINDER_ROBOT = "blago24_lesson_reminder"


def course(portal, name: str, lesson: datetime) -> int:
    """A course product whose «Даты занятий» hold one lesson (tests/lessons/school.py)."""
    [prop] = [p for p in portal.result("crm.product.property.list") if p["CODE"] == LESSON_DATES]
    return int(portal.result("crm.product.add", {"fields": {
        "NAME": name, "PRICE": 0, f"PROPERTY_{prop['ID']}": [{"value": lesson.isoformat(timespec="seconds")}]}}))  # fmt: skip


def enrol(portal, product_id: int, email: str, n: int) -> int:
    """A contact and their deal at «Записан» in «Обучение» with the course in its product rows."""
    ids = context.registry().require(portal.member_id).settings["template_ids"]
    pipeline = int(ids["pipelines"]["B24_LEARNING"])
    contact = portal.result("crm.contact.add", {"fields": {"NAME": "Анна", "LAST_NAME": SURNAMES[n % len(SURNAMES)],
                                                           "EMAIL": [{"VALUE": email, "VALUE_TYPE": "WORK"}]}})  # fmt: skip
    deal = portal.result("crm.deal.add", {"fields": {"TITLE": "Запись на курс", "CATEGORY_ID": pipeline,
                                                     "STAGE_ID": f"C{pipeline}:B24_ENROLLED", "CONTACT_ID": contact}})  # fmt: skip
    portal.result("crm.deal.productrows.set",
                  {"id": deal, "rows": [{"PRODUCT_ID": product_id, "PRICE": 0, "QUANTITY": 1}]})  # fmt: skip
    return int(deal)


def remind_now(portal, client_id: str, n: int) -> tuple[int, str]:
    """A lesson tomorrow and the robot «Напомнить о занятиях» fired on its enrolment with an offset of a
    day, so its one reminder is due at once (bitrix24-rest.md §5.2, §5.4); (deal, e-mail). The robot's
    handler call is delivered; its job and the reminder's are left queued."""
    email = f"lesson.{n}@example.org"
    lesson = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    deal = enrol(portal, course(portal, f"Рисование {n}", lesson), email, n)
    portal.control("POST", "/robots/fire", json={"client_id": client_id, "code": REMINDER_ROBOT,
                                                 "document": f"DEAL_{deal}", "properties": {"offset_hours": "24"}})  # fmt: skip
    portal.control("GET", "/robots/runs?wait=1")
    return deal, email


def reminded_once(portal, deal: int, email: str) -> None:
    """Exactly one reminder letter to ``email`` in the outbox and one reminder comment on the deal."""
    letters = [m for m in portal.control("GET", "/outbox")
               if email in str(m["to"]) and "занят" in str(m.get("subject", "")).lower()]  # fmt: skip
    comments = portal.result(
        "crm.timeline.comment.list", {"filter": {"ENTITY_TYPE": "deal", "ENTITY_ID": deal}}
    )
    said = [c for c in comments if "напоминание о занятии" in c["COMMENT"]]
    assert len(letters) == 1 and len(said) == 1, (letters, said)


class Reminders(Flow):
    name, what = (
        "reminders",
        "a lesson reminder due (robot fired, offset a day) → one letter, one comment",
    )
    target = ("batch", "crm.activity.add")  # the letter and the timeline comment go in one batch
    clocked = (
        True  # a claim held past a failed send is taken over after lessons.STALE s: clock moved
    )

    def prepare(self) -> None:
        self.portal.control("PATCH", "", json={"mailboxes": ["hello@dobro.example"]})
        self.settings(letter_sender=SENDER, letter_channel="bitrix24")

    def trigger(self, n: int) -> tuple[int, str]:
        return remind_now(self.portal, self.lab.app.client_id, n)

    def check(self, made: tuple[int, str]) -> str:
        from b24app.lessons import reminders

        reminded_once(self.portal, *made)
        [entry] = reminders(context.redis(), self.portal.member_id, made[0]).values()
        found = entry.get("why", "").startswith("found sent")
        return "1 reminder letter, 1 comment" + (" (the retry found it sent)" if found else "")


FLOWS = [CloudPayments, Leyka, Timepad, Letters, Totals, DuplicateScan, DealMerge, Reminders]
BY_FLOW = {f.name: f for f in FLOWS}
CELLS = [(flow.name, fault.name) for flow in FLOWS for fault in FAULTS]


def plan_for(flow: type[Flow], fault: Fault) -> dict:
    """The sandbox fault plan of one cell: the fault on the flow's write request."""
    method, command = flow.target
    return {"method": method, **({"command": command} if command else {}), **fault.plan}


def run_cell(lab, flow: Flow, fault: Fault, n: int) -> str:
    """Inject, trigger, drain, check; the outcome in words (the plan must have been used up)."""
    made = flow.trigger(n)  # queues the flow's jobs (runs none that the fault is meant for)
    flow.portal.control("POST", "/faults", json=plan_for(type(flow), fault))
    lab.drain(clocked=flow.clocked)
    left = flow.portal.control("GET", "/faults")["faults"]
    assert not left, f"the fault never hit the flow's write: {left}"
    return flow.check(made)


ENVIRONMENT: dict[str, str] = {}  # crash cell → outcome (tests/faults/test_crashes.py)
ENVIRONMENT_CELLS = {
    "redis-restart": "Redis restarted (AOF) while donations and a lesson reminder are queued and a worker runs",
    "worker-sigkill": "a worker SIGKILLed in the middle of a donation job (a lesson reminder due beside it)",
    "web-restart": "the web app restarted between a webhook's (and the reminder robot's) answer and its job",
}


def document() -> str:
    """docs/faults.md: every cell and its outcome, as the suite measured them."""
    lines = ["# The fault matrix", "",
             "Written by `tests/faults/` (`.venv/bin/python -m pytest tests/faults`) at the end of a run that",
             "covers every cell; do not edit by hand. Each cell runs one flow with one fault injected by the",
             "sandbox portal (docs/sandbox.md) into the flow's own write request, drains every job (retries",
             "included) and checks what the portal holds: everything made exactly once.", "",
             "## Flows", "", "| flow | what runs | the fault hits |", "|---|---|---|"]  # fmt: skip
    for flow in FLOWS:
        method, command = flow.target
        lines.append(
            f"| {flow.name} | {flow.what} | `{method}`"
            + (f" holding `{command}`" if command else "")
            + " |"
        )
    lines += ["", "## Faults", "", "| fault | injected |", "|---|---|"]
    lines += [f"| {f.name} | {f.what} |" for f in FAULTS]
    lines += ["", "## Outcomes", "", "| flow | " + " | ".join(f.name for f in FAULTS) + " |",
              "|---|" + "---|" * len(FAULTS)]  # fmt: skip
    for flow in FLOWS:
        cells = [RESULTS.get((flow.name, f.name), "not run") for f in FAULTS]
        lines.append(f"| {flow.name} | " + " | ".join(("✓ " if not c.startswith(("FAILED", "not")) else "✗ ") + c
                                                      for c in cells) + " |")  # fmt: skip
    lines += ["", "## Crashes", "", "| what happens | outcome |", "|---|---|"]
    lines += [
        f"| {what} | {ENVIRONMENT.get(name, 'not run')} |"
        for name, what in ENVIRONMENT_CELLS.items()
    ]
    passed = sum(
        not v.startswith(("FAILED", "not")) for v in [*RESULTS.values(), *ENVIRONMENT.values()]
    )
    lines += ["", f"{passed} of {len(CELLS) + len(ENVIRONMENT_CELLS)} cells end exactly once.", ""]
    return "\n".join(lines)
