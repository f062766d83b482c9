"""What a person meets outside the happy path, over real HTTP: error pages in the user's language with a
request id (browser routes) while webhooks and scripts keep JSON; the root page; validated settings and
«Ничего не изменилось»; «Повторить настройку»; the Timepad page for admins only, its token never from a
query string; recent activity masked; alerts to the portal's admins once (``im.notify.system.add``,
bitrix24-rest.md §4.9, as the sandbox portal logs it)."""

import json
import re

import pytest
import requests

from b24app import activity, context
from b24app.portals import portal_key
from tests.test_trust import MANAGER, install, open_page

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def installed(sandbox, portal, app_server):
    install(portal, app_server)
    return portal


def admin_token(sandbox, portal, app_server) -> str:
    page = open_page(
        sandbox.world, portal.member_id, app_server.client_id, "1", app_server.url + "/app"
    )
    html = requests.post(page.url, data=page.form, timeout=15).text
    return re.search(r'name="token" value="([^"]+)"', html).group(1)


def test_a_browser_meets_pages_and_a_script_meets_json(app_server):
    """The same refused settings POST: a page in Russian (or English with LANG=en) with the request id for
    a browser; JSON for a script; a webhook stays JSON even for a browser."""
    page = requests.post(
        app_server.url + "/app/settings", data={"token": "forged"}, headers=BROWSER, timeout=10
    )
    assert page.status_code == 401 and page.headers["Content-Type"].startswith("text/html")
    assert (
        "Приложению не удалось подтвердить, кто вы" in page.text and "из меню портала" in page.text
    )
    assert (
        page.headers["X-Request-Id"] in page.text
        and "{" not in page.text.split("<body>")[1].split("<script")[0]
    )
    english = requests.post(app_server.url + "/app/settings?LANG=en", data={"token": "forged"}, headers=BROWSER,
                            timeout=10)  # fmt: skip
    assert "The app could not confirm who you are" in english.text and 'lang="en"' in english.text
    script = requests.post(app_server.url + "/app/settings", data={"token": "forged"}, timeout=10)
    assert script.status_code == 401 and script.json()["error"] == "Unauthorized"
    hook = requests.post(
        app_server.url + "/hooks/nosuch/cloudpayments/pay", data="x", headers=BROWSER, timeout=10
    )
    assert hook.status_code == 404 and hook.json()["error"] == "NotFound"


def test_unknown_paths_and_methods_are_pages_and_the_root_explains_the_app(app_server):
    """No framework page: a 404 and a 405 are pages saying where to go; the root says what the app is and
    gives the two paths a local app needs."""
    missing = requests.get(app_server.url + "/no/such/page", headers=BROWSER, timeout=10)
    assert (
        missing.status_code == 404
        and "Такой страницы нет" in missing.text
        and "левого меню" in missing.text
    )
    wrong = requests.get(app_server.url + "/app/settings", headers=BROWSER, timeout=10)
    assert wrong.status_code == 405 and "Такой страницы нет" in wrong.text
    root = requests.get(app_server.url + "/", headers=BROWSER, timeout=10)
    assert root.status_code == 200 and "Благо24" in root.text and "Как установить" in root.text
    assert f"{app_server.url}/install" in root.text and f"{app_server.url}/app" in root.text
    assert "права crm, user, bizproc, placement, im," in root.text  # the rights the app asks for
    assert "How to install it" in requests.get(app_server.url + "/?LANG=en", timeout=10).text


def test_sender_is_validated_and_an_unchanged_save_says_so(sandbox, installed, app_server):
    """«просто текст» as the sender: 400, the form again naming the field, nothing stored; the same valid
    values twice: «Сохранено», then «Ничего не изменилось»."""
    token = admin_token(sandbox, installed, app_server)
    url = app_server.url + "/app/settings"
    bad = requests.post(
        url, data={"token": token, "letter_sender": "просто текст"}, headers=BROWSER, timeout=10
    )
    assert (
        bad.status_code == 400 and "«Отправитель писем»: «просто текст» — не подходит" in bad.text
    )
    assert 'id="settings-form"' in bad.text and "просто текст" in bad.text
    assert "letter_sender" not in context.registry().require(installed.member_id).settings
    good = {
        "token": token,
        "letter_sender": "Фонд «Добро» <hello@dobro.example>",
        "letter_channel": "smtp",
    }
    first = requests.post(url, data=good, headers=BROWSER, timeout=10)
    assert first.status_code == 200 and '<p class="saved" id="saved">Сохранено</p>' in first.text
    second = requests.post(url, data=good, headers=BROWSER, timeout=10)
    assert '<p class="saved" id="saved">Ничего не изменилось</p>' in second.text


def test_retry_queues_the_template_again(sandbox, installed, app_server):
    """«Повторить настройку» (the admin's signed form) queues the template job; a forged form queues nothing."""
    token = admin_token(sandbox, installed, app_server)
    job = f"rq:job:template-{installed.member_id}"
    app_server.redis.delete(job)
    forged = requests.post(app_server.url + "/app/template/retry", data={"token": "x"}, timeout=10)
    assert forged.status_code == 401 and not app_server.redis.exists(job)
    resp = requests.post(
        app_server.url + "/app/template/retry", data={"token": token}, headers=BROWSER, timeout=10
    )
    assert resp.status_code == 200 and app_server.redis.exists(job)
    assert 'data-phase="applying"' in resp.text and 'id="refresh-form"' in resp.text


def test_the_timepad_page_is_for_admins_and_its_token_never_comes_from_a_query(
    sandbox, installed, app_server
):
    """A manager opening the Timepad placement gets a 403 page and no token; an admin's token in a query
    string is not accepted (405), in the POST body it is."""
    target = app_server.url + "/app/timepad"
    manager = open_page(sandbox.world, installed.member_id, app_server.client_id, MANAGER, target)
    refused = requests.post(manager.url, data=manager.form, headers=BROWSER, timeout=15)
    assert refused.status_code == 403 and "только администратор портала" in refused.text
    assert 'name="token"' not in refused.text
    token = admin_token(sandbox, installed, app_server)
    for path in ("/app/timepad/event", "/app/timepad/status"):
        query = requests.get(f"{app_server.url}{path}?token={token}&event_id=1", timeout=10)
        assert query.status_code == 405, path
    body = requests.post(
        app_server.url + "/app/timepad/status", data={"token": token, "event_id": "1"}, timeout=10
    )
    assert body.status_code == 200 and "phase" in body.json()


def test_recent_activity_is_capped_and_masks_personal_data(redis):
    """Fifty entries kept, newest first; e-mails, phones and names never stored as they were."""
    for n in range(60):
        activity.record(redis, "m1", "refused", source="leyka", reason=f"n{n}")
    activity.record(redis, "m1", "refused", source="cloudpayments",
                    reason="donor ivan.petrov@mail.example, +7 (912) 345-67-89", name="Иван Петров")  # fmt: skip
    stored = redis.lrange(portal_key("m1", "activity"), 0, -1)
    assert len(stored) == activity.KEPT
    raw = stored[0].decode()
    assert (
        "ivan.petrov" not in raw
        and "mail.example" not in raw
        and "345-67" not in raw
        and "Петров" not in raw
    )
    assert json.loads(raw)["values"]["name"] == "И. П."
    shown = activity.recent(redis, "m1", "ru")
    assert (
        shown[0]["text"].startswith("cloudpayments: уведомление отклонено")
        and "i***@m***.example" in shown[0]["text"]
    )
    assert activity.recent(redis, "m1", "en")[1]["text"] == "leyka: delivery refused: n59"


def test_an_alert_reaches_the_portals_admins_once_per_cause(sandbox, installed, app_server):
    """Letters failing: the installing admin gets one system notification, not one per failed letter; once
    the cause is cleared, a new failure is told again."""
    client = context.client(installed.member_id)
    for _ in range(3):
        activity.alert(
            app_server.redis,
            client,
            installed.member_id,
            "ru",
            "letters_failing",
            reason="SMTP 535",
        )
    notes = installed.control("GET", "/logs/notifications")
    assert len(notes) == 1 and notes[0]["user_id"] == 1
    assert "письма донорам не уходят (SMTP 535)" in notes[0]["message"]
    activity.clear(app_server.redis, installed.member_id, "letters_failing")
    activity.alert(
        app_server.redis, client, installed.member_id, "en", "letters_failing", reason="SMTP 535"
    )
    notes = installed.control("GET", "/logs/notifications")
    assert len(notes) == 2 and "donor letters are failing" in notes[1]["message"]
    texts = [a["text"] for a in activity.recent(app_server.redis, installed.member_id, "ru")]
    assert any(t.startswith("нужен человек") for t in texts)


def test_deliveries_accepted_and_refused_show_on_the_app_page(sandbox, portal, app_server):
    """A CloudPayments notification with a bad signature is refused and said why in the recent activity; a
    genuine one is accepted and its connector shows when it last received something."""
    from tests.handlers.test_cloudpayments import Fund, body

    fund = Fund(portal, app_server)
    forged = fund.deliver(
        "check", body("check"), headers={"Content-HMAC": "forged", "X-Content-HMAC": "forged"}
    )
    assert forged.status_code == 401
    token = admin_token(sandbox, portal, app_server)
    page = requests.post(
        app_server.url + "/app/refresh", data={"token": token}, headers=BROWSER, timeout=10
    ).text
    assert "cloudpayments: уведомление отклонено: signature does not match" in page
    assert 'id="received-cloudpayments">Пока ничего не получено.' in page
    assert fund.deliver("check", body("check")).status_code == 200
    page = requests.post(
        app_server.url + "/app/refresh", data={"token": token}, headers=BROWSER, timeout=10
    ).text
    assert "cloudpayments: уведомление принято" in page
    assert re.search(
        r'id="received-cloudpayments">Последнее уведомление получено: \d\d\.\d\d\.\d{4} \d\d:\d\d',
        page,
    )
