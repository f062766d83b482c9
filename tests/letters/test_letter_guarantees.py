"""The guarantees of product.md C3: one letter per donor per day by the priority rule (b24app/letters
docstring), each letter once, «Не отправлять письма» and the unsubscribe link end to end, and a letter the
portal refuses ("From" is not found, bitrix24-rest.md §4.10) kept as a permanent failure on the deal's
timeline and the app page."""

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import requests
from pydantic import SecretStr
from rq import Queue, SimpleWorker
from rq.registry import ScheduledJobRegistry

from b24app.letters.send import key, listed
from b24app.queue import DEFAULT, URGENT
from tests.letters.conftest import a_day_later, run_due_letters, unsubscribe_link

MOSCOW = ZoneInfo("Europe/Moscow")


def run_intake_only(fund) -> None:
    """The intake's jobs (default queue) alone, so every letter they make due waits together."""
    SimpleWorker([Queue(DEFAULT, connection=fund.app.redis)], connection=fund.app.redis).work(
        burst=True
    )


def test_three_gifts_within_a_minute_make_one_letter_that_day(fund):
    """Three Pays of one donor at once: one welcome; the two «thanks again» collapse into it and their
    deals read «Поблагодарили» too."""
    for invoice in ("7101", "7102", "7103"):
        fund.pay(invoice)
    fund.app.run_jobs()
    [mail] = fund.outbox()
    assert mail["subject"] == "Спасибо за ваше пожертвование!"
    assert [fund.thanks(i) for i in ("7101", "7102", "7103")] == ["THANKED"] * 3


def test_the_priority_rule_sends_the_failure_first_and_the_welcome_next_morning(fund):
    """A failed payment and a first gift due together: the failure goes (it outranks the welcome), the
    welcome waits for 10:00 tomorrow in the portal's time zone, then goes; nothing more that day."""
    fund.pay("7201", name="fail")
    fund.pay("7202")
    run_intake_only(fund)
    fund.app.run_jobs()
    [failure] = fund.outbox()
    assert failure["subject"] == "Пожертвование не прошло"
    contact = int(fund.contact()["ID"])
    [entry] = [
        json.loads(v) for v in fund.app.redis.hvals(key(fund.portal.member_id, "due", contact))
    ]
    tomorrow = datetime.now(MOSCOW).date() + timedelta(days=1)
    assert entry["slot"] == "gift"
    assert (
        entry["due"]
        == datetime(tomorrow.year, tomorrow.month, tomorrow.day, 10, tzinfo=MOSCOW).timestamp()
    )
    scheduled = ScheduledJobRegistry(URGENT, connection=fund.app.redis)
    [job_id] = scheduled.get_job_ids()  # the morning's job, at that time
    assert scheduled.get_scheduled_time(job_id).timestamp() == entry["due"]
    run_due_letters(fund.app, fund.portal.member_id, contact)  # still today: it keeps waiting
    assert len(fund.outbox()) == 1 and fund.thanks("7202") == "WAITING"
    a_day_later(fund.app.redis, fund.portal.member_id, contact)
    run_due_letters(fund.app, fund.portal.member_id, contact)
    assert [m["subject"] for m in fund.outbox()] == [
        "Пожертвование не прошло",
        "Спасибо за ваше пожертвование!",
    ]
    assert fund.thanks("7202") == "THANKED"


def test_a_failure_after_the_days_welcome_is_deferred_not_dropped(fund):
    """A welcome went; a failed payment the same day waits for the next morning (only a «thanks again» is
    ever collapsed)."""
    fund.pay("7301")
    fund.app.run_jobs()
    fund.pay("7302", name="fail")
    fund.app.run_jobs()
    assert len(fund.outbox()) == 1
    contact = int(fund.contact()["ID"])
    a_day_later(fund.app.redis, fund.portal.member_id, contact)
    run_due_letters(fund.app, fund.portal.member_id, contact)
    assert [m["subject"] for m in fund.outbox()][-1] == "Пожертвование не прошло"


def test_repeated_deliveries_and_events_send_one_letter(fund):
    """The same Pay delivered three times and its event emitted again by a retried job: one letter."""
    from b24app.donations.intake import announce, deal_of

    for _ in range(3):
        fund.pay("7401")
        fund.app.run_jobs()
    member = fund.portal.member_id
    from handlers.cloudpayments import parse
    from tests.handlers.test_cloudpayments import body

    work = parse(body("pay", InvoiceId="7401"), {}, "pay")
    from b24app.donations import Donation
    from b24app.queue import enqueue

    deal = deal_of(fund.app.redis, member, "cp:7401")
    enqueue(fund.app.redis, DEFAULT, "retried-announce", announce, member, deal,
            [Donation.model_validate(work.payload)])  # fmt: skip
    fund.app.run_jobs()
    assert len(fund.outbox()) == 1


def test_the_unsubscribe_link_works_end_to_end(fund):
    """The letter's link: a GET shows a confirm button and changes nothing (mail scanners follow links); the
    POST sets «Не отправлять письма» on the contact; the donor's next gift gets no letter. A forged link
    is refused."""
    fund.pay("7501")
    fund.app.run_jobs()
    link = unsubscribe_link(fund.outbox()[0]["body"])
    shown = requests.get(link, timeout=10)
    assert shown.status_code == 200 and 'id="confirm"' in shown.text and "отписаться" in shown.text
    fund.app.run_jobs()
    assert not fund.contact().get("UF_CRM_B24_NO_EMAIL")
    done = requests.post(link, timeout=10)
    assert done.status_code == 200 and "больше не будем" in done.text
    fund.app.run_jobs()
    assert str(fund.contact()["UF_CRM_B24_NO_EMAIL"]) in ("1", "Y")
    a_day_later(fund.app.redis, fund.portal.member_id, int(fund.contact()["ID"]))
    fund.pay("7502")
    fund.app.run_jobs()
    assert len(fund.outbox()) == 1 and fund.thanks("7502") == "WAITING"
    forged = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    assert requests.post(forged, timeout=10).status_code == 404
    assert requests.get(fund.app.url + "/letters/unsubscribe/x", timeout=10).status_code == 404


def test_do_not_email_set_in_the_crm_is_respected(fund):
    """«Не отправлять письма» ticked by a person on the contact: no letter."""
    fund.pay("7601", name="fail")
    run_intake_only(fund)
    contact = int(fund.contact()["ID"])
    fund.portal.result("crm.contact.update", {"id": contact, "fields": {"UF_CRM_B24_NO_EMAIL": 1}})
    fund.app.run_jobs()
    assert fund.outbox() == []


def test_a_sender_that_is_not_a_connected_mailbox_is_a_permanent_failure(fund):
    """letter_sender not among the portal's mailboxes: 'From is not found' → no e-mail, no retries, the
    reason on the deal's timeline and in the app page's list; the letter is not tried again."""
    fund.configure(letter_sender="Фонд <other@dobro.example>")
    fund.pay("7701")
    fund.app.run_jobs()
    assert fund.outbox() == []
    deal = fund.deal("7701")
    comments = fund.portal.result("crm.timeline.comment.list",
                                  {"filter": {"ENTITY_TYPE": "deal", "ENTITY_ID": deal["ID"]}})  # fmt: skip
    assert any('"From" is not found' in c["COMMENT"] for c in comments)
    [failure] = listed(fund.portal.member_id, "failures")
    assert failure["kind"] == "welcome_one_time" and '"From" is not found' in failure["reason"]
    assert Queue(URGENT, connection=fund.app.redis).failed_job_registry.count == 0
    assert ScheduledJobRegistry(URGENT, connection=fund.app.redis).count == 0
    fund.pay("7701")
    fund.app.run_jobs()
    assert len(listed(fund.portal.member_id, "failures")) == 1 and fund.thanks("7701") == "WAITING"
    from tests.letters.test_letter_page import token_of

    shown = requests.post(fund.app.url + "/app/letters/reset", data={"token": token_of(fund), "kind": "refund"},
                          timeout=10).text  # fmt: skip
    assert 'id="letter-failures"' in shown and "From&#34; is not found" in shown


def run_retries_now(fund) -> None:
    """RQ's retries of the urgent queue, started now instead of at their time."""
    from rq.job import Job

    queue = Queue(URGENT, connection=fund.app.redis)
    registry = ScheduledJobRegistry(URGENT, connection=fund.app.redis)
    for job_id in registry.get_job_ids():
        job = Job.fetch(job_id, connection=fund.app.redis)
        registry.remove(job)
        queue.enqueue_job(job)
    fund.app.run_jobs()


def test_a_portal_error_is_retried_and_the_letter_goes_once(fund):
    """crm.activity.add answers 500 once (a fault plan, docs/sandbox.md): the job fails, its RQ retry sends
    the letter, exactly one e-mail; the deal then reads «Поблагодарили»."""
    fund.portal.control("POST", "/faults", json={"method": "crm.activity.add", "count": 1,
                                                  "error": "INTERNAL_SERVER_ERROR", "status": 500})  # fmt: skip
    fund.pay("7801")
    fund.app.run_jobs()
    assert fund.outbox() == [] and fund.thanks("7801") == "WAITING"
    assert ScheduledJobRegistry(URGENT, connection=fund.app.redis).count == 1
    run_retries_now(fund)
    [mail] = fund.outbox()
    assert mail["subject"] == "Спасибо за ваше пожертвование!" and fund.thanks("7801") == "THANKED"
    assert listed(fund.portal.member_id, "failures") == []


def test_letters_are_off_until_the_sender_is_set(fund):
    """A portal that has not named its sender gets no letter and no refusal noise on its deals."""
    fund.configure(letter_sender="")
    fund.pay("7901")
    fund.app.run_jobs()
    assert fund.outbox() == [] and listed(fund.portal.member_id, "failures") == []
    assert (
        fund.portal.result("crm.timeline.comment.list", {"filter": {"ENTITY_TYPE": "deal"}}) == []
    )
    assert fund.thanks("7901") == "WAITING"


def test_an_unsubscribe_link_outlives_a_rotation_of_the_secret_key(fund, monkeypatch):
    """docs/deploy.md rotates B24APP_SECRET_KEY by exporting the registry and importing it under the new
    key: the links in letters already sent (valid for years) still work, because they are signed with the
    portal's own link secret, which travels in its record. A link signed by another portal's secret is
    refused."""
    from b24app import context
    from b24app.portals import PortalRegistry
    from b24app.signing import sign

    fund.pay("7701")
    fund.app.run_jobs()
    link = unsubscribe_link(fund.outbox()[0]["body"])
    portal = context.registry().require(fund.portal.member_id)
    rotated = context.settings().model_copy(
        update={"secret_key": SecretStr("a-brand-new-secret-key")}
    )
    fund.app.redis.delete(f"b24:portal:{portal.member_id}")  # what `portals import --replace` does
    PortalRegistry(fund.app.redis, "a-brand-new-secret-key").save(portal, tokens=True)
    monkeypatch.setattr(context, "_settings", rotated)
    assert requests.get(link, timeout=10).status_code == 200
    assert requests.post(link, timeout=10).status_code == 200
    fund.app.run_jobs()
    assert str(fund.contact()["UF_CRM_B24_NO_EMAIL"]) in ("1", "Y")
    foreign = sign(
        "someone-elses-link-secret", "unsubscribe", {"m": fund.portal.member_id, "c": 1}, ttl=60
    )
    assert (
        requests.post(f"{fund.app.url}/letters/unsubscribe/{foreign}", timeout=10).status_code
        == 404
    )


def test_a_portal_recorded_before_link_secrets_gets_one_that_stays(fund):
    """A record written before portals had a link secret: its first link gives it one, kept in the record,
    and the next link is signed with the same one."""
    import json as json_

    from b24app import context
    from b24app.letters.unsubscribe import claims, unsubscribe_url

    registry, member_id = context.registry(), fund.portal.member_id
    record = json_.loads(registry.fernet.decrypt(fund.app.redis.get(f"b24:portal:{member_id}")))
    del record["link_secret"]
    fund.app.redis.set(
        f"b24:portal:{member_id}", registry.fernet.encrypt(json_.dumps(record).encode())
    )
    assert registry.require(member_id).link_secret == ""
    first = unsubscribe_url(member_id, 7).rsplit("/", 1)[1]
    kept = registry.require(member_id).link_secret
    assert kept and registry.require(member_id).link_secret == kept
    assert claims(first) == (member_id, 7) and claims(
        unsubscribe_url(member_id, 8).rsplit("/", 1)[1]
    ) == (member_id, 8)
