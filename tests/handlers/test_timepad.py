"""Timepad's webhooks through the real route into the sandbox portal (external-services.md §1.4).

Fixtures in tests/fixtures/timepad/ are the documented bodies of both shapes, stored raw; each test signs
one with the portal's fake secret at send time (``X-Hub-Signature: sha1=<hex HMAC-SHA1(raw body)>``),
posts it to /hooks/<key>/timepad, runs the queued jobs (which read the order from the sandbox's fake
Timepad) and reads the participation and the contact from the sandbox portal.
"""

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import time_machine
from rq import Queue, SimpleWorker
from rq.registry import ScheduledJobRegistry

from b24app import context
from b24app.queue import DEFAULT, QUEUES
from handlers.timepad import signature
from tests.handlers.test_cloudpayments import queued
from tests.timepad.world import SECRET, TimepadFund, ticket

FIXTURES = Path(__file__).parents[1] / "fixtures" / "timepad"


@pytest.fixture
def fund(sandbox, portal, app_server):
    return TimepadFund(sandbox, portal, app_server)


def post(fund, raw: bytes, secret: str = SECRET, headers: dict | None = None) -> requests.Response:
    sent = {
        "Content-Type": "application/json",
        "X-Hub-Signature": signature(raw, secret),
        **(headers or {}),
    }
    return requests.post(
        f"{fund.app.url}/hooks/{fund.key}/timepad", data=raw, headers=sent, timeout=15
    )


def seed_fixture_order(fund, status: str = "booked", starts: timedelta = timedelta(days=3)) -> dict:
    """The fixtures' event 215813 (no ends_at) and order 4955686 (Анна Иванова) in the fake Timepad."""
    event = fund.control("POST", "/events", json={"id": 215813, "organization_id": fund.org["id"], "name": "Лекция",
                                                  "starts_at": (datetime.now(UTC) + starts).isoformat()})  # fmt: skip
    fund.orders(event, {"id": 4955686, "status": status,
                        "tickets": [ticket("Анна", "Иванова", "ivanova@example.org", id=83845994)]})  # fmt: skip
    return event


def test_the_docs_worked_examples_sign_as_documented():
    """§1.4: sha1=<lowercase hex HMAC-SHA1(secret, raw body)>, both worked examples."""
    raw = b'{"id":"5184211:83845994","event_id":215813,"order_id":"4955686","status_raw":"paid"}'
    assert signature(raw, "my_timepad_secret") == "sha1=b3e1080d4fe5ba13984b393c5d29e31122bf98d8"
    assert signature(b"foo", "lol") == "sha1=bfe9c8b0bc631a74dbc484c4e4a5a469cbb8b01f"


@pytest.mark.parametrize("name", ["ticket_hook", "order_hook"])
def test_both_shapes_make_the_participation(fund, name):
    """The flat ticket hook and the order hook (§1.4 a, b) each become Анна's contact and one participation
    («Зарегистрирован» for a booked order before the event, «Оплачено» for a paid one)."""
    status = "booked" if name == "ticket_hook" else "paid"
    seed_fixture_order(fund, status)
    resp = post(fund, (FIXTURES / f"{name}.json").read_bytes())
    assert resp.status_code == 200 and resp.json() == {"ok": True}
    fund.app.run_jobs()
    (item,) = fund.items()
    assert fund.stage(item) == ("NEW" if status == "booked" else "B24_PAID")
    assert item[fund.f("TP_EVENT_ID")] == "215813" and item[fund.f("TP_EVENT_NAME")] == "Лекция"
    (contact,) = fund.contacts()
    assert contact["LAST_NAME"] == "Иванова" and int(item["contactId"]) == int(contact["ID"])
    assert contact["EMAIL"][0]["VALUE"] == "ivanova@example.org"


def test_a_repeated_delivery_is_queued_once(fund):
    """Timepad may send one status twice: the second is answered and not queued again."""
    seed_fixture_order(fund)
    raw = (FIXTURES / "ticket_hook.json").read_bytes()
    assert post(fund, raw).status_code == 200
    assert post(fund, raw).status_code == 200
    assert queued(fund.app.redis) == 1


@pytest.mark.parametrize("case", ["wrong secret", "no header", "tampered body", "sha256 prefix"])
def test_a_bad_signature_is_401_and_nothing_is_queued(fund, case):
    """Negatives: a signature by another secret, none, over other bytes, or with another scheme."""
    raw = (FIXTURES / "order_hook.json").read_bytes()
    if case == "wrong secret":
        resp = post(fund, raw, secret="another-secret-of-someone")
    elif case == "no header":
        resp = requests.post(f"{fund.app.url}/hooks/{fund.key}/timepad", data=raw, timeout=15)
    elif case == "tampered body":
        resp = requests.post(f"{fund.app.url}/hooks/{fund.key}/timepad", data=raw.replace(b"paid", b"returned"),
                             headers={"X-Hub-Signature": signature(raw, SECRET)}, timeout=15)  # fmt: skip
    else:
        resp = post(
            fund,
            raw,
            headers={"X-Hub-Signature": signature(raw, SECRET).replace("sha1=", "sha256=")},
        )
    assert resp.status_code == 401 and "signature" in resp.json()["message"]
    assert queued(fund.app.redis) == 0


def test_without_a_secret_every_hook_is_refused(fund):
    """A portal with no timepad_secret refuses with 401 naming the setting (so the connector needs it)."""
    with context.registry().change(fund.portal.member_id) as record:
        record.settings.pop("timepad_secret")
    resp = post(fund, (FIXTURES / "order_hook.json").read_bytes())
    assert resp.status_code == 401 and "timepad_secret" in resp.json()["message"]
    assert queued(fund.app.redis) == 0


@pytest.mark.parametrize("raw, named", [
    (b"not json at all", "not UTF-8 JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"event_id": 215813, "status_raw": "paid"}', "order_id"),
    (b'{"event_id": "x", "order_id": "4955686", "status_raw": "paid"}', "event_id"),
    (b'{"id": 4955686, "event": {"id": 215813}, "status": {"name": "paid; drop"}, "tickets": []}', "status.name"),
    (b'{"id": 4955686, "event": {}, "status": {"name": "paid"}, "tickets": []}', "event.id"),
])  # fmt: skip
def test_an_unparsable_body_is_400_naming_it_and_nothing_is_queued(fund, raw, named):
    """Signed but unreadable: 400 naming what is wrong; nothing queued."""
    resp = post(fund, raw)
    assert resp.status_code == 400 and named in resp.json()["message"]
    assert queued(fund.app.redis) == 0


def test_the_first_hook_of_an_event_schedules_its_sync_at_starts_plus_end_hours(fund):
    """No ends_at: the end-of-event sync is scheduled at starts_at + timepad_end_hours (3), once."""
    before = datetime.now(UTC)
    seed_fixture_order(fund, starts=timedelta(days=2))
    assert post(fund, (FIXTURES / "ticket_hook.json").read_bytes()).status_code == 200
    fund.app.run_jobs()
    after = datetime.now(UTC)  # the event's start was set in between (a loaded machine is slow)
    registry = ScheduledJobRegistry(DEFAULT, connection=fund.app.redis)
    (job_id,) = [j for j in registry.get_job_ids() if j.startswith("timepad-end-")]
    at = registry.get_scheduled_time(job_id).replace(tzinfo=UTC)
    end = timedelta(days=2, hours=3)
    assert before + end - timedelta(seconds=5) <= at <= after + end + timedelta(seconds=5)
    fund.control("PATCH", "/orders/4955686", json={"status": "paid"})
    assert post(
        fund, json.dumps({"event_id": 215813, "order_id": "4955686", "status_raw": "paid"}).encode()
    ).ok
    fund.app.run_jobs()
    assert [j for j in registry.get_job_ids() if j.startswith("timepad-end-")] == [job_id]
    assert fund.stage(fund.items()[0]) == "B24_PAID"


def test_an_event_moved_by_its_organiser_moves_its_sync(fund):
    """The organiser postpones the event by a week: the next hook after the kept copy of the event has aged
    (an hour) reads the new dates, and the one end-of-event sync moves with them."""

    def hook(
        status: str,
    ) -> bytes:  # a new status each time: a repeated delivery is not queued again
        return json.dumps(
            {"event_id": 215813, "order_id": "4955686", "status_raw": status}
        ).encode()

    seed_fixture_order(fund, starts=timedelta(days=2))
    assert post(fund, hook("booked")).ok
    fund.app.run_jobs()
    registry = ScheduledJobRegistry(DEFAULT, connection=fund.app.redis)
    (job_id,) = [j for j in registry.get_job_ids() if j.startswith("timepad-end-")]
    first = registry.get_scheduled_time(job_id).replace(tzinfo=UTC)
    fund.control(
        "PATCH",
        "/events/215813",
        json={"starts_at": (first + timedelta(days=7, hours=-3)).isoformat()},
    )
    assert post(fund, hook("paid")).ok
    fund.app.run_jobs()
    assert (
        registry.get_scheduled_time(job_id).replace(tzinfo=UTC) == first
    )  # the copy is fresh: no read
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=1, minutes=1), tick=True):
        assert post(fund, hook("ok")).ok
        fund.app.run_jobs()
    assert [j for j in registry.get_job_ids() if j.startswith("timepad-end-")] == [job_id]
    moved = registry.get_scheduled_time(job_id).replace(tzinfo=UTC)
    assert abs(moved - (first + timedelta(days=7))) < timedelta(seconds=2)


def test_the_sync_scheduled_by_a_hook_runs_at_the_event_end(fund):
    """An event ending in 3 s: its first hook schedules the sync; when the moment comes the worker's
    scheduler runs it, and the participants end «Посетил» / «Не пришёл»."""
    event = fund.event("Мастер-класс", timedelta(hours=-1), timedelta(seconds=3))
    (first, second) = fund.orders(event, {"status": "paid", "tickets": [ticket("Анна", "Иванова", "anna@example.org")]},
                                  {"status": "paid", "tickets": [ticket("Борис", "Петров", "boris@example.org")]})  # fmt: skip
    assert fund.hook(first)[0]["status"] == 200
    fund.app.run_jobs()
    assert fund.stage(fund.items()[0]) == "B24_PAID"  # before the end
    fund.control("PATCH", f"/orders/{first['id']}", json={"checkin": True})
    time.sleep(4)
    queues = [Queue(name, connection=fund.app.redis) for name in QUEUES]
    SimpleWorker(queues, connection=fund.app.redis).work(burst=True, with_scheduler=True)
    fund.app.run_jobs()  # the sync's own job, queued by the end-of-event job
    assert sorted(fund.by_contact().values()) == ["FAIL", "SUCCESS"]


def test_a_token_timepad_refuses_ends_the_job_with_its_reason(fund):
    """A token without view_visitors: the job stops without retries and the app page lists why."""
    from b24app import jobs

    seed_fixture_order(fund)
    org = fund.control("POST", "/organizations", json={"name": "Без прав", "permissions": []})
    with context.registry().change(fund.portal.member_id) as record:
        record.settings["timepad_token"] = org["token"]
    assert post(fund, (FIXTURES / "ticket_hook.json").read_bytes()).status_code == 200
    fund.app.run_jobs()
    assert fund.items() == []
    (failure,) = jobs.failures(fund.portal.member_id)
    assert "view_visitors" in failure["reason"] or "не найдено" in failure["reason"]
