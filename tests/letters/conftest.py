"""A fund with CloudPayments connected and its letters going out through one of the three channels."""

import re
import time
from urllib.parse import quote

import pytest

from b24app import context
from tests.handlers.test_cloudpayments import Fund, body

SENDER = "Фонд «Добро» <hello@dobro.example>"


class LetterFund(Fund):
    """Fund plus: its letter settings, the outbox, the donor's contact and deals."""

    def __init__(self, portal, app_server, **settings):
        super().__init__(portal, app_server)
        portal.control("PATCH", "", json={"mailboxes": ["hello@dobro.example"]})
        self.configure(letter_sender=SENDER, letter_channel="bitrix24", **settings)

    def configure(self, **settings) -> None:
        with context.registry().change(self.portal.member_id) as record:
            record.settings.update(settings)

    def pay(self, invoice: str, amount: str = "500.00", name: str = "pay", **changes) -> None:
        """A CloudPayments notification for payment ``invoice`` (its own TransactionId)."""
        tx = str(abs(hash((invoice, name))) % 10**9)
        fields = {"InvoiceId": invoice, "TransactionId": tx, "Amount": amount, **changes}
        if name == "refund":
            fields["PaymentTransactionId"] = str(abs(hash((invoice, "pay"))) % 10**9)
        answer = self.deliver(name.partition("_")[0], body(name, **fields))  # pay_rebill is a Pay
        assert answer.json() == {"code": 0}, answer.text

    def outbox(self) -> list[dict]:
        return self.portal.control("GET", "/outbox")

    def contact(self) -> dict:
        [contact] = self.portal.result("crm.contact.list", {"select": ["*", "UF_*", "EMAIL"]})
        return contact

    def deal(self, invoice: str) -> dict:
        [deal] = self.portal.result("crm.deal.list", {"filter": {"UF_CRM_B24_PAYMENT_ID": f"cp:{invoice}"},
                                                      "select": ["*", "UF_*"]})  # fmt: skip
        return deal

    def thanks(self, invoice: str) -> str:
        """The deal's «Статус благодарности» as its value's code (WAITING / THANKED / NO_THANKS)."""
        value = self.deal(invoice)["UF_CRM_B24_THANKS"]
        [uf] = self.portal.result(
            "crm.deal.userfield.list", {"filter": {"FIELD_NAME": "UF_CRM_B24_THANKS"}}
        )
        return {str(i["ID"]): i["XML_ID"] for i in uf["LIST"]}[str(value)]


def unsubscribe_link(text: str) -> str:
    found = re.search(r"https?://[^\s\"<>]+/letters/unsubscribe/[\w.-]+", text)
    assert found, text
    return found.group(0)


@pytest.fixture
def fund(portal, app_server):
    return LetterFund(portal, app_server)


__all__ = ["LetterFund", "SENDER", "body", "quote", "unsubscribe_link"]


def a_day_later(redis, member_id: str, contact_id: int) -> None:
    """The clock moves on a day for one donor: the day of their last letter and their deferred letters'
    morning move a day back (what the cap and the deferral read), so the next job runs "tomorrow"."""
    import json
    from datetime import date, timedelta

    from b24app.letters.send import key

    day = key(member_id, "day", contact_id)
    if stored := redis.get(day):
        when, _, kind = stored.decode().partition(" ")
        redis.set(day, f"{date.fromisoformat(when) - timedelta(days=1)} {kind}")
    due = key(member_id, "due", contact_id)
    for lid, raw in redis.hgetall(due).items():
        entry = json.loads(raw)
        redis.hset(
            due, lid, json.dumps({**entry, "due": min(entry.get("due", 0), time.time() - 1)})
        )


def run_due_letters(app_server, member_id: str, contact_id: int) -> None:
    """The deferred letters' morning job, run now (RQ's scheduler would start it at its time)."""
    import uuid

    from b24app.letters.send import send_letters
    from b24app.queue import URGENT, enqueue

    enqueue(
        app_server.redis,
        URGENT,
        f"test-morning-{uuid.uuid4().hex}",
        send_letters,
        member_id,
        contact_id,
    )
    app_server.run_jobs()
