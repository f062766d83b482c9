"""A storm: 50 payments, each delivered 20 times at once as a mix of Check, Pay and retries (some failing,
some refunded in whole or in part), to the real route, drained by 4 real `b24app worker` processes → exactly 50 deals in the
right stages with exact amounts, and one contact per donor."""

import random
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from urllib.parse import quote

import requests

from b24app import context
from handlers.cloudpayments import sign
from tests.conftest import kill_group, start_worker
from tests.handlers.test_cloudpayments import SECRET, Fund

PAYMENTS, DONORS, WORKERS = 50, 30, 4
FIRST = ["Анна", "Ольга", "Мария", "Елена", "Ирина", "Наталья"]
LAST = ["Иванова", "Смирнова", "Кузнецова", "Попова", "Соколова"]


def payment(i: int) -> dict:
    """The i-th payment: invoice, amount, donor, and how it ends."""
    donor = i % DONORS
    first, last = FIRST[donor % len(FIRST)], LAST[donor // len(FIRST)]
    return {"invoice": str(7000 + i), "amount": Decimal(100 + i) + Decimal("0.50"), "email": f"donor{donor}@example.org",
            "name": f"{first} {last}", "ends": ENDS(i)}  # fmt: skip


def ENDS(i: int) -> str:  # noqa: N802
    return (
        "failed"
        if i % 5 == 0
        else "refunded"
        if i % 7 == 0
        else "partial"
        if i % 11 == 0
        else "paid"
    )


def notification(p: dict, kind: str, tx: int) -> bytes:
    fields = {"TransactionId": tx, "Amount": f"{p['amount']:f}", "Currency": "RUB", "InvoiceId": p["invoice"],
              "AccountId": p["email"], "Email": p["email"], "DateTime": "2024-03-14 09:41:05", "TestMode": 0,
              "Data": f'{{"name": "{p["name"]}"}}', "CardFirstSix": "220220", "CardLastFour": "4242"}  # fmt: skip
    if kind in ("check", "pay"):
        fields["Status"] = "Completed"
    if kind == "fail":
        fields |= {"Reason": "InsufficientFunds", "ReasonCode": 5051}
    if kind == "refund":
        fields["PaymentTransactionId"] = tx - 1
        if p["ends"] == "partial":
            fields["Amount"] = "50.00"
    return "&".join(f"{k}={quote(str(v), safe='').lower() if '%' in quote(str(v), safe='') else v}"
                    for k, v in fields.items()).encode()  # fmt: skip


def deliveries(i: int, p: dict) -> list[tuple[str, bytes]]:
    """20 deliveries of one payment: Check and Pay and their retries; a Fail or a Refund for some."""
    base = 10_000_000 + i * 10
    out = [("check", notification(p, "check", base))] * 4
    if p["ends"] == "failed":
        out += [("fail", notification(p, "fail", base + 1))] * 16
    else:
        out += [("pay", notification(p, "pay", base + 2))] * 10
        tail = (
            ("refund", notification(p, "refund", base + 3))
            if p["ends"] in ("refunded", "partial")
            else ("pay", out[-1][1])
        )
        out += [tail] * 6
    return out


def idle(redis) -> bool:
    """Nothing queued, running or scheduled but the looks again of refunds that overtook their Pay (and
    the nightly duplicate scan every worker schedules)."""
    queued = sum(redis.llen(k) for k in redis.keys("rq:queue:*"))
    busy = sum(redis.zcard(k) for k in redis.keys("rq:wip:*"))
    scheduled = [j for k in redis.keys("rq:scheduled:*") for j in redis.zrange(k, 0, -1)]
    waiting = (b"donation-wait-", b"dedup-nightly-")
    return queued == 0 and busy == 0 and all(j.startswith(waiting) for j in scheduled)


def test_fifty_payments_delivered_twenty_times_at_once_make_fifty_deals(
    portal, crash_app, tmp_path
):
    fund = Fund(portal, crash_app)
    payments = [payment(i) for i in range(PAYMENTS)]
    work = [(kind, raw) for i, p in enumerate(payments) for kind, raw in deliveries(i, p)]
    random.Random(7).shuffle(work)

    def deliver(item):
        kind, raw = item
        headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(raw, SECRET)}
        return requests.post(fund.url(kind), data=raw, headers=headers, timeout=60).status_code

    deals = storm(crash_app, portal, deliver, work, tmp_path)
    by_key = {}
    for d in deals:
        by_key.setdefault(d["UF_CRM_B24_PAYMENT_ID"], []).append(d)
    assert len(by_key) == PAYMENTS and all(len(v) == 1 for v in by_key.values()), {
        k: len(v) for k, v in by_key.items()
    }
    want = {"failed": "LOSE", "refunded": "B24_REFUNDED", "paid": "WON", "partial": "WON"}
    for p in payments:
        [deal] = by_key[f"cp:{p['invoice']}"]
        assert deal["STAGE_ID"].partition(":")[2] == want[p["ends"]], (p, deal)
        assert Decimal(deal["OPPORTUNITY"]) == p["amount"]
        refunded = {"refunded": p["amount"], "partial": Decimal("50.00")}.get(
            p["ends"], Decimal("0")
        )
        assert Decimal(deal.get("UF_CRM_B24_REFUNDED_SUM") or 0) == refunded, (p, deal)
    contacts = portal.result("crm.contact.list", {"select": ["ID"]}) + all_pages(
        portal, "crm.contact.list"
    )
    assert len(contacts) == DONORS
    assert context.registry().require(portal.member_id).status == "installed"


def as_a_sender(deliver, item) -> int:
    """A delivery posted again after a 503, as CloudPayments and the Leyka bridge do (a repeat that meets
    its first copy still being queued is asked to retry: handlers.wait_for_claim); the final status."""
    for _ in range(20):
        status = deliver(item)
        if status != 503:
            return status
        time.sleep(0.5)
    return status


def storm(app, portal, deliver, work: list, tmp_path) -> list[dict]:
    """Every delivery posted from 16 threads while WORKERS real workers drain the queues; every deal after."""
    with open(tmp_path / "workers.log", "w") as log:
        workers = [start_worker(app, log) for _ in range(WORKERS)]
        try:
            with ThreadPoolExecutor(16) as pool:
                statuses = list(pool.map(lambda item: as_a_sender(deliver, item), work))
            assert set(statuses) == {200}
            deadline = time.monotonic() + 240
            time.sleep(2)
            while time.monotonic() < deadline and not idle(app.redis):
                time.sleep(1)
            assert idle(app.redis), "the workers did not drain the queues"
        finally:
            for w in workers:
                kill_group(w)
    return portal.result("crm.deal.list", {"select": ["ID", "STAGE_ID", "OPPORTUNITY", "CONTACT_ID",
                                                       "UF_CRM_B24_PAYMENT_ID", "UF_CRM_B24_REFUNDED_SUM"]}) + all_pages(portal)  # fmt: skip


def all_pages(portal, method: str = "crm.deal.list") -> list[dict]:
    """Rows after the first page (50 each)."""
    rows, start = [], 50
    select = (
        ["ID"]
        if method == "crm.contact.list"
        else [
            "ID",
            "STAGE_ID",
            "OPPORTUNITY",
            "CONTACT_ID",
            "UF_CRM_B24_PAYMENT_ID",
            "UF_CRM_B24_REFUNDED_SUM",
        ]
    )
    while True:
        answer = portal.call(method, {"select": select, "start": start})
        rows += answer.body["result"]
        if "next" not in answer.body:
            return rows
        start = answer.body["next"]
