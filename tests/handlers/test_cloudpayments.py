"""CloudPayments notifications through the real route into the sandbox portal (external-services.md §3).

Fixtures in tests/fixtures/cloudpayments/ are raw bodies as they arrive; each test signs them with the
portal's fake API secret, posts them to /hooks/<key>/cloudpayments/<kind>, runs the queued jobs, and
reads the deal and the donor from the sandbox portal.
"""

import base64
import hashlib
import hmac
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b24app import context
from handlers.cloudpayments import sign, signatures
from tests.conftest import lose_answer

FIXTURES = Path(__file__).parents[1] / "fixtures" / "cloudpayments"
SECRET = "8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d"


def body(name: str, **changes: str) -> bytes:
    """A fixture's raw bytes, with some fields replaced (values given already encoded)."""
    raw = (FIXTURES / f"{name}.txt").read_bytes().decode()
    pairs = [p.split("=", 1) for p in raw.split("&")]
    pairs = [(k, changes.pop(k, v)) for k, v in pairs] + list(changes.items())
    return "&".join(f"{k}={v}" for k, v in pairs).encode()


class Fund:
    """An installed portal with CloudPayments connected, and a way to deliver notifications to it."""

    def __init__(self, portal, app_server):
        self.portal, self.app = portal, app_server
        portal.control(
            "POST",
            "/install",
            json={"client_id": app_server.client_id, "flow": "ui", "finish": True},
        )
        app_server.run_jobs()
        with context.registry().change(portal.member_id) as record:
            record.settings["cloudpayments_secret"] = SECRET
        self.key = context.registry().require(portal.member_id).key

    def url(self, kind: str) -> str:
        return f"{self.app.url}/hooks/{self.key}/cloudpayments/{kind}"

    def deliver(self, kind: str, raw: bytes, headers: dict | None = None) -> requests.Response:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            **sign(raw, SECRET),
            **(headers or {}),
        }
        return requests.post(self.url(kind), data=raw, headers=headers, timeout=15)

    def deals(self) -> list[dict]:
        return self.portal.result(
            "crm.deal.list", {"select": ["*", "UF_*"], "order": {"ID": "ASC"}}
        )

    def stage(self, deal: dict) -> str:
        return deal["STAGE_ID"].partition(":")[2]


@pytest.fixture
def fund(portal, app_server):
    return Fund(portal, app_server)


def queued(redis) -> int:
    return sum(redis.llen(k) for k in redis.keys("rq:queue:*"))


def test_the_docs_worked_example_signs_as_documented():
    """§3.2 worked example: HMAC over the raw body and over the decoded one, both accepted."""
    raw = b"TransactionId=1234567&Amount=500.00&Currency=RUB&InvoiceId=42&AccountId=donor%40example.org&Email=donor%40example.org&TestMode=0"
    assert {
        b"+6JUzoTCtyJZ9/SsYHKHM0PtcNidbkrb/K+37uJvYN8=",
        b"vrMmT7gn4Nbb2T5SRwAuu7gmHgL5NLnlCZqWMmGMhgw=",
    } <= signatures(raw, SECRET)
    lower = b"DateTime=2018-11-27+12%3a05%3a48"
    assert b"H8tBa9HVKfT3puwZN9AIlOjXvPVqU3UAqSHySc5pNdA=" in signatures(lower, SECRET)


def test_check_makes_a_started_deal_and_a_donor(fund):
    """Check: one deal at «Начато» in «Электронные пожертвования», the donor created as «Благотворитель»."""
    resp = fund.deliver("check", body("check"))
    assert (resp.status_code, resp.json()) == (200, {"code": 0})
    fund.app.run_jobs()
    [deal] = fund.deals()
    assert fund.stage(deal) == "NEW" and Decimal(deal["OPPORTUNITY"]) == Decimal("500.00")
    assert (
        deal["UF_CRM_B24_PAYMENT_ID"] == "cp:6681"
        and deal["UF_CRM_B24_CARD_MASK"] == "220220******4242"
    )
    assert deal["UF_CRM_B24_CARD_EXPIRES"] == "05/27" and deal["TYPE_ID"] == "B24_ONE_TIME"
    [contact] = fund.portal.result("crm.contact.list", {"select": ["*", "EMAIL"]})
    assert (contact["NAME"], contact["LAST_NAME"], contact["TYPE_ID"]) == (
        "Анна",
        "Иванова",
        "B24_DONOR",
    )
    assert (
        contact["EMAIL"][0]["VALUE"] == "ivanova@example.org"
        and deal["CONTACT_ID"] == contact["ID"]
    )


def test_check_then_pay_and_any_repeats_are_one_deal(fund):
    """Check, then Pay, then Pay again three times: one deal, at «Успешно»; repeats queue nothing."""
    fund.deliver("check", body("check"))
    fund.deliver("pay", body("pay"))
    fund.app.run_jobs()
    for _ in range(3):
        assert fund.deliver("pay", body("pay")).json() == {"code": 0}
    assert queued(fund.app.redis) == 0
    fund.app.run_jobs()
    [deal] = fund.deals()
    assert fund.stage(deal) == "WON" and len(fund.portal.result("crm.contact.list")) == 1


def test_order_never_moves_a_deal_back(fund):
    """Pay first, then a late Check and a Fail of a retried card: the deal stays «Успешно»."""
    fund.deliver("pay", body("pay"))
    fund.app.run_jobs()
    fund.deliver("check", body("check"))
    fund.deliver("fail", body("fail", InvoiceId="6681"))
    fund.app.run_jobs()
    [deal] = fund.deals()
    assert fund.stage(deal) == "WON"


def test_fail_makes_a_failed_deal_with_the_reason(fund):
    """Fail: «Отказ», with the reason and its code."""
    fund.deliver("fail", body("fail"))
    fund.app.run_jobs()
    [deal] = fund.deals()
    assert fund.stage(deal) == "LOSE" and deal["UF_CRM_B24_FAIL_REASON"] == "InsufficientFunds 5051"


def test_an_authorized_pay_then_confirm(fund):
    """Two-stage: Pay with Status=Authorized is «Начато»; Confirm makes it «Успешно»."""
    fund.deliver("pay", body("pay", Status="Authorized"))
    fund.app.run_jobs()
    assert fund.stage(fund.deals()[0]) == "NEW"
    fund.deliver("confirm", body("confirm"))
    fund.app.run_jobs()
    assert [fund.stage(d) for d in fund.deals()] == ["WON"]


def test_cancel_makes_a_failed_deal(fund):
    fund.deliver("cancel", body("cancel"))
    fund.app.run_jobs()
    [deal] = fund.deals()
    assert fund.stage(deal) == "LOSE" and deal["UF_CRM_B24_PAYMENT_ID"] == "cp:6695"


def test_a_full_refund_is_vozvrat_and_a_partial_one_keeps_uspeshno(fund):
    """Refund of the whole sum: «Возврат»; two partial refunds: «Успешно» with their sum noted."""
    fund.deliver("pay", body("pay"))
    fund.app.run_jobs()
    fund.deliver("refund", body("refund", Amount="100.00"))
    fund.deliver("refund", body("refund", Amount="150.50", TransactionId="1291739001"))
    fund.app.run_jobs()
    [deal] = fund.deals()
    assert fund.stage(deal) == "WON" and Decimal(deal["UF_CRM_B24_REFUNDED_SUM"]) == Decimal(
        "250.50"
    )
    assert Decimal(deal["OPPORTUNITY"]) == Decimal("500.00")
    fund.deliver("refund", body("refund", Amount="249.50", TransactionId="1291739002"))
    fund.app.run_jobs()
    [deal] = fund.deals()
    assert fund.stage(deal) == "B24_REFUNDED" and Decimal(deal["OPPORTUNITY"]) == Decimal("500.00")


def test_a_rebill_is_keyed_by_its_transaction_and_recurrent_sets_the_donors_subscription(fund):
    """A subscription charge (no InvoiceId) is keyed cp:tx:<TransactionId>, typed recurring; Recurrent
    PastDue marks the donor's subscription status."""
    fund.deliver("pay", body("pay_rebill"))
    fund.app.run_jobs()
    [deal] = fund.deals()
    assert (
        deal["UF_CRM_B24_PAYMENT_ID"] == "cp:tx:1291740001" and deal["TYPE_ID"] == "B24_RECURRING"
    )
    assert fund.deliver("recurrent", body("recurrent")).json() == {"code": 0}
    fund.app.run_jobs()
    contact = fund.portal.result("crm.contact.get", {"id": deal["CONTACT_ID"]})
    fields = fund.portal.result(
        "crm.contact.userfield.list", {"filter": {"FIELD_NAME": "UF_CRM_B24_SUBSCRIPTION"}}
    )
    past_due = next(i["ID"] for i in fields[0]["LIST"] if i["XML_ID"] == "PAST_DUE")
    assert str(contact["UF_CRM_B24_SUBSCRIPTION"]) == str(past_due)


def test_a_test_payment_is_marked(fund):
    """TestMode=1: the deal says so and is not waiting for a thank-you."""
    fund.deliver("pay", body("pay", TestMode="1"))
    fund.app.run_jobs()
    [deal] = fund.deals()
    assert deal["TITLE"].startswith("[ТЕСТ]") and "Тестовый платёж" in deal["COMMENTS"]


def test_an_existing_contact_keeps_its_type(fund):
    """A volunteer who gives stays a volunteer: linked, not retyped, no second contact."""
    fund.portal.result("crm.contact.add", {"fields": {"NAME": "Анна", "LAST_NAME": "Иванова", "TYPE_ID": "B24_VOLUNTEER",
                                                      "EMAIL": [{"VALUE": "Ivanova@example.org"}]}})  # fmt: skip
    fund.deliver("pay", body("pay"))
    fund.app.run_jobs()
    [contact] = fund.portal.result("crm.contact.list")
    assert contact["TYPE_ID"] == "B24_VOLUNTEER" and fund.deals()[0]["CONTACT_ID"] == contact["ID"]


def test_the_decoded_body_signature_in_x_content_hmac_is_accepted(fund):
    """§3.2: either header may sign the decoded body."""
    raw = body("check")
    from urllib.parse import unquote

    decoded = base64.b64encode(
        hmac.new(SECRET.encode(), unquote(raw.decode()).encode(), hashlib.sha256).digest()
    )
    resp = requests.post(fund.url("check"), data=raw, timeout=10,
                         headers={"Content-Type": "application/x-www-form-urlencoded", "X-Content-HMAC": decoded})  # fmt: skip
    assert resp.status_code == 200


def test_a_json_body_is_read_as_well(fund):
    """The JSON format of the notification settings: the same deal."""
    import json
    from urllib.parse import parse_qsl

    raw = json.dumps(dict(parse_qsl(body("pay").decode()))).encode()
    resp = fund.deliver("pay", raw, {"Content-Type": "application/json"})
    assert resp.status_code == 200
    fund.app.run_jobs()
    assert [fund.stage(d) for d in fund.deals()] == ["WON"]


@pytest.mark.parametrize("case, expected", [
    ("wrong signature", 401), ("no signature", 401), ("wrong key", 404), ("bad amount", 400),
    ("garbage", 400), ("no transaction", 400), ("bad date", 400),
])  # fmt: skip
def test_refused_deliveries_queue_nothing(fund, case, expected):
    """The documented 4xx, naming the problem; nothing queued."""
    raw, headers, url = body("pay"), None, fund.url("pay")
    if case == "wrong signature":
        headers = {"Content-HMAC": "AAAA", "X-Content-HMAC": "AAAA"}
    elif case == "no signature":
        headers = {"Content-HMAC": "", "X-Content-HMAC": ""}
    elif case == "wrong key":
        url = fund.url("pay").replace(fund.key, "x" * len(fund.key))
    elif case == "bad amount":
        raw = body("pay", Amount="5OO.00")
    elif case == "garbage":
        raw = b"\xff\xfe\x00garbage"
    elif case == "no transaction":
        raw = body("pay", TransactionId="")
    elif case == "bad date":
        raw = body("pay", DateTime="yesterday")
    all_headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        **sign(raw, SECRET),
        **(headers or {}),
    }
    resp = requests.post(url, data=raw, headers=all_headers, timeout=10)
    assert resp.status_code == expected, resp.text
    assert resp.json()["message"]
    if case == "bad amount":
        assert "Amount" in resp.json()["message"]
    assert queued(fund.app.redis) == 0


def test_an_unknown_kind_from_a_verified_sender_is_200_and_queues_nothing(fund):
    assert fund.deliver("payout", body("pay")).json() == {"code": 0}
    assert queued(fund.app.redis) == 0


def test_a_portal_without_the_secret_refuses(portal, app_server):
    """No CloudPayments secret set on the app page: 401 naming the setting."""
    portal.control(
        "POST", "/install", json={"client_id": app_server.client_id, "flow": "ui", "finish": True}
    )
    key = context.registry().require(portal.member_id).key
    resp = requests.post(f"{app_server.url}/hooks/{key}/cloudpayments/pay", data=body("pay"),
                         headers=sign(body("pay"), SECRET), timeout=10)  # fmt: skip
    assert resp.status_code == 401 and "cloudpayments_secret" in resp.json()["message"]


def test_a_payment_waits_for_the_template(portal, app_server):
    """A delivery before the template is applied waits (looked at again each minute, no retry used up),
    then goes through: not lost, not dropped."""
    from rq.registry import ScheduledJobRegistry

    from b24app.donations.intake import record_donation
    from handlers.cloudpayments import parse

    portal.control(
        "POST", "/install", json={"client_id": app_server.client_id, "flow": "ui", "finish": True}
    )
    work = parse(body("pay"), {}, "pay")
    assert record_donation(portal.member_id, work.payload) == "waiting for the template"
    [waiting] = ScheduledJobRegistry("default", connection=app_server.redis).get_job_ids()
    assert waiting.startswith(f"donation-wait-{portal.member_id}-pay-1291738455-")
    app_server.run_jobs()  # the template job; then the payment goes through
    assert record_donation(portal.member_id, work.payload).startswith("created deal")


FUZZ = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def test_fuzzed_signed_bodies_never_500(fund):
    """Signed bodies with fields dropped, duplicated or replaced by anything: a 200 or a 4xx, never a 500."""
    from urllib.parse import parse_qsl, urlencode

    client = fund.app.flask.test_client()
    pairs = parse_qsl(body("pay").decode(), keep_blank_values=True)
    names = [k for k, _ in pairs]

    @FUZZ
    @given(kind=st.sampled_from(["check", "pay", "fail", "confirm", "refund", "recurrent", "cancel", "x"]),
           drop=st.sets(st.sampled_from(names)), replace=st.dictionaries(st.sampled_from(names + ["Id", "Status"]),
                                                                        st.text(max_size=30), max_size=6),
           junk=st.binary(max_size=64), as_json=st.booleans())  # fmt: skip
    def check(kind, drop, replace, junk, as_json):
        fields = {k: v for k, v in pairs if k not in drop} | replace
        raw = (
            (urlencode(fields).encode() + (b"&" + junk if junk else b""))
            if not as_json
            else __import__("json").dumps(fields).encode()
        )
        resp = client.post(
            f"/hooks/{fund.key}/cloudpayments/{kind}", data=raw, headers=sign(raw, SECRET)
        )
        assert resp.status_code < 500, (kind, raw[:300], resp.data[:300])

    check()


def test_a_new_donation_delivered_as_check_and_pay_costs_two_requests(fund):
    """Check + Pay of a new donor: one batch looks up deal and donor, one writes contact and deal
    (linked by $result); a repeat afterwards costs nothing."""
    fund.deliver(
        "pay", body("pay", InvoiceId="1", TransactionId="1", Email="warm%40example.org", Data="")
    )
    fund.app.run_jobs()  # the first donation of a portal also reads the enumeration ids once
    fund.portal.control("DELETE", "/counters")
    fund.deliver("check", body("check"))
    fund.deliver("pay", body("pay"))
    fund.app.run_jobs()
    counters = fund.portal.control("GET", "/counters")
    assert counters == {"batch": 2, "crm.deal.list": 1, "crm.duplicate.findbycomm": 1, "crm.contact.list": 1,
                        "crm.contact.add": 1, "crm.deal.add": 1}  # fmt: skip
    fund.portal.control("DELETE", "/counters")
    fund.deliver("pay", body("pay"))
    fund.app.run_jobs()
    assert fund.portal.control("GET", "/counters") == {}
    [_, deal] = fund.deals()
    assert fund.stage(deal) == "WON" and deal["CONTACT_ID"]


def test_a_refund_before_its_payment_waits_for_it(fund):
    """A partial Refund first (a retry overtook the Pay): nothing is made of it until the Pay comes, then
    one deal of the gift's amount, «Успешно», the refunded sum noted."""
    fund.deliver("refund", body("refund", Amount="100.00"))
    fund.app.run_jobs()
    assert fund.deals() == []
    fund.deliver("pay", body("pay"))
    fund.app.run_jobs()
    [deal] = fund.deals()
    assert fund.stage(deal) == "WON" and Decimal(deal["OPPORTUNITY"]) == Decimal("500.00")
    assert Decimal(deal["UF_CRM_B24_REFUNDED_SUM"]) == Decimal("100.00")


def test_a_stage_the_fund_chose_is_left_alone(fund):
    """A deal moved by hand out of the pipeline's stages is not pulled back by a late delivery."""
    fund.deliver("check", body("check"))
    fund.app.run_jobs()
    [deal] = fund.deals()
    cat = deal["CATEGORY_ID"]
    fund.portal.result("crm.status.add", {"fields": {"ENTITY_ID": f"DEAL_STAGE_{cat}", "STATUS_ID": "CHECKED",
                                                     "NAME": "Проверено вручную", "SORT": 15}})  # fmt: skip
    fund.portal.result(
        "crm.deal.update", {"id": deal["ID"], "fields": {"STAGE_ID": f"C{cat}:CHECKED"}}
    )
    from b24app.donations.intake import deal_key

    fund.app.redis.delete(
        deal_key(fund.portal.member_id, "cp:6681")
    )  # the app reads the deal afresh
    fund.deliver("pay", body("pay"))
    fund.app.run_jobs()
    assert fund.deals()[0]["STAGE_ID"] == f"C{cat}:CHECKED"


def test_json_numbers_and_an_object_data_are_read(fund):
    """JSON bodies may carry numbers (InvoiceId) and Data as an object."""
    import json
    from urllib.parse import parse_qsl

    fields = dict(parse_qsl(body("pay").decode()))
    fields |= {
        "InvoiceId": 6681,
        "TransactionId": 1291738455,
        "Amount": 500.5,
        "Data": {"name": "Анна Иванова"},
    }
    resp = fund.deliver("pay", json.dumps(fields).encode(), {"Content-Type": "application/json"})
    assert resp.status_code == 200, resp.text
    fund.app.run_jobs()
    [deal] = fund.deals()
    assert deal["UF_CRM_B24_PAYMENT_ID"] == "cp:6681" and Decimal(deal["OPPORTUNITY"]) == Decimal(
        "500.50"
    )


def test_a_payment_without_an_amount_and_the_kindless_url_are_refused(fund):
    """No Amount: 400 naming it (not a 0.00 deal). The URL without a kind: 404, so CloudPayments retries."""
    raw = b"&".join(p for p in body("pay").split(b"&") if not p.startswith(b"Amount="))
    resp = fund.deliver("pay", raw)
    assert resp.status_code == 400 and "Amount" in resp.json()["message"]
    resp = requests.post(fund.url("pay").removesuffix("/pay"), data=body("pay"), headers=sign(body("pay"), SECRET),
                         timeout=10)  # fmt: skip
    assert resp.status_code == 404 and "/cloudpayments/<" in resp.json()["message"]
    assert queued(fund.app.redis) == 0


def test_a_pay_after_its_checks_job_costs_one_request(fund):
    """Check's job already made the deal: the Pay is one update (the app remembers its deal)."""
    fund.deliver(
        "pay", body("pay", InvoiceId="1", TransactionId="1", Email="warm%40example.org", Data="")
    )
    fund.app.run_jobs()
    fund.deliver("check", body("check"))
    fund.app.run_jobs()
    fund.portal.control("DELETE", "/counters")
    fund.deliver("pay", body("pay"))
    fund.app.run_jobs()
    assert fund.portal.control("GET", "/counters") == {"crm.deal.update": 1}
    assert fund.stage(fund.deals()[1]) == "WON"


def test_a_lost_answer_to_the_create_is_not_sent_again_and_one_deal_stays(fund, monkeypatch):
    """The write batch reached the portal but its answer was lost: not re-sent; the job's retry finds
    the deal and there is one."""
    from b24app.bitrix import BitrixUnavailable
    from b24app.donations.intake import record_donation
    from handlers.cloudpayments import parse

    lost = lose_answer(monkeypatch, "batch", "crm.deal.add")
    work = parse(body("pay"), {}, "pay")
    with pytest.raises(BitrixUnavailable):
        record_donation(fund.portal.member_id, work.payload)
    record_donation(fund.portal.member_id, work.payload)
    assert len(fund.deals()) == 1 and lost == [1]


def test_a_local_phone_is_read_by_the_portals_country(fund):
    """A Belarusian fund (phone_region=BY): «8 029 123-45-67» is +375 29 123-45-67 on the donor, in E.164;
    a later gift from the same phone written internationally finds the same donor."""
    with context.registry().change(fund.portal.member_id) as record:
        record.settings["phone_region"] = "BY"
    fund.deliver("check", body("check", Phone="8+029+123-45-67", Email="", AccountId="", Data=""))
    fund.app.run_jobs()
    [contact] = fund.portal.result("crm.contact.list", {"select": ["*", "PHONE"]})
    assert [m["VALUE"] for m in contact["PHONE"]] == ["+375291234567"]
    fund.deliver("check", body("check", InvoiceId="6682", TransactionId="1291738456", Phone="%2B375+29+1234567",
                               Email="", AccountId="", Data=""))  # fmt: skip
    fund.app.run_jobs()
    assert len(fund.portal.result("crm.contact.list")) == 1
    assert {d["CONTACT_ID"] for d in fund.deals()} == {contact["ID"]}
