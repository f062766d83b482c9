"""The Timepad client and the ticket rules, against recorded API answers (``responses``; Timepad is a
third-party API). Shapes and behaviour from external-services.md §1.1-1.3; stages from issue 16."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
import responses
from responses import matchers

from b24app.timepad import (
    ABSENT,
    ATTENDED,
    CANCELLED,
    PAID,
    REGISTERED,
    Event,
    best_stage,
    counts_as_visit,
    parse_time,
    stage_of,
    tickets_of,
    used_checkin,
)
from b24app.timepad.client import TimepadClient, TimepadError

API = "https://api.timepad.ru"


def order(n: int, status: str = "paid", **ticket) -> dict:
    return {"id": 4955000 + n, "status": {"name": status, "title": "оплачено"}, "mail": f"buyer{n}@example.org",
            "event": {"id": 215813}, "answers": {},
            "tickets": [{"id": 83845000 + n, "answers": {"mail": f"p{n}@example.org", "name": "Анна",
                                                         "surname": "Иванова"}, **ticket}]}  # fmt: skip


@responses.activate
def test_orders_are_paged_by_250_with_the_bearer_token():
    """§1.2: orders paged with limit 250 and skip until a short page; ``Authorization: Bearer``."""
    auth = matchers.header_matcher({"Authorization": "Bearer tok-123"})
    for skip, count in ((0, 250), (250, 250), (500, 3)):
        responses.get(f"{API}/v1/events/215813/orders", match=[auth, matchers.query_param_matcher(
            {"limit": "250", "skip": str(skip)})], json={"total": 503, "values": [order(skip + i) for i in range(count)]})  # fmt: skip
    client = TimepadClient(API, "tok-123")
    got = list(client.orders(215813))
    assert len(got) == 503 and client.requests == 3 and len({o["id"] for o in got}) == 503


@responses.activate
def test_events_of_an_organisation_at_most_100_and_lenient_dates():
    """§1.2 events list (limit 1-100); §1.1 dates as ``+0300`` without a colon; ``ends_at`` may be missing."""
    responses.get(f"{API}/v1/events", match=[matchers.query_param_matcher(
        {"organization_ids": "29963", "limit": "100", "sort": "-starts_at"})], json={"total": 2, "values": [
        {"id": 1, "name": "Лекция", "starts_at": "2024-05-20T19:00:00+0300", "organization": {"id": 29963}},
        {"id": 2, "name": "Семинар", "starts_at": "2024-05-21T10:00:00+0300", "ends_at": "2024-05-21T18:00:00+0300"}]})  # fmt: skip
    lecture, seminar = TimepadClient(API, "t").events(29963, limit=500)
    assert lecture.starts_at == datetime(2024, 5, 20, 16, 0, tzinfo=UTC) and lecture.ends_at is None
    assert lecture.end(3) == datetime(2024, 5, 20, 19, 0, tzinfo=UTC)
    assert seminar.end(3) == datetime(2024, 5, 21, 15, 0, tzinfo=UTC)


@responses.activate
def test_a_403_is_put_in_words():
    """§1.1: without ``view_visitors`` the orders endpoint answers 403 ``{"response_status": {...}}``."""
    responses.get(f"{API}/v1/events/215813/orders", status=403,
                  json={"response_status": {"message": "Token required"}})  # fmt: skip
    with pytest.raises(TimepadError, match="view_visitors") as caught:
        TimepadClient(API, "t").orders_page(215813)
    assert "Token required" in str(caught.value) and not caught.value.retryable


@responses.activate
def test_outages_are_retryable_and_a_404_is_not():
    responses.get(f"{API}/v1/events/1", status=502, body="Bad Gateway")
    responses.get(
        f"{API}/v1/events/2", status=404, json={"response_status": {"message": "not found"}}
    )
    with pytest.raises(TimepadError) as outage:
        TimepadClient(API, "t").event(1)
    assert outage.value.retryable
    with pytest.raises(TimepadError) as missing:
        TimepadClient(API, "t").event(2)
    assert missing.value.status == 404 and not missing.value.retryable


def test_no_token_is_refused_in_words():
    with pytest.raises(TimepadError, match="токен"):
        TimepadClient(API, "")


@pytest.mark.parametrize("text, expected", [
    ("2024-05-20T19:00:00+0300", datetime(2024, 5, 20, 19, 0, tzinfo=timezone(timedelta(hours=3)))),
    ("2024-05-20T19:00:00+03:00", datetime(2024, 5, 20, 19, 0, tzinfo=timezone(timedelta(hours=3)))),
    ("2024-05-20T16:00:00Z", datetime(2024, 5, 20, 16, 0, tzinfo=UTC)),
    ("2015-07-24 19:04:37", datetime(2015, 7, 24, 16, 4, 37, tzinfo=UTC)),  # no offset: Moscow
    ("", None), (None, None), ("завтра", None), (20240520, None),
])  # fmt: skip
def test_times_are_read_leniently(text, expected):
    assert parse_time(text) == expected


def test_tickets_take_names_from_answers_and_check_in_from_attendance():
    """§1.3: a ticket's answers (mail, name, surname); checked in = ``attendance.starts_at`` or ``attended``."""
    got = tickets_of(
        order(1, attendance={"starts_at": "2024-05-20T19:05:00+0300", "ends_at": None})
    )
    assert got[0].email == "p1@example.org" and got[0].last == "Иванова" and got[0].attended
    assert not tickets_of(order(2, attendance={"starts_at": None, "ends_at": None}))[0].attended
    assert tickets_of(order(3, attended=True))[0].attended
    assert tickets_of(order(4, status_raw_name="returned"))[0].status == "returned"
    assert tickets_of({"id": "x", "tickets": "nope"}) == []


@pytest.mark.parametrize("status, ended, checkin, attended, stage", [
    *[(s, e, c, a, CANCELLED) for s in ("notpaid", "inactive", "rejected", "deleted", "blocked", "return_org",
                                        "return_tp", "returned") for e, c, a in ((False, False, False), (True, True, True))],
    *[(s, False, False, False, PAID) for s in ("paid", "paid_offline", "paid_ur", "transfer_payment",
                                               "return_payment_request", "return_payment_reject")],
    *[(s, False, False, False, REGISTERED) for s in ("booked", "booked_offline", "pending", "ok")],
    ("paid", True, True, True, ATTENDED), ("booked", True, True, True, ATTENDED),
    ("paid", True, True, False, ABSENT), ("booked", True, True, False, ABSENT),
    ("paid", True, False, False, PAID), ("booked", True, False, False, REGISTERED),
])  # fmt: skip
def test_the_stage_table(status, ended, checkin, attended, stage):
    """Issue 16's table: cancelled at any time; before the end paid/registered; after the end with
    check-in attended or not; without check-in the ticket keeps its stage."""
    (t,) = tickets_of(order(1, status, attended=attended))
    assert stage_of(t, ended, checkin) == stage


def test_the_best_outcome_and_what_counts_as_a_visit():
    assert best_stage([CANCELLED, ABSENT, REGISTERED]) == REGISTERED
    assert best_stage([PAID, ATTENDED]) == ATTENDED and best_stage([CANCELLED, ABSENT]) == ABSENT
    assert counts_as_visit(ATTENDED, True, True) and not counts_as_visit(ABSENT, True, True)
    assert counts_as_visit(PAID, True, False) and counts_as_visit(REGISTERED, True, False)
    assert not counts_as_visit(PAID, False, False) and not counts_as_visit(CANCELLED, True, False)
    tickets = tickets_of(order(1)) + tickets_of(order(2, attended=True))
    assert used_checkin(tickets) and not used_checkin(tickets[:1])
    assert Event.of({"id": "7", "starts_at": "bad"}).end(3) is None
