"""Lesson reminders with a controlled clock (time-machine): schedule, send, a second fire, reschedule,
cancel, crash and restart, a lesson closer than the offset, a portal in Asia/Novosibirsk and a DST change
in Europe/Berlin. The robot is fired through the sandbox's control API (bitrix24-rest.md §5.2, §5.4);
RQ's scheduler is stood in for by ``School.run_due`` (jobs due by the clock moved to their queue), except
in the crash test, which runs real ``b24app worker`` processes with their own scheduler."""

import json
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from b24app import context
from b24app.lessons import key
from tests.conftest import kill_group, lose_answer, start_worker
from tests.lessons.school import School

START = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
MOSCOW = ZoneInfo("Europe/Moscow")


def iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=True) as traveller:
        yield traveller


@pytest.fixture
def school(clock, portal, app_server):
    return School(portal, app_server)


def states(school: School, deal: int) -> list[str]:
    raw = school.app.redis.hgetall(key(school.portal.member_id, "deal", deal))
    return sorted(json.loads(v)["state"] for v in raw.values())


def test_schedule_send_and_a_second_fire(school, clock):
    """Two future lessons: two reminders, none sent yet; a second fire creates nothing; each goes once
    at lesson − 2 h, naming the lesson's time in Moscow; running the due jobs again sends nothing more."""
    first, second = START + timedelta(days=1, hours=3), START + timedelta(days=8, hours=3)
    deal = school.enrol(school.course("Основы волонтёрства", [iso(first), iso(second)]))
    run = school.fire(deal)
    assert run["return_values"] == {
        "scheduled_count": "2",
        "next_reminder_at": iso((first - timedelta(hours=2)).astimezone(MOSCOW)),
    }
    assert school.reminders() == []
    again = school.fire(deal)
    assert again["return_values"]["scheduled_count"] == "0"
    assert states(school, deal) == ["pending", "pending"]
    clock.move_to(first - timedelta(hours=2, seconds=30))
    school.run_due()
    assert school.reminders() == []
    clock.move_to(first - timedelta(hours=2) + timedelta(seconds=1))
    school.run_due()
    school.run_due()
    [letter] = school.reminders()
    assert "15:00" in letter["body"] and "2 февраля 2027" in letter["body"]
    clock.move_to(second - timedelta(hours=1))
    school.run_due()
    assert len(school.reminders()) == 2
    assert states(school, deal) == ["sent", "sent"]
    assert len([c for c in school.comments(deal) if "напоминание о занятии" in c]) == 2


def test_changed_lesson_times_move_the_reminder(school, clock):
    """The course's lesson moves a day later (ONCRMPRODUCTUPDATE): nothing at the old time, one letter at
    the new time, with the new date."""
    old, new = START + timedelta(days=1), START + timedelta(days=2)
    course = school.course("Рисование", [iso(old)])
    deal = school.enrol(course)
    school.fire(deal)
    school.move_lessons(course, [iso(new)])
    school.deliveries()
    school.run_due()
    assert states(school, deal) == ["cancelled", "pending"]
    clock.move_to(old - timedelta(hours=1))
    school.run_due()
    assert school.reminders() == []
    clock.move_to(new - timedelta(hours=1, minutes=59))
    school.run_due()
    [letter] = school.reminders()
    assert "3 февраля 2027" in letter["body"]


def test_a_deal_leaving_the_active_stages_cancels(school, clock):
    """The deal moves to «Отказался» (ONCRMDEALUPDATE): its pending reminder is cancelled, no letter."""
    lesson = START + timedelta(days=1)
    deal = school.enrol(school.course("Рисование", [iso(lesson)]))
    school.fire(deal)
    school.move_deal(deal, "LOSE")
    school.deliveries()
    school.run_due()
    assert states(school, deal) == ["cancelled"]
    clock.move_to(lesson - timedelta(hours=1))
    school.run_due()
    assert school.reminders() == []


def test_the_due_time_recheck_skips_an_opted_out_contact(school, clock):
    """«Не отправлять письма» set after scheduling: the reminder is skipped at its time."""
    lesson = START + timedelta(days=1)
    deal = school.enrol(school.course("Рисование", [iso(lesson)]))
    school.fire(deal)
    contact = school.portal.result("crm.deal.get", {"id": deal})["CONTACT_ID"]
    school.portal.result(
        "crm.contact.update", {"id": contact, "fields": {"UF_CRM_B24_NO_EMAIL": "Y"}}
    )
    clock.move_to(lesson - timedelta(hours=1))
    school.run_due()
    assert school.reminders() == [] and states(school, deal) == ["skipped"]


def test_a_lesson_closer_than_the_offset_goes_at_once_and_a_started_one_gets_none(school):
    started, soon = START - timedelta(minutes=10), START + timedelta(hours=1)
    deal = school.enrol(school.course("Йога", [iso(started), iso(soon)]))
    run = school.fire(deal)
    assert run["return_values"] == {"scheduled_count": "1", "next_reminder_at": ""}
    [letter] = school.reminders()
    assert "13:00" in letter["body"]  # 10:00 UTC in Moscow


def test_a_portal_in_novosibirsk_reads_zone_less_times_in_its_zone(portal, app_server, clock):
    """Zone-less «Даты занятий» are Novosibirsk time: 10:00 there is 03:00 UTC, the reminder is due at
    01:00 UTC, and the letter says 10:00."""
    school = School(portal, app_server, timezone="Asia/Novosibirsk")
    deal = school.enrol(school.course("Английский", ["2027-02-03T10:00:00"]))
    run = school.fire(deal)
    assert run["return_values"]["next_reminder_at"] == "2027-02-03T08:00:00+07:00"
    clock.move_to(datetime(2027, 2, 3, 0, 59, 30, tzinfo=UTC))
    school.run_due()
    assert school.reminders() == []
    clock.move_to(datetime(2027, 2, 3, 1, 0, 1, tzinfo=UTC))
    school.run_due()
    [letter] = school.reminders()
    assert "10:00" in letter["body"] and "3 февраля 2027" in letter["body"]


def test_a_dst_change_in_berlin_between_reminder_and_lesson(portal, app_server, clock):
    """Berlin moves to summer time at 02:00 on 28 March 2027. A lesson at 03:30 that morning (CEST, 01:30
    UTC) is reminded two real hours earlier: 23:30 UTC on the 27th (00:30 CET), not at 01:30 wall time."""
    clock.move_to(datetime(2027, 3, 27, 9, 0, tzinfo=UTC))
    school = School(portal, app_server, timezone="Europe/Berlin")
    deal = school.enrol(school.course("Schwimmen", ["2027-03-28T03:30:00"]))
    run = school.fire(deal)
    assert run["return_values"]["next_reminder_at"] == "2027-03-28T00:30:00+01:00"
    clock.move_to(datetime(2027, 3, 27, 23, 29, 30, tzinfo=UTC))
    school.run_due()
    assert school.reminders() == []
    clock.move_to(datetime(2027, 3, 27, 23, 30, 1, tzinfo=UTC))
    school.run_due()
    [letter] = school.reminders()
    assert "03:30" in letter["body"] and "28 марта 2027" in letter["body"]


def test_a_lost_answer_of_the_send_is_not_sent_again(school, clock, monkeypatch):
    """The letter's batch is applied but its answer lost (a crash between send and mark): the retry finds
    the letter by its ORIGIN_ID and marks it sent; one letter, one comment."""
    lesson = START + timedelta(days=1)
    deal = school.enrol(school.course("Рисование", [iso(lesson)]))
    school.fire(deal)
    lost = lose_answer(monkeypatch, "batch", "crm.activity.add")
    clock.move_to(lesson - timedelta(hours=1))
    school.run_due()
    assert lost and states(school, deal) == ["sending"]
    clock.shift(
        timedelta(seconds=15)
    )  # the retry policy's first interval: the reminder is still held
    school.run_due()
    assert states(school, deal) == ["sending"]
    clock.shift(timedelta(seconds=100))  # its drainer counts as dead: taken over, looked up
    school.run_due()
    assert len(school.reminders()) == 1 and states(school, deal) == ["sent"]
    assert len([c for c in school.comments(deal) if "напоминание о занятии" in c]) == 1


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout} s")


def test_sigkill_mid_send_and_a_scheduler_restart_send_exactly_once(portal, crash_app, tmp_path):
    """Real workers: the first is killed before the reminder is due (its scheduler with it), the second's
    scheduler starts the reminder, and is SIGKILLed while the letter's batch is in flight (the sandbox still
    applies it); a third worker resumes the abandoned job, finds the letter by ORIGIN_ID: one letter. (RQ
    gives a killed scheduler's lock 61 s, so the reminder is that much late; the test allows for it.)"""
    with open(tmp_path / "worker.log", "w") as log:
        school_worker = start_worker(crash_app, log)
        try:
            school = School.__new__(School)
            school.portal, school.app = portal, crash_app
            portal.control(
                "POST",
                "/install",
                json={"client_id": crash_app.client_id, "flow": "ui", "finish": True},
            )
            wait_for(
                lambda: (
                    (context.registry().get(portal.member_id) or None) is not None
                    and context.registry().get(portal.member_id).template_version
                ),
                60,
                "template applied",
            )
            School.__init__(
                school, portal, crash_app
            )  # install again is a no-op; reads the template ids
            lesson = datetime.now(UTC) + timedelta(hours=2, seconds=12)
            deal = school.enrol(school.course("Рисование", [lesson.isoformat()]))
            school.fire(deal, run=False)
            wait_for(lambda: states(school, deal) == ["pending"], 30, "reminder scheduled")
            kill_group(school_worker)  # its scheduler dies with it, before the reminder is due
            portal.control("POST", "/faults", json={"method": "batch", "latency": 4, "count": 3})
            school_worker = start_worker(crash_app, log)
            # a killed scheduler's lock lives 61 s and a running worker retries it every 120 s (RQ's
            # defaults): the reminder is late then, never lost or doubled
            wait_for(
                lambda: states(school, deal) == ["sending"], 240, "the letter's batch in flight"
            )
            kill_group(school_worker)
            school_worker = start_worker(crash_app, log)
            wait_for(lambda: states(school, deal) == ["sent"], 300, "the resumed job marks it sent")
            assert len(school.reminders()) == 1
        finally:
            kill_group(school_worker)
