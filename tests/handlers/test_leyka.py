"""The Leyka bridge's deliveries through the real route into the sandbox portal (external-services.md §2.5).

Fixtures in tests/fixtures/leyka/ are raw bodies in the bridge's wire format; each test signs one with the
portal's fake bridge secret at send time, posts it to /hooks/<key>/leyka, runs the queued jobs and reads
the deal, its timeline and the donor from the sandbox portal.
"""

import hashlib
import hmac
import json
import time
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b24app import context
from handlers.cloudpayments import sign as cp_sign
from handlers.leyka import sign
from tests.handlers.test_cloudpayments import SECRET as CP_SECRET
from tests.handlers.test_cloudpayments import Fund, body, queued

FIXTURES = Path(__file__).parents[1] / "fixtures" / "leyka"
SECRET = "leyka-bridge-test-secret-3f9a1c7e5b2d"


def fixture(name: str, **donation) -> bytes:
    """A fixture's raw bytes; with changes to its donation object, re-encoded as the bridge would."""
    raw = (FIXTURES / f"{name}.json").read_bytes()
    if not donation:
        return raw
    data = json.loads(raw)
    delivery_id = donation.pop("delivery_id", None)
    data["donation"] |= donation
    if delivery_id:
        data["delivery_id"] = delivery_id
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


class LeykaFund(Fund):
    """An installed portal with the Leyka bridge (and CloudPayments) connected."""

    def __init__(self, portal, app_server):
        super().__init__(portal, app_server)
        with context.registry().change(portal.member_id) as record:
            record.settings["leyka_secret"] = SECRET

    def leyka_url(self) -> str:
        return f"{self.app.url}/hooks/{self.key}/leyka"

    def post(self, raw: bytes, headers: dict | None = None, at: float | None = None):
        headers = {"Content-Type": "application/json", **sign(raw, SECRET, at), **(headers or {})}
        return requests.post(self.leyka_url(), data=raw, headers=headers, timeout=15)

    def comments(self, deal: dict) -> list[str]:
        rows = self.portal.result("crm.timeline.comment.list", {
            "filter": {"ENTITY_TYPE": "deal", "ENTITY_ID": deal["ID"]}})  # fmt: skip
        return [r["COMMENT"] for r in rows]

    def contacts(self) -> list[dict]:
        return self.portal.result("crm.contact.list", {"select": ["*", "EMAIL", "PHONE"]})


@pytest.fixture
def fund(portal, app_server):
    return LeykaFund(portal, app_server)


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body():
    """§2.5: sha256=<lowercase hex HMAC-SHA256(secret, "<timestamp>." + raw body)>."""
    raw = b'{"event":"bridge.ping"}'
    headers = sign(raw, "s3cret", at=1773481265)
    expected = hmac.new(b"s3cret", b"1773481265." + raw, hashlib.sha256).hexdigest()
    assert headers == {"X-Leyka-Bridge-Timestamp": "1773481265",
                       "X-Leyka-Bridge-Signature": f"sha256={expected}"}  # fmt: skip


def test_added_then_funded_is_one_deal_at_uspeshno_with_its_history(fund):
    """submitted («Попытка») then funded: one deal keyed cp:<Leyka id> (CloudPayments' InvoiceId), at
    «Успешно», both changes with their changed_at on the deal's timeline; the answer carries our clock."""
    resp = fund.post(fixture("donation_added"))
    assert resp.status_code == 200 and resp.json()["ok"] is True
    assert abs(resp.json()["time"] - time.time()) < 5
    fund.app.run_jobs()
    [deal] = fund.deals()
    assert fund.stage(deal) == "NEW" and deal["UF_CRM_B24_PAYMENT_ID"] == "cp:5123"
    fund.post(fixture("status_submitted_to_funded"))
    fund.app.run_jobs()
    [deal] = fund.deals()
    assert fund.stage(deal) == "WON" and Decimal(deal["OPPORTUNITY"]) == Decimal("500.00")
    assert deal["TYPE_ID"] == "B24_ONE_TIME" and "На уставную деятельность" in deal["TITLE"]
    history = "\n".join(fund.comments(deal))
    assert (
        "2026-03-14 12:41:05+03:00 — Лейка (https://fond-example.ru): пожертвование №5123 — «Попытка пожертвовать»"
        in history
    )
    assert (
        "2026-03-14 12:41:09+03:00 — Лейка (https://fond-example.ru): пожертвование №5123 — «Оплачено»"
        in history
    )
    [contact] = fund.contacts()
    assert (contact["NAME"], contact["LAST_NAME"], contact["TYPE_ID"]) == (
        "Мария", "Соколова", "B24_DONOR")  # fmt: skip
    assert contact["EMAIL"][0]["VALUE"] == "maria.sokolova@example.org"
    gateway = fund.portal.result(
        "crm.deal.userfield.list", {"filter": {"FIELD_NAME": "UF_CRM_B24_GATEWAY"}}
    )[0]["LIST"]
    assert str(deal["UF_CRM_B24_GATEWAY"]) == next(
        str(i["ID"]) for i in gateway if i["XML_ID"] == "CLOUDPAYMENTS"
    )


def test_funded_arriving_before_submitted_never_moves_back(fund):
    """Out of order: funded first, the late «Попытка» leaves the deal «Успешно»."""
    fund.post(fixture("status_submitted_to_funded"))
    fund.app.run_jobs()
    fund.post(fixture("donation_added"))
    fund.app.run_jobs()
    [deal] = fund.deals()
    assert fund.stage(deal) == "WON"


def test_a_repeated_delivery_is_recognised_by_its_delivery_id(fund):
    """The same delivery_id, re-signed with a fresh timestamp (the bridge's retry): nothing is queued."""
    fund.post(fixture("donation_added"), at=time.time() - 100)
    fund.app.run_jobs()
    for _ in range(3):
        assert fund.post(fixture("donation_added")).status_code == 200
    assert queued(fund.app.redis) == 0


def test_failed_is_otkaz_with_the_error_and_the_name_decoded(fund):
    """failed → «Отказ» with Leyka's error_id; «Иван &quot;Ваня&quot; Петров» decoded; the e-mail kept."""
    fund.post(fixture("status_submitted_to_failed"))
    fund.app.run_jobs()
    [deal] = fund.deals()
    assert fund.stage(deal) == "LOSE" and deal["UF_CRM_B24_FAIL_REASON"] == "Лейка: ошибка cp-5051"
    [contact] = fund.contacts()
    assert (contact["NAME"], contact["LAST_NAME"]) == ("Иван", '"Ваня" Петров')


def test_refunded_is_vozvrat(fund):
    fund.post(fixture("status_submitted_to_funded"))
    fund.app.run_jobs()
    fund.post(fixture("status_funded_to_refunded"))
    fund.app.run_jobs()
    [deal] = fund.deals()
    assert fund.stage(deal) == "B24_REFUNDED"
    assert Decimal(deal["UF_CRM_B24_REFUNDED_SUM"]) == Decimal("500.00")


def test_trash_leaves_the_deal_as_it_is_with_a_comment(fund):
    """trash: the stage and amount stay; the timeline says the donation went to the site's trash."""
    fund.post(fixture("status_submitted_to_funded"))
    fund.app.run_jobs()
    fund.post(fixture("status_funded_to_trash"))
    fund.app.run_jobs()
    [deal] = fund.deals()
    assert fund.stage(deal) == "WON" and Decimal(deal["OPPORTUNITY"]) == Decimal("500.00")
    assert any("«В корзине»" in c and "Сделка оставлена как есть" in c for c in fund.comments(deal))


def test_trash_before_its_deal_waits_for_it(fund):
    """A trash delivery that overtook the donation's own: it waits (a job scheduled a minute on)."""
    from rq.registry import ScheduledJobRegistry

    from b24app.queue import DEFAULT

    fund.post(fixture("status_funded_to_trash"))
    fund.app.run_jobs()
    assert fund.deals() == []
    registry = ScheduledJobRegistry(DEFAULT, connection=fund.app.redis)
    assert any("trash-wait" in j for j in registry.get_job_ids())


def test_a_rebill_is_recurring_and_keyed_by_cloudpayments_transaction(fund):
    """rebill through CloudPayments: key cp:tx:<cp_transaction_id>, «Пожертвование рекуррентное», the
    subscription id kept."""
    fund.post(fixture("rebill_added"))
    fund.app.run_jobs()
    [deal] = fund.deals()
    assert deal["UF_CRM_B24_PAYMENT_ID"] == "cp:tx:2905777" and deal["TYPE_ID"] == "B24_RECURRING"
    assert deal["UF_CRM_B24_SUBSCRIPTION_ID"] == "sc_8cf8a9338fb8ebf7202b08d09c938"
    assert fund.stage(deal) == "WON"


def subscription_state(fund) -> str | None:
    """The code of the donor's «Статус подписки» (the one deal's contact)."""
    [deal] = fund.deals()
    contact = fund.portal.result("crm.contact.get", {"id": deal["CONTACT_ID"]})
    states = fund.portal.result(
        "crm.contact.userfield.list", {"filter": {"FIELD_NAME": "UF_CRM_B24_SUBSCRIPTION"}}
    )[0]["LIST"]
    return next(
        (i["XML_ID"] for i in states if str(i["ID"]) == str(contact["UF_CRM_B24_SUBSCRIPTION"])),
        None,
    )


def test_recurring_changed_sets_the_donors_subscription_state(fund):
    """recurring.changed (switched off) becomes a subscription change: the donor's status «Отменена»."""
    fund.post(fixture("rebill_added"))
    fund.app.run_jobs()
    assert fund.post(fixture("recurring_changed")).status_code == 200
    fund.app.run_jobs()
    assert subscription_state(fund) == "CANCELLED"


def test_a_correction_is_a_correction_entry(fund):
    """payment_type correction → deal type «Коррекционная запись», gateway «Лейка», name decoded."""
    fund.post(fixture("correction_added"))
    fund.app.run_jobs()
    [deal] = fund.deals()
    assert deal["TYPE_ID"] == "B24_CORRECTION" and deal["UF_CRM_B24_PAYMENT_ID"] == "leyka:5400"
    assert Decimal(deal["OPPORTUNITY"]) == Decimal("10000.00")
    [contact] = fund.contacts()
    assert (contact["NAME"], contact["LAST_NAME"]) == ("ООО", "«Ромашка»")


def test_a_negative_correction_is_taken_and_a_negative_payment_is_not(fund):
    """Leyka lets an admin enter a negative correction: it is a deal of −500.00; a negative single
    payment is a 400 naming the amount."""
    assert fund.post(fixture("correction_added", amount="-500.00")).status_code == 200
    fund.app.run_jobs()
    [deal] = fund.deals()
    assert Decimal(deal["OPPORTUNITY"]) == Decimal("-500.00") and deal["TITLE"].startswith(
        "Коррекционная запись"
    )
    raw = fixture("other_gateway_funded", amount="-250.00")
    resp = fund.post(raw)
    assert resp.status_code == 400 and "amount" in resp.json()["message"]


def test_leyka_reports_never_rewrite_what_cloudpayments_charged(fund):
    """A Leyka «Оплачено» of a CloudPayments payment with another sum leaves CloudPayments' amount; a
    correction naming a CloudPayments id is its own deal; Leyka's «refunded» reported again (a backfill)
    counts once, and with CloudPayments' own Refund never exceeds the gift."""
    fund.deliver("pay", body("pay", InvoiceId="5123"))
    fund.app.run_jobs()
    fund.post(fixture("status_submitted_to_funded", amount="1.00"))
    fund.post(
        fixture(
            "correction_added", id=5123, gateway_id="cp", amount="-500.00", delivery_id="corr-1"
        )
    )
    fund.app.run_jobs()
    deals = {d["UF_CRM_B24_PAYMENT_ID"]: d for d in fund.deals()}
    assert (
        Decimal(deals["cp:5123"]["OPPORTUNITY"]) == Decimal("500.00")
        and fund.stage(deals["cp:5123"]) == "WON"
    )
    assert Decimal(deals["leyka:5123"]["OPPORTUNITY"]) == Decimal("-500.00")
    fund.deliver("refund", body("refund", InvoiceId="5123", Amount="100.00"))
    fund.post(fixture("status_funded_to_refunded"))
    fund.post(fixture("status_funded_to_refunded", delivery_id="backfill-5123-refunded"))
    fund.app.run_jobs()
    deal = {d["UF_CRM_B24_PAYMENT_ID"]: d for d in fund.deals()}["cp:5123"]
    assert (
        Decimal(deal["UF_CRM_B24_REFUNDED_SUM"]) == Decimal("500.00")
        and fund.stage(deal) == "B24_REFUNDED"
    )


def test_another_gateway_is_keyed_by_leyka_and_anonymous_is_no_name(fund):
    """A gateway other than CloudPayments: key leyka:<id>; «Anonymous» makes a donor by e-mail alone."""
    fund.post(fixture("other_gateway_funded"))
    fund.app.run_jobs()
    [deal] = fund.deals()
    assert deal["UF_CRM_B24_PAYMENT_ID"] == "leyka:5125" and fund.stage(deal) == "WON"
    [contact] = fund.contacts()
    assert contact["NAME"] in ("", None) and contact["EMAIL"][0]["VALUE"] == "kind.soul@example.org"


def test_the_ping_is_answered_with_our_clock_and_queues_nothing(fund):
    resp = fund.post(fixture("ping"))
    assert resp.status_code == 200 and abs(resp.json()["time"] - time.time()) < 5
    assert queued(fund.app.redis) == 0


def test_leyka_and_cloudpayments_reporting_one_payment_make_one_deal(fund):
    """Leyka's «Попытка» and «Оплачено» for donation 5123 and CloudPayments' Check and Pay with
    InvoiceId 5123: one deal, one donor, whatever came first."""
    fund.deliver("check", body("check", InvoiceId="5123", Email="maria.sokolova%40example.org"))
    fund.post(fixture("donation_added"))
    fund.app.run_jobs()
    fund.post(fixture("status_submitted_to_funded"))
    fund.deliver("pay", body("pay", InvoiceId="5123", Email="Maria.Sokolova%40Example.org"))
    fund.app.run_jobs()
    [deal] = fund.deals()
    assert fund.stage(deal) == "WON" and deal["UF_CRM_B24_PAYMENT_ID"] == "cp:5123"
    assert len(fund.contacts()) == 1


@pytest.mark.parametrize("case", [
    "wrong signature", "no signature", "stale", "future", "bad timestamp", "wrong key", "bad amount",
    "float amount", "garbage", "not an object", "no delivery_id", "naive changed_at", "no donation",
    "unknown status", "deep nesting", "year one",
])  # fmt: skip
def test_refused_deliveries_queue_nothing(fund, case):
    """The documented 4xx, naming the problem; nothing queued."""
    raw, at, headers, url = fixture("status_submitted_to_funded"), None, {}, fund.leyka_url()
    data = json.loads(raw)
    if case == "wrong signature":
        headers = {"X-Leyka-Bridge-Signature": "sha256=" + "0" * 64}
    elif case == "no signature":
        headers = {"X-Leyka-Bridge-Signature": ""}
    elif case in ("stale", "future"):
        at = time.time() + (-301 if case == "stale" else 301)
    elif case == "bad timestamp":
        headers = {"X-Leyka-Bridge-Timestamp": "yesterday"}
    elif case == "wrong key":
        url = url.replace(fund.key, "x" * len(fund.key))
    elif case == "bad amount":
        raw = fixture("status_submitted_to_funded", amount="5OO.00")
    elif case == "float amount":
        raw = fixture("status_submitted_to_funded", amount=500.1)
    elif case == "garbage":
        raw = b"\xff\xfe\x00garbage"
    elif case == "not an object":
        raw = b"[1, 2, 3]"
    elif case == "no delivery_id":
        raw = json.dumps({k: v for k, v in data.items() if k != "delivery_id"}).encode()
    elif case == "naive changed_at":
        raw = json.dumps(data | {"changed_at": "2026-03-14T12:41:09"}).encode()
    elif case == "no donation":
        raw = json.dumps({k: v for k, v in data.items() if k != "donation"}).encode()
    elif case == "year one":
        raw = fixture("status_submitted_to_funded", date_created="0001-01-01T00:00:00+14:00")
    elif case == "unknown status":
        raw = fixture("status_submitted_to_funded", status="paid")
    elif case == "deep nesting":
        raw = b"[" * 100_000 + b"]" * 100_000
    resp = requests.post(url, data=raw, headers=sign(raw, SECRET, at) | headers, timeout=10)
    expected = 404 if case == "wrong key" else 401 if case in (
        "wrong signature", "no signature", "stale", "future", "bad timestamp") else 400  # fmt: skip
    assert resp.status_code == expected, resp.text
    message = resp.json()["message"]
    assert message
    if case in ("stale", "future"):
        assert "clock" in message
    if case in ("bad amount", "float amount"):
        assert "amount" in message
    assert queued(fund.app.redis) == 0


def test_a_portal_without_the_bridge_secret_refuses(portal, app_server):
    portal.control(
        "POST", "/install", json={"client_id": app_server.client_id, "flow": "ui", "finish": True}
    )
    key = context.registry().require(portal.member_id).key
    raw = fixture("donation_added")
    resp = requests.post(f"{app_server.url}/hooks/{key}/leyka", data=raw,
                         headers=sign(raw, SECRET), timeout=10)  # fmt: skip
    assert resp.status_code == 401 and "leyka_secret" in resp.json()["message"]


def test_the_cloudpayments_secret_does_not_open_the_leyka_url(fund):
    """Each source has its own secret: a body signed with the CloudPayments secret is refused."""
    raw = fixture("donation_added")
    resp = requests.post(fund.leyka_url(), data=raw, headers=sign(raw, CP_SECRET), timeout=10)
    assert resp.status_code == 401
    raw = fixture("donation_added")
    resp = requests.post(fund.leyka_url(), data=raw, headers=cp_sign(raw, SECRET), timeout=10)
    assert resp.status_code == 401 and "Timestamp" in resp.json()["message"]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(
    st.sampled_from(["id", "status", "amount", "currency", "payment_type", "init_recurring_donation_id",
                     "recurring_active", "gateway_id", "campaign_id", "donor_name", "donor_email",
                     "date_created", "cp_transaction_id", "error_id"]),
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.text(max_size=40),
              st.floats(allow_nan=True), st.lists(st.integers(), max_size=3)),
    max_size=6,
))  # fmt: skip
def test_fuzzed_signed_bodies_never_500(fund, changes):
    """Any signed body is a 200 or a 4xx naming the problem, never a 500."""
    raw = fixture("status_submitted_to_funded", **changes, delivery_id=f"fuzz-{time.time_ns()}")
    resp = fund.post(raw)
    assert resp.status_code in (200, 400), resp.text


def test_recurring_changes_out_of_order_end_in_the_newest_state(fund):
    """Switched off at 18:30, then on again at 19:00, but the 19:00 delivery arrives first: the donor ends
    «Активна» — the older delivery (Leyka's changed_at) changes nothing."""
    fund.post(fixture("rebill_added"))
    fund.app.run_jobs()
    on = json.loads(fixture("recurring_changed", recurring_active=True, delivery_id="on-1900"))
    on["changed_at"] = "2026-05-02T19:00:00+03:00"
    assert fund.post(json.dumps(on, ensure_ascii=False).encode()).status_code == 200
    fund.app.run_jobs()
    assert fund.post(fixture("recurring_changed")).status_code == 200  # off, 18:30
    fund.app.run_jobs()
    assert subscription_state(fund) == "ACTIVE"
