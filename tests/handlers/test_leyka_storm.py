"""A storm across both connectors: 50 Leyka donations, each delivered as «Попытка» and «Оплачено» (or
«Ошибка», or paid then refunded) several times at once and out of order, some paid through CloudPayments and
also reported by its Check and Pay with the same InvoiceId, the donors' e-mails in any letter case → exactly
50 deals in the right stages, one contact per donor (external-services.md §2.5: one payment, one deal)."""

import json
import random
from decimal import Decimal
from urllib.parse import quote

import requests

from b24app import context
from handlers import cloudpayments, leyka
from tests.handlers.test_cloudpayments import SECRET as CP_SECRET
from tests.handlers.test_donation_storm import all_pages, storm
from tests.handlers.test_leyka import SECRET, LeykaFund

DONATIONS, DONORS = 50, 30
FIRST = ["Анна", "Ольга", "Мария", "Елена", "Ирина", "Наталья"]
LAST = ["Иванова", "Смирнова", "Кузнецова", "Попова", "Соколова"]


def donation(i: int) -> dict:
    """The i-th donation: Leyka id, amount, donor, gateway, how it ends, whether CloudPayments reports it."""
    donor = i % DONORS
    ends = "failed" if i % 5 == 0 else "refunded" if i % 7 == 0 else "funded"
    gateway = "yandex" if i % 3 == 0 else "cp"
    return {"id": 8000 + i, "amount": Decimal(200 + i) + Decimal("0.25"), "donor": donor,
            "name": f"{FIRST[donor % len(FIRST)]} {LAST[donor // len(FIRST)]}", "ends": ends,
            "gateway": gateway, "cp": gateway == "cp" and i % 2 == 0}  # fmt: skip


def cased(email: str, rnd: random.Random) -> str:
    return "".join(c.upper() if rnd.random() < 0.3 else c for c in email)


def bridge_body(d: dict, status: str, delivery: str, rnd: random.Random) -> bytes:
    body = {"event": "donation.status_changed", "site": "https://fond-example.ru", "delivery_id": delivery,
            "changed_at": "2026-03-14T12:41:05+03:00",
            "donation": {"id": d["id"], "status": status, "amount": f"{d['amount']:.2f}", "currency": "RUB",
                         "payment_type": "single", "init_recurring_donation_id": 0, "recurring_active": False,
                         "gateway_id": d["gateway"], "pm_id": "card", "campaign_id": 41,
                         "campaign_title": "На уставную деятельность", "donor_name": d["name"],
                         "donor_email": cased(f"donor{d['donor']}@example.org", rnd), "donor_phone": "",
                         "date_created": "2026-03-14T12:41:00+03:00", "cp_transaction_id": "",
                         "cp_recurring_id": "", "error_id": "e1" if status == "failed" else ""}}  # fmt: skip
    return json.dumps(body, ensure_ascii=False).encode()


def cp_body(d: dict, kind: str, rnd: random.Random) -> bytes:
    email = cased(f"donor{d['donor']}@example.org", rnd)
    fields = {"TransactionId": 50_000 + d["id"] * 2 + (kind == "pay"), "Amount": f"{d['amount']:.2f}",
              "Currency": "RUB", "InvoiceId": d["id"], "AccountId": email, "Email": email,
              "DateTime": "2026-03-14 09:41:05", "Status": "Completed", "TestMode": 0,
              "Data": json.dumps({"name": d["name"]}, ensure_ascii=False)}  # fmt: skip
    return "&".join(f"{k}={quote(str(v), safe='')}" for k, v in fields.items()).encode()


def deliveries(d: dict, rnd: random.Random) -> list[tuple[str, bytes]]:
    """The donation's deliveries: each status change several times (the bridge's retries keep their
    delivery_id; a hook fired twice makes two), and CloudPayments' own Check and Pay when it reports it."""
    changes = ["submitted", "failed"] if d["ends"] == "failed" else ["submitted", "funded"]
    if d["ends"] == "refunded":
        changes.append("refunded")
    out = []
    for status in changes:
        for copy in range(2):
            raw = bridge_body(d, status, f"storm-{d['id']}-{status}-{copy}", rnd)
            out += [("leyka", raw)] * 3
    if d["cp"]:
        out += [("check", cp_body(d, "check", rnd))] * 2
        if d["ends"] != "failed":
            out += [("pay", cp_body(d, "pay", rnd))] * 3
    return out


def test_fifty_leyka_donations_some_also_through_cloudpayments_make_fifty_deals(
    portal, crash_app, tmp_path
):
    fund = LeykaFund(portal, crash_app)
    rnd = random.Random(11)
    donations = [donation(i) for i in range(DONATIONS)]
    work = [item for d in donations for item in deliveries(d, rnd)]
    rnd.shuffle(work)

    def deliver(item):
        kind, raw = item
        if kind == "leyka":
            headers = {"Content-Type": "application/json", **leyka.sign(raw, SECRET)}
            return requests.post(
                fund.leyka_url(), data=raw, headers=headers, timeout=60
            ).status_code
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            **cloudpayments.sign(raw, CP_SECRET),
        }
        return requests.post(fund.url(kind), data=raw, headers=headers, timeout=60).status_code  # fmt: skip

    deals = storm(crash_app, portal, deliver, work, tmp_path)
    by_key: dict[str, list] = {}
    for deal in deals:
        by_key.setdefault(deal["UF_CRM_B24_PAYMENT_ID"], []).append(deal)
    assert len(deals) == DONATIONS and all(len(v) == 1 for v in by_key.values()), {
        k: len(v) for k, v in by_key.items() if len(v) > 1
    }
    want = {"failed": "LOSE", "refunded": "B24_REFUNDED", "funded": "WON"}
    for d in donations:
        key = f"{'cp' if d['gateway'] == 'cp' else 'leyka'}:{d['id']}"
        [deal] = by_key[key]
        assert deal["STAGE_ID"].partition(":")[2] == want[d["ends"]], (d, deal)
        assert Decimal(deal["OPPORTUNITY"]) == d["amount"]
    contacts = portal.result("crm.contact.list", {"select": ["ID"]}) + all_pages(
        portal, "crm.contact.list"
    )
    assert len(contacts) == DONORS
    assert len({deal["CONTACT_ID"] for deal in deals}) == DONORS
    assert context.registry().require(portal.member_id).status == "installed"
