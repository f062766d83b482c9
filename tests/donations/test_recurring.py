"""Recurring donors with a controlled clock (time-machine): a subscription's life on its donor and deal, a
card expiring in 7 weeks (one event however often the daily job runs), a lapse, a stale «Начато» closed.

Payloads are external-services.md §3.1's fixtures (tests/fixtures/cloudpayments/): the first recurring Pay
carries no SubscriptionId (§3.5), Recurrent carries ``Id``, ``AccountId``/``Email``, ``Amount`` and
``Status`` (Active, PastDue = 1–2 failed attempts, Rejected = 3 in a row).
"""

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
import requests
import time_machine

from b24app import context
from b24app.donations import events
from b24app.donations.daily import donations_daily
from b24app.donations.recurring import cases
from b24app.portals import portal_key
from tests.conftest import lose_answer
from tests.handlers.test_cloudpayments import Fund, body

SUB = "sc_8cf8a9338fb8ebf7202b08d09c938"
# the widget's data of a recurring first payment (external-services.md §2.3 step 2)
RECURRENT = quote(
    '{"name":"Анна Иванова","cloudPayments":{"recurrent":{"interval":"Month","period":1}}}'
)
START = datetime(2027, 4, 10, 9, 0, tzinfo=UTC)  # the card (05/27) expires in 7 weeks


def when(at: datetime) -> str:
    return quote(at.strftime("%Y-%m-%d %H:%M:%S"))


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=True) as traveller:
        yield traveller


@pytest.fixture
def heard(monkeypatch):
    """The donor events the app emits, as a listener hears them."""
    got: list[events.DonorEvent] = []
    monkeypatch.setattr(events, "listeners", lambda: [lambda member_id, event: got.append(event)])
    return got


@pytest.fixture
def fund(clock, portal, app_server):
    return Fund(portal, app_server)


def first_payment(fund: Fund, at: datetime, **changes) -> dict:
    """The first recurring Pay (InvoiceId, no SubscriptionId, the widget's recurrent data)."""
    fund.deliver("pay", body("pay", DateTime=when(at), Data=RECURRENT, **changes))
    fund.app.run_jobs()
    return fund.deals()[-1]


def recurrent(fund: Fund, status: str, failed: int = 0) -> None:
    raw = body("recurrent", Status=status, FailedTransactionsNumber=str(failed))
    assert fund.deliver("recurrent", raw).json() == {"code": 0}
    fund.app.run_jobs()


def state(fund: Fund) -> tuple[str, str]:
    """(the donor's subscription status, the deal's) by their values' codes."""
    enums = {}
    for entity in ("contact", "deal"):
        [uf] = fund.portal.result(
            f"crm.{entity}.userfield.list", {"filter": {"FIELD_NAME": "UF_CRM_B24_SUBSCRIPTION"}}
        )
        enums[entity] = {str(i["ID"]): i["XML_ID"] for i in uf["LIST"]}
    [contact] = fund.portal.result("crm.contact.list", {"select": ["UF_*"]})
    deal = fund.deals()[-1]
    return (enums["contact"].get(str(contact.get("UF_CRM_B24_SUBSCRIPTION"))),
            enums["deal"].get(str(deal.get("UF_CRM_B24_SUBSCRIPTION"))))  # fmt: skip


def comments(fund: Fund, deal_id: int) -> list[str]:
    rows = fund.portal.result(
        "crm.timeline.comment.list", {"filter": {"ENTITY_TYPE": "deal", "ENTITY_ID": deal_id}}
    )
    return [r["COMMENT"] for r in rows]


def daily(fund: Fund) -> str:
    return donations_daily(fund.portal.member_id, "")


def test_a_subscriptions_life_active_past_due_rejected(fund, heard):
    """The first Pay has no subscription id: Recurrent Active links it by the donor's e-mail and the amount;
    PastDue and Rejected follow on the donor and the deal, each a «subscription» event."""
    deal = first_payment(fund, START - timedelta(days=1))
    assert not deal.get("UF_CRM_B24_SUBSCRIPTION_ID") and deal["TYPE_ID"] == "B24_RECURRING"
    recurrent(fund, "Active")
    [deal] = fund.deals()
    assert deal["UF_CRM_B24_SUBSCRIPTION_ID"] == SUB
    assert state(fund) == ("ACTIVE", "ACTIVE")
    recurrent(fund, "PastDue", failed=1)
    assert state(fund) == ("PAST_DUE", "PAST_DUE")
    recurrent(fund, "Rejected", failed=3)
    assert state(fund) == ("REJECTED", "REJECTED")
    said = [(e.key, e.status) for e in heard if e.kind == events.Kind.SUBSCRIPTION]
    assert said == [(SUB, "Active"), (SUB, "PastDue"), (SUB, "Rejected")]
    [contact] = fund.portal.result("crm.contact.list", {"select": ["UF_*"]})
    assert contact["UF_CRM_B24_CARD_EXPIRES"] == "05/27"
    assert daily(fund).startswith("0 card(s) expiring, 0 lapse(s)")


def test_an_ambiguous_subscription_is_kept_on_the_donor_and_shown(fund):
    """Two recurring gifts of the same amount and no subscription id: the state goes on the donor only, and
    the case is listed on the app page (an admin's)."""
    first_payment(fund, START - timedelta(days=2))
    first_payment(fund, START - timedelta(days=1), InvoiceId="6682", TransactionId="1291738456")
    recurrent(fund, "Active")
    assert [d.get("UF_CRM_B24_SUBSCRIPTION_ID") or "" for d in fund.deals()] == ["", ""]
    assert state(fund)[0] == "ACTIVE"
    [case] = cases(context.redis(), fund.portal.member_id)
    assert (case["subscription"], case["why"]) == (SUB, "several recurring gifts of this amount")
    page = requests.post(f"{fund.portal.sandbox.url}/_sandbox/portals/{fund.portal.member_id}/placements/open",
                         json={"client_id": fund.app.client_id, "placement": "LEFT_MENU"}, timeout=10).json()  # fmt: skip
    table = page["html"].split('id="subscription-cases"', 1)[1].split("</table>", 1)[0]
    assert SUB in table and "several recurring gifts" in table


def test_a_card_expiring_in_seven_weeks_is_one_event_however_often_the_job_runs(fund, heard, clock):
    """Card 05/27 on 10 April 2027: one «card_expiring» event and one timeline comment over many runs and
    days, even after Redis lost its marks."""
    deal = first_payment(fund, START - timedelta(days=3))
    recurrent(fund, "Active")
    for _ in range(3):
        daily(fund)
    clock.shift(timedelta(days=1))
    daily(fund)
    for mark in context.redis().keys(
        "*donor-event*"
    ):  # Redis lost its marks: the timeline remembers
        context.redis().delete(mark)
    daily(fund)
    [event] = [e for e in heard if e.kind == events.Kind.CARD_EXPIRING]
    assert (event.key, event.deal_id, event.contact_id) == (
        f"{SUB}:05/27",
        int(deal["ID"]),
        int(deal["CONTACT_ID"]),
    )
    assert len([c for c in comments(fund, int(deal["ID"])) if "05/27" in c]) == 1


def test_a_card_far_from_expiry_is_no_event(fund, heard):
    first_payment(fund, START - timedelta(days=3), CardExpDate="08%2f27")
    recurrent(fund, "Active")
    daily(fund)
    assert not [e for e in heard if e.kind == events.Kind.CARD_EXPIRING]


def test_an_active_subscription_without_a_charge_for_40_days_lapses_once(fund, heard, clock):
    """The last successful charge 39 days ago: nothing; 40 days: one «lapsed» event keyed by its date."""
    charged = START - timedelta(days=1)
    deal = first_payment(fund, charged, CardExpDate="12%2f29")
    recurrent(fund, "Active")
    clock.shift(timedelta(days=38))
    daily(fund)
    assert not [e for e in heard if e.kind == events.Kind.LAPSED]
    clock.shift(timedelta(days=1))
    daily(fund)
    daily(fund)
    [event] = [e for e in heard if e.kind == events.Kind.LAPSED]
    assert (event.key, event.deal_id) == (f"{SUB}:{charged.date().isoformat()}", int(deal["ID"]))


def test_a_stale_started_deal_moves_to_failed_after_48_hours_and_a_late_pay_still_wins(fund, clock):
    """Check at T: the daily job at T+47h leaves «Начато»; at T+49h «Отказ» with a comment; a Pay after that
    moves the deal to «Успешно» (stages only move forward)."""
    fund.deliver("check", body("check", DateTime=when(START)))
    fund.app.run_jobs()
    clock.shift(timedelta(hours=47))
    daily(fund)
    [deal] = fund.deals()
    assert fund.stage(deal) == "NEW"
    clock.shift(timedelta(hours=2))
    assert daily(fund).endswith("1 stale deal(s) closed")
    [deal] = fund.deals()
    assert fund.stage(deal) == "LOSE"
    assert any("48 часов" in c for c in comments(fund, int(deal["ID"])))
    assert daily(fund).endswith("0 stale deal(s) closed")
    fund.deliver("pay", body("pay", DateTime=when(START)))
    fund.app.run_jobs()
    [deal] = fund.deals()
    assert fund.stage(deal) == "WON"


def test_a_portal_whose_template_predates_the_deals_status_still_keeps_the_donors(fund):
    """A portal not yet updated to template v4 (no deal field «Статус подписки»): the donor's status and the
    deal's link are written all the same."""
    first_payment(fund, START - timedelta(days=1))
    redis, key = context.redis(), portal_key(fund.portal.member_id, "template-enums")
    enums = json.loads(redis.get(key))
    del enums["deal.UF_CRM_B24_SUBSCRIPTION"]
    redis.set(key, json.dumps(enums))
    recurrent(fund, "Active")
    assert state(fund) == ("ACTIVE", None)
    assert fund.deals()[0]["UF_CRM_B24_SUBSCRIPTION_ID"] == SUB


def test_a_lost_answer_to_the_event_note_still_emits_the_event(fund, heard, clock, monkeypatch):
    """The card-expiring note reaches the deal but its answer is lost: the retry finds the note and emits
    the event (the letter depends on it), and the note is not written twice."""
    from b24app.bitrix import BitrixUnavailable

    first_payment(fund, START - timedelta(days=3))
    recurrent(fund, "Active")
    lost = lose_answer(monkeypatch, "crm.timeline.comment.add", "card_expiring")
    with pytest.raises(BitrixUnavailable):
        daily(fund)
    daily(fund)
    clock.shift(timedelta(days=1))
    daily(fund)
    assert lost and [e.kind for e in heard].count(events.Kind.CARD_EXPIRING) >= 1
    notes = fund.portal.result("crm.timeline.comment.list", {"filter": {"ENTITY_TYPE": "deal"}})
    assert sum("card_expiring" in n["COMMENT"] for n in notes) == 1


def test_an_email_alone_writes_no_subscription_onto_a_donor_without_such_a_gift(fund, heard):
    """A Recurrent whose e-mail belongs to a donor who never gave a recurring gift of that amount (a
    relative sharing the address, say): nothing is written on that donor; the case is listed instead."""
    fund.deliver("pay", body("pay", DateTime=when(START - timedelta(days=1))))
    fund.app.run_jobs()
    [deal] = fund.deals()
    assert deal["TYPE_ID"] != "B24_RECURRING"
    recurrent(fund, "Cancelled")
    assert state(fund) == (None, None)
    [case] = cases(context.redis(), fund.portal.member_id)
    assert (case["subscription"], case["why"]) == (SUB, "no recurring gift of this amount")
