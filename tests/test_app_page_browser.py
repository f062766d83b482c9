"""The app page in real headless Chromium, opened through a sandbox placement (bitrix24-rest.md §1.2, §7)."""

import pytest

from b24app import context

pytestmark = pytest.mark.browser


def open_app(page, sandbox, member_id: str, client_id: str):
    """Open the LEFT_MENU placement the installer bound, as a user clicking it in the portal would."""
    page.goto(f"{sandbox.url}/portal/{member_id}/app/{client_id}?placement=LEFT_MENU")
    page.wait_for_selector("iframe[name=appframe]", state="attached")
    frame = page.frame(name="appframe")
    frame.wait_for_selector("#template-summary")
    return frame


def test_app_page_shows_template_status_and_keeps_settings(sandbox, portal, app_server, page):
    """Template status item by item; settings saved through the form (signed token) survive a reload."""
    portal.control(
        "POST", "/install", json={"client_id": app_server.client_id, "flow": "ui", "finish": True}
    )
    app_server.run_jobs()
    frame = open_app(page, sandbox, portal.member_id, app_server.client_id)
    assert "нет в портале: 0" in frame.inner_text("#template-summary")
    status = frame.text_content("#template-status")
    assert "Электронные пожертвования" in status and "Участие в мероприятиях" in status
    assert "нет / missing" not in status
    key = context.registry().require(portal.member_id).key
    assert f"/hooks/{key}/cloudpayments" in frame.inner_text("#webhooks")
    assert f"/hooks/{key}/leyka" in frame.inner_text("#webhooks")
    assert frame.get_attribute("#download-leyka", "href") == "/app/leyka-bridge.zip"

    frame.fill("input[name=letter_sender]", "Фонд «Добро» <hello@dobro.example>")
    frame.fill("input[name=cloudpayments_secret]", "cp-api-secret")
    frame.select_option("select[name=letter_channel]", "smtp")
    frame.click("#save")
    frame.wait_for_selector("#saved")

    frame = open_app(page, sandbox, portal.member_id, app_server.client_id)
    assert frame.input_value("input[name=letter_sender]") == "Фонд «Добро» <hello@dobro.example>"
    assert frame.input_value("select[name=letter_channel]") == "smtp"
    assert (
        frame.input_value("input[name=cloudpayments_secret]") == ""
    )  # secrets are never echoed back
    assert "задан" in frame.get_attribute("input[name=cloudpayments_secret]", "placeholder")
    stored = context.registry().require(portal.member_id).settings
    assert stored["cloudpayments_secret"] == "cp-api-secret" and stored["letter_channel"] == "smtp"


def test_settings_post_without_a_valid_token_is_refused(app_server):
    """CSRF: a settings POST without the page's signed token (or with a forged one) is 401, nothing saved."""
    import requests

    for token in ("", "forged.token"):
        resp = requests.post(app_server.url + "/app/settings", data={"token": token, "letter_channel": "smtp"},
                             timeout=10)  # fmt: skip
        assert resp.status_code == 401
