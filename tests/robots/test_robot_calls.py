"""Robot calls (bitrix24-rest.md §5.2): the form the portal posts, believed only once Bitrix24 confirms its
access token; queued once under its event_token; answered through ``bizproc.event.send`` (§5.3).

End to end on the sandbox: the template registers the robots (§5.1), the robot is fired on a real deal with
a real course product through the sandbox's control API (the portal's automation, §5.4), the letter is read
from the sandbox outbox and the run completed with its return values."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import requests
from rq import Queue

from b24app import context
from b24app.queue import QUEUES
from tests.lessons.school import REMINDER, School


@pytest.fixture
def school(portal, app_server):
    return School(portal, app_server)


def queued(redis) -> int:
    return sum(Queue(q, connection=redis).count for q in QUEUES) + sum(
        len(Queue(q, connection=redis).scheduled_job_registry) for q in QUEUES
    )


def form_of(school: School, code: str = REMINDER, **auth) -> dict:
    """A robot call shaped as §5.2's dump, for the school's portal."""
    record = context.registry().require(school.portal.member_id)
    return {
        "workflow_id": "664fa13bbbb410.99176768",
        "code": code,
        "document_id[0]": "crm",
        "document_id[1]": "CCrmDocumentDeal",
        "document_id[2]": "DEAL_1",
        "document_type[0]": "crm",
        "document_type[1]": "CCrmDocumentDeal",
        "document_type[2]": "DEAL",
        "event_token": "664fa13bbbb410.99176768|A40364_79843_85254_57332|MS1ek2e90",
        "properties[offset_hours]": "2",
        "properties[template]": "lesson_reminder",
        "use_subscription": "Y",
        "timeout_duration": "660",
        "ts": "1716494651",
        "auth[access_token]": "4baf4f66forged",
        "auth[expires_in]": "3600",
        "auth[domain]": record.domain,
        "auth[server_endpoint]": record.server_endpoint,
        "auth[client_endpoint]": record.client_endpoint,
        "auth[member_id]": record.member_id,
        "auth[user_id]": "1",
        "auth[application_token]": record.application_token,
        **{f"auth[{k}]": v for k, v in auth.items()},
    }


def test_the_template_registers_both_robots(school):
    """Install registers the robots with bizproc.robot.add (§5.1) on the app's own handler."""
    client = context.client(
        school.portal.member_id
    )  # robots are seen only in the app's own context
    assert set(client.call("bizproc.robot.list")) == {
        "blago24_lesson_reminder",
        "blago24_donor_totals",
    }
    installs = school.portal.sandbox.world.portal(school.portal.member_id).install(
        school.app.client_id
    )
    robot = installs["robots"][REMINDER]
    assert robot["HANDLER"] == f"{school.app.url}/robots/{REMINDER}"
    assert set(robot["RETURN_PROPERTIES"]) == {"scheduled_count", "next_reminder_at"}


def test_a_forged_application_token_is_401_and_nothing_queued(school):
    resp = requests.post(
        f"{school.app.url}/robots/{REMINDER}",
        data=form_of(school, application_token="f9ac5db5"),
        timeout=10,
    )
    assert resp.status_code == 401, resp.text
    assert queued(school.app.redis) == 0


def test_an_unconfirmed_access_token_is_401_and_nothing_queued(school):
    """The application token is right (every user's page has it) but the OAuth server does not know the
    access token: 401, nothing queued (§1.6)."""
    resp = requests.post(f"{school.app.url}/robots/{REMINDER}", data=form_of(school), timeout=10)
    assert resp.status_code == 401, resp.text
    assert "token" in resp.json()["message"].lower()
    assert queued(school.app.redis) == 0


def test_an_unknown_robot_code_is_404(school):
    resp = requests.post(
        f"{school.app.url}/robots/blago24_nothing", data=form_of(school, code="x"), timeout=10
    )
    assert resp.status_code == 404
    assert queued(school.app.redis) == 0


def test_a_bad_property_is_400_naming_it(school):
    resp = requests.post(
        f"{school.app.url}/robots/{REMINDER}",
        data={**form_of(school), "properties[offset_hours]": "two"},
        timeout=10,
    )
    assert resp.status_code == 400 and "offset_hours" in resp.text
    assert queued(school.app.redis) == 0


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds")


def test_end_to_end_the_robot_schedules_sends_and_answers(school):
    """A course with a lesson in one hour (sooner than the 2-hour offset: its reminder goes at once) and
    one in three days: the run completes with scheduled_count 2 and the next reminder's time; the first
    letter is in the outbox, naming the course, and the deal's timeline says so."""
    now = datetime.now(UTC).replace(microsecond=0)
    soon, later = now + timedelta(hours=1), now + timedelta(days=3)
    course = school.course("Основы волонтёрства", [iso(soon), iso(later)])
    deal = school.enrol(course)
    run = school.fire(deal)
    assert run["status"] == "completed", run
    assert run["return_values"]["scheduled_count"] == "2"
    next_at = datetime.fromisoformat(run["return_values"]["next_reminder_at"])
    assert next_at == later - timedelta(hours=2)
    assert next_at.utcoffset() == timedelta(hours=3)  # the portal's zone, Europe/Moscow
    [letter] = school.reminders()
    assert letter["to"] == ["anna@example.org"]
    assert "Основы волонтёрства" in letter["body"]
    assert soon.astimezone(next_at.tzinfo).strftime("%H:%M") in letter["body"]
    assert any("напоминание о занятии" in c for c in school.comments(deal))


def test_the_donor_totals_robot_returns_total_and_segment(school):
    """A donor with one successful gift of 1 500 ₽ today: the robot on that deal writes their totals and
    answers total 1500.00 and segment «Новый» through bizproc.event.send."""
    ids = context.registry().require(school.portal.member_id).settings["template_ids"]
    online = int(ids["pipelines"]["B24_ONLINE"])
    contact = school.portal.result("crm.contact.add", {"fields": {"NAME": "Пётр"}})
    deal = school.portal.result(
        "crm.deal.add",
        {
            "fields": {
                "TITLE": "Пожертвование",
                "CONTACT_ID": contact,
                "CATEGORY_ID": online,
                "STAGE_ID": f"C{online}:WON",
                "OPPORTUNITY": "1500.00",
                "CURRENCY_ID": "RUB",
                "BEGINDATE": datetime.now(UTC).date().isoformat(),
            }
        },
    )
    run = school.fire(deal, code="blago24_donor_totals")
    assert run["status"] == "completed", run
    assert run["return_values"]["segment"] == "Новый"
    assert Decimal(run["return_values"]["total"]) == Decimal("1500")
    donor = school.portal.result("crm.contact.get", {"id": contact})
    assert Decimal(str(donor["UF_CRM_B24_GIFTS_SUM"]).split("|")[0]) == Decimal("1500")


def test_the_app_page_lists_the_robots_and_an_edited_reminder_is_what_goes(school):
    """The app page names each robot with its pipeline and stage; the reminder's text edited there (like
    the donor letters) is the letter the participant gets."""
    from b24app.signing import sign

    record = context.registry().require(school.portal.member_id)
    token = sign(
        "test-secret-key",
        "settings-form",
        {"m": record.member_id, "i": record.install_id, "u": "1"},
    )
    page = requests.post(
        f"{school.app.url}/app/letters/save",
        data={
            "token": token,
            "kind": "lesson_reminder",
            "subject": "Занятие {{ lesson_date }}",
            "body": "Курс «{{ course }}» начнётся в {{ lesson_time }}.",
        },
        timeout=10,
    )
    assert page.status_code == 200 and "Шаблон не сохранён" not in page.text
    assert "Напомнить о занятиях" in page.text and "«Обучение» → «Записан»" in page.text
    assert "Пересчитать итоги донора" in page.text
    lesson = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=90)
    deal = school.enrol(school.course("Керамика", [iso(lesson)]))
    school.fire(deal)
    [letter] = school.reminders()
    assert letter["subject"].startswith("Занятие ")
    assert (
        f"Курс «Керамика» начнётся в {lesson.astimezone(ZoneInfo('Europe/Moscow')):%H:%M}."
        in letter["body"]
    )
