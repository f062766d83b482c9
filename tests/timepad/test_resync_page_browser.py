"""The resync page in real headless Chromium, opened through the smart process's list-toolbar placement
(bitrix24-rest.md §7.1: ``CRM_DYNAMIC_<entityTypeId>_LIST_TOOLBAR``), with a real worker running the sync."""

import contextlib

import pytest

from tests.conftest import kill_group, start_worker

from .world import TimepadFund, ticket

pytestmark = pytest.mark.browser


@pytest.fixture
def worker(app_server, tmp_path):
    log = open(tmp_path / "worker.log", "w")  # noqa: SIM115
    proc = start_worker(app_server, log)
    yield proc
    with contextlib.suppress(Exception):
        kill_group(proc)
    log.close()


def test_press_sync_watch_progress_read_summary(sandbox, portal, app_server, page, worker):
    """A finished event of 30 people (10 checked in, one refunded, 5 already contacts): the list shows it;
    «Синхронизировать» runs the sync with live progress to 100%; the summary counts and explains."""
    fund = TimepadFund(sandbox, portal, app_server)
    event = fund.event("Семинар для волонтёров")
    for n in range(5):
        portal.result("crm.contact.add", {"fields": {"NAME": "Ольга", "LAST_NAME": f"Старая{n}",
                                                     "EMAIL": [{"VALUE": f"old{n}@example.org"}]}})  # fmt: skip
    orders = [{"status": "returned" if n == 29 else "paid",
               "tickets": [ticket("Ольга" if n < 5 else f"Гость{n}", f"Старая{n}" if n < 5 else "Новый",
                                  f"old{n}@example.org" if n < 5 else f"guest{n}@example.org", attended=n % 3 == 0)]}
              for n in range(30)]  # fmt: skip
    fund.orders(event, *orders)
    code = f"CRM_DYNAMIC_{fund.etid}_LIST_TOOLBAR"  # bound by the template (the sandbox opens only bound ones)
    page.goto(
        f"{sandbox.url}/portal/{portal.member_id}/app/{app_server.client_id}?placement={code}"
    )
    page.wait_for_selector("iframe[name=appframe]", state="attached")
    frame = page.frame(name="appframe")
    frame.wait_for_selector(f"#event-{event['id']}")
    assert "Семинар для волонтёров" in frame.inner_text("#events")
    frame.click(f"#sync-{event['id']}")
    frame = page.frame(name="appframe")
    frame.wait_for_selector("#progress-box")
    frame = page.frame(name="appframe")
    frame.wait_for_selector("#summary", timeout=60_000)
    frame = page.frame(name="appframe")
    assert frame.inner_text("#percent") == "100%"
    assert frame.inner_text("#created") == "25" and frame.inner_text("#linked") == "5"
    assert "нового человека нет в CRM" in frame.inner_text("#reasons-created")
    assert "найден контакт" in frame.inner_text("#reasons-linked")
    assert "создано 25, привязано 5" in frame.inner_text(f"#event-{event['id']}")
    stages = sorted(fund.stage(i) for i in fund.items())
    assert (
        stages.count("SUCCESS") == 10 and stages.count("B24_CANCELLED") == 1 and len(stages) == 30
    )


def test_the_app_page_links_to_the_resync_page(sandbox, portal, app_server, page):
    """An admin's app page (LEFT_MENU) has «Синхронизировать мероприятия Timepad», which opens the page
    with the organisation's events read from Timepad."""
    fund = TimepadFund(sandbox, portal, app_server)
    event = fund.event("Лекция о волонтёрстве")
    page.goto(
        f"{sandbox.url}/portal/{portal.member_id}/app/{app_server.client_id}?placement=LEFT_MENU"
    )
    page.wait_for_selector("iframe[name=appframe]", state="attached")
    frame = page.frame(name="appframe")
    frame.wait_for_selector("#template-summary")
    frame.click("#open-timepad")
    frame = page.frame(name="appframe")
    frame.wait_for_selector(f"#event-{event['id']}")
    assert "Лекция о волонтёрстве" in frame.inner_text("#events")
    frame.fill("#event-id", "999999")
    frame.click("#sync-id")
    frame = page.frame(name="appframe")
    frame.wait_for_selector("#progress-box")
    assert "Синхронизация запущена" in frame.inner_text("#message")
