"""The app inside the sandbox portal in real headless Chromium, as a fund's admin meets it: two saves in a
row, a portal error shown as a page in Russian, the install status refreshing itself into «Готово», LANG=en
giving an English page, review reasons in words. ``B24APP_SCREENS=1`` also writes the PNGs in docs/screens/
that the README shows (the app page, the review page, an error page)."""

import json
import os
import re
import time
from pathlib import Path

import pytest
import time_machine

from b24app.installation import PICKUP
from b24app.portals import portal_key

pytestmark = pytest.mark.browser
SCREENS = Path(__file__).resolve().parents[1] / "docs" / "screens"
CYRILLIC = re.compile("[а-яА-ЯёЁ]")
QUOTED = re.compile("«[^»]*»")


def shoot(page, name: str) -> None:
    """Write docs/screens/<name>.png when asked (B24APP_SCREENS=1): the whole portal page with the iframe."""
    if os.environ.get("B24APP_SCREENS") == "1":
        SCREENS.mkdir(parents=True, exist_ok=True)
        page.wait_for_timeout(500)  # the iframe's resize message (BX24.resizeWindow) lands
        page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)


def installed(portal, app_server, run: bool = True) -> None:
    portal.control(
        "POST", "/install", json={"client_id": app_server.client_id, "flow": "ui", "finish": True}
    )
    if run:
        app_server.run_jobs()


def open_app(
    page,
    sandbox,
    member_id: str,
    client_id: str,
    lang: str = "ru",
    ready: str = "#template-summary",
):
    """Open the LEFT_MENU placement as a user clicking it in the portal would (``lang``: the user's LANG)."""
    page.goto(f"{sandbox.url}/portal/{member_id}/app/{client_id}?placement=LEFT_MENU&lang={lang}")
    page.wait_for_selector("iframe[name=appframe]", state="attached")
    frame = page.frame(name="appframe")
    frame.wait_for_selector(ready)
    return frame


def test_two_saves_in_a_row_say_saved_then_nothing_changed(sandbox, portal, app_server, page):
    """The first save says «Сохранено», the same form again «Ничего не изменилось» (both from /app/settings,
    not a relative /app/app/... 404); a sender that is «просто текст» is refused naming the format."""
    installed(portal, app_server)
    frame = open_app(page, sandbox, portal.member_id, app_server.client_id)
    frame.fill("input[name=letter_sender]", "Фонд «Добро» <hello@dobro.example>")
    frame.click("#save")
    frame.wait_for_selector("#saved")
    assert frame.inner_text("#saved") == "Сохранено" and frame.url.endswith("/app/settings")
    shoot(page, "app-page")
    frame.click("#save")
    frame.wait_for_selector("#saved >> text=Ничего не изменилось")
    assert frame.url.endswith("/app/settings")
    frame.click("#open-review")
    frame.wait_for_selector("#figures")
    assert frame.url.endswith("/app/review")
    frame = open_app(page, sandbox, portal.member_id, app_server.client_id)
    frame.eval_on_selector("input[name=letter_sender]", "el => el.removeAttribute('pattern')")
    frame.fill("input[name=letter_sender]", "просто текст")
    frame.click("#save")
    frame.wait_for_selector("#refused")
    assert frame.inner_text("#refused") == (
        "Не сохранено: «Отправитель писем»: «просто текст» — не подходит. "
        "Имя и адрес в угловых скобках: Фонд «Добро» <hello@dobro.example>"
    )


def test_a_portal_error_is_a_page_in_russian_with_a_request_id(sandbox, portal, app_server, page):
    """The portal answers 503 to the ``profile`` call made while the page opens: the iframe shows what
    happened and what to do in Russian, with the request number, never JSON."""
    installed(portal, app_server)
    portal.control("POST", "/faults", json={"method": "profile", "count": 2, "error": "INTERNAL_SERVER_ERROR",
                                            "status": 503})  # fmt: skip
    frame = open_app(page, sandbox, portal.member_id, app_server.client_id, ready="#error-title")
    assert frame.inner_text("#error-title") == "Битрикс24 сейчас не ответил"
    assert "Подождите минуту и обновите страницу" in frame.inner_text("#error-next")
    assert re.search(r"Номер запроса: [0-9a-f]{16}", frame.inner_text("#error-request"))
    body = frame.inner_text("body")
    assert '{"error"' not in body and "Unavailable" not in body.split("Подробности")[0]
    shoot(page, "error-page")


def test_the_install_status_refreshes_itself_into_ready(sandbox, portal, app_server, page):
    """Right after install (the template job queued, no worker yet) the page says it is setting up and
    refreshes itself; once a worker has run the job the same page turns into «Готово» by itself."""
    installed(portal, app_server, run=False)
    frame = open_app(page, sandbox, portal.member_id, app_server.client_id)
    assert frame.get_attribute("#install-status", "data-phase") == "applying"
    assert "Страница обновится сама" in frame.inner_text("#app-installed")
    app_server.run_jobs()
    frame.wait_for_selector("#install-status[data-phase=done]", timeout=20_000)
    assert frame.inner_text("#app-installed").startswith("Готово")
    assert "нет в портале: 0" in frame.inner_text("#template-summary")


def test_a_stalled_setup_is_said_in_words_with_a_retry(sandbox, portal, app_server, page):
    """No worker took the template job within a minute: the page says so, the portal's admins get one
    system notification (however often the page is opened), and «Повторить настройку» queues the job
    again; the worker then finishes it."""
    installed(portal, app_server, run=False)
    with time_machine.travel(
        time.time() + 2 * PICKUP, tick=True
    ):  # the queued job waited two minutes
        frame = open_app(page, sandbox, portal.member_id, app_server.client_id)
        assert frame.get_attribute("#install-status", "data-phase") == "stalled"
        assert "за минуту её не взял ни один обработчик" in frame.inner_text("#app-installed")
        notes = portal.control("GET", "/logs/notifications")
        assert (
            len(notes) == 1 and "очередь задач давно не движется" in notes[0]["message"]
        )  # told once
        frame = open_app(page, sandbox, portal.member_id, app_server.client_id)
        assert len(portal.control("GET", "/logs/notifications")) == 1
        frame.click("#retry-template")
        frame.wait_for_selector("#install-status[data-phase=applying]", state="attached")
    app_server.run_jobs()
    frame.wait_for_selector("#install-status[data-phase=done]", timeout=20_000)


def test_lang_en_gives_an_english_page(sandbox, portal, app_server, page):
    """The user's LANG=en (Bitrix24's LANG parameter): headings, labels, buttons and guides in English."""
    installed(portal, app_server)
    frame = open_app(page, sandbox, portal.member_id, app_server.client_id, lang="en")
    assert frame.inner_text("h1") == "Blago24 — a CRM for nonprofits"
    assert frame.inner_text("#save") == "Save" and frame.inner_text("#app-installed").startswith(
        "Ready"
    )
    for selector in ("h2", "#settings-form label", ".connector p", "button"):
        texts = frame.locator(selector).all_inner_texts()
        texts = [
            QUOTED.sub("", t) for t in texts
        ]  # «…»: a label of another service's own (Russian) UI
        assert texts and not [t for t in texts if CYRILLIC.search(t)], selector
    frame.click("#save")
    frame.wait_for_selector("#saved")
    assert frame.inner_text("#saved") == "Nothing changed"


def test_review_reasons_are_words_with_the_score_and_thresholds(sandbox, portal, app_server, page):
    """A pair waiting for review shows «совпали имя и фамилия; e-mail не указан … оценка 12 … порог»,
    not the matcher's codes."""
    installed(portal, app_server)
    a = portal.result("crm.contact.add", {"fields": {"NAME": "Мария", "LAST_NAME": "Иванова"}})
    b = portal.result("crm.contact.add", {"fields": {"NAME": "Мария", "LAST_NAME": "Иванова",
                                                     "PHONE": [{"VALUE": "+79161234567"}]}})  # fmt: skip
    entry = {"ids": [a, b], "score": 12, "reasons": "first_name_same +5; last_name_same +7 = 12 → review",
             "source": "intake", "entity": "contact"}  # fmt: skip
    app_server.redis.hset(portal_key(portal.member_id, "review"), f"{a}:{b}", json.dumps(entry))
    frame = open_app(page, sandbox, portal.member_id, app_server.client_id)
    frame.click("#open-review")
    frame.wait_for_selector(".entry .reasons")
    reasons = frame.inner_text(".entry .reasons")
    assert reasons.startswith("совпали имя и фамилия; e-mail не указан")
    assert "оценка 12: на проверку (порог проверки 12, порог объединения 20)" in reasons
    assert "first_name_same" not in reasons
    iframe = page.locator("iframe[name=appframe]")
    page.wait_for_function(
        "() => document.querySelector('iframe[name=appframe]').offsetHeight < 1500"
    )
    content = frame.evaluate("() => document.body.getBoundingClientRect().height")
    assert (
        content < iframe.bounding_box()["height"] < content + 200
    )  # the iframe fits, down from the app page
    shoot(page, "review-page")
