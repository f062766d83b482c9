"""The letter editor on the app page: live preview on the latest real donation, the variables, refusal on
save with line and reason, «вернуть текст по умолчанию», and «Отправить тестовое письмо» showing the
portal's refusal in words (bitrix24-rest.md §4.10); in real headless Chromium through the sandbox
placement, plus the routes' own answers to a forged token."""

import pytest
import requests

from b24app import context
from b24app.letters import Letter
from b24app.letters.store import template_of
from b24app.signing import sign
from tests.test_app_page_browser import open_app

NBSP = "\xa0"


def token_of(fund) -> str:
    portal = context.registry().require(fund.portal.member_id)
    return sign(
        "test-secret-key",
        "settings-form",
        {"m": portal.member_id, "i": portal.install_id, "u": "1"},
    )


def test_preview_save_reset_and_refusal_over_http(fund):
    """Preview renders on the latest donation (its amount and name); a template that does not render is
    refused with its line and reason and nothing is saved; a good one is saved and used; reset forgets it."""
    fund.pay("9001", amount="2750.00")
    fund.app.run_jobs()
    token, url = token_of(fund), fund.app.url
    shown = requests.post(url + "/app/letters/preview", data={"token": token, "kind": "thanks_again",
                          "subject": "Спасибо, {{ donor_name }}", "body": "Сумма: {{ amount }}"}, timeout=10).json()  # fmt: skip
    assert (
        shown["ok"]
        and shown["subject"] == "Спасибо, Анна"
        and f"2{NBSP}750,00{NBSP}₽" in shown["html"]
    )
    bad = requests.post(url + "/app/letters/preview", data={"token": token, "kind": "thanks_again", "subject": "x",
                        "body": "Строка\n{{ amount }\n"}, timeout=10).json()  # fmt: skip
    assert not bad["ok"] and bad["line"] == 2 and "строка 2" in bad["error"]
    page = requests.post(url + "/app/letters/save", data={"token": token, "kind": "thanks_again", "subject": "x",
                         "body": "Привет\n{{ amout }}"}, timeout=10)  # fmt: skip
    assert page.status_code == 200 and "Шаблон не сохранён" in page.text and "amout" in page.text
    assert template_of(fund.portal.member_id, Letter.THANKS_AGAIN) is None
    requests.post(url + "/app/letters/save", data={"token": token, "kind": "welcome_one_time",
                  "subject": "Спасибо, {{ donor_name }}!", "body": "Вы помогли на {{ amount }}."}, timeout=10)  # fmt: skip
    assert (
        template_of(fund.portal.member_id, Letter.WELCOME_ONE_TIME)["subject"]
        == "Спасибо, {{ donor_name }}!"
    )
    requests.post(
        url + "/app/letters/reset", data={"token": token, "kind": "welcome_one_time"}, timeout=10
    )
    assert template_of(fund.portal.member_id, Letter.WELCOME_ONE_TIME) is None
    for path in ("preview", "save", "reset", "test"):
        forged = requests.post(
            f"{url}/app/letters/{path}", data={"token": "forged", "kind": "refund"}, timeout=10
        )
        assert forged.status_code == 401


def test_a_saved_template_is_what_the_donor_gets(fund):
    """The fund's own text, saved on the page, is the next letter, with the unsubscribe link added."""
    requests.post(fund.app.url + "/app/letters/save", data={"token": token_of(fund), "kind": "welcome_one_time",
                  "subject": "{{ donor_name }}, спасибо!", "body": "Ваши {{ amount }} уже в работе."}, timeout=10)  # fmt: skip
    fund.pay("9002")
    fund.app.run_jobs()
    [mail] = fund.outbox()
    assert (
        mail["subject"] == "Анна, спасибо!" and f"Ваши 500,00{NBSP}₽ уже в работе." in mail["body"]
    )
    assert "/letters/unsubscribe/" in mail["body"]


@pytest.mark.browser
def test_letter_editor_in_the_app_page(fund, sandbox, page):
    """In Chromium: editing shows the preview live; a broken template is refused with its line; the
    default text comes back; the test letter's refusal by the portal is shown in words."""
    fund.pay("9003", amount="1500.00")
    fund.app.run_jobs()
    frame = open_app(page, sandbox, fund.portal.member_id, fund.app.client_id)
    assert f"1{NBSP}500,00{NBSP}₽" in frame.inner_text("#preview-body")
    assert "{{ unsubscribe_url }}" in frame.text_content("#letter-variables")
    frame.select_option("#letter-kind", "failed_one_time")
    frame.wait_for_function(
        "document.getElementById('preview-subject').textContent === 'Пожертвование не прошло'"
    )
    frame.fill("#letter-subject", "Не прошло, {{ donor_name }}")
    frame.wait_for_function(
        "document.getElementById('preview-subject').textContent === 'Не прошло, Анна'"
    )
    frame.fill("#letter-body", "Раз\nДва {% if %}\n")
    frame.wait_for_function(
        "document.getElementById('preview-error').textContent.includes('строка 2')"
    )
    frame.click("#save-letter")
    frame.wait_for_selector("#letter-error")
    assert "строка 2" in frame.inner_text("#letter-error")
    frame.fill("#letter-body", "{{ donor_name }}, платёж на {{ amount }} не прошёл: {{ reason }}.")
    frame.click("#save-letter")
    frame.wait_for_selector("#letter-saved")
    assert frame.input_value("#letter-kind") == "failed_one_time"
    assert "на карте недостаточно средств" in frame.inner_text("#preview-body")
    frame.click("#reset-letter")
    frame.wait_for_selector("#letter-reset")
    assert frame.input_value("#letter-subject") == "Пожертвование не прошло"

    fund.configure(letter_sender="Фонд <not-connected@dobro.example>")
    frame.fill("#test-to", "admin@dobro.example")
    frame.click("#send-test")
    frame.wait_for_selector("#test-error")
    assert '"From" is not found' in frame.inner_text("#test-error")
    fund.configure(letter_sender="Фонд «Добро» <hello@dobro.example>")
    frame.fill("#test-to", "admin@dobro.example")
    frame.click("#send-test")
    frame.wait_for_selector("#test-sent")
    assert (
        fund.outbox()[-1]["to"] == ["admin@dobro.example"]
        and "[Тест" in fund.outbox()[-1]["subject"]
    )


@pytest.mark.browser
def test_the_chosen_channel_shows_its_fields(fund, sandbox, page):
    """SMTP fields show only for smtp, Unisender's only for unisender."""
    frame = open_app(page, sandbox, fund.portal.member_id, fund.app.client_id)
    assert not frame.is_visible("input[name=smtp_host]") and not frame.is_visible(
        "input[name=unisender_list_id]"
    )
    frame.select_option("select[name=letter_channel]", "smtp")
    assert frame.is_visible("input[name=smtp_host]") and not frame.is_visible(
        "input[name=unisender_list_id]"
    )
    frame.select_option("select[name=letter_channel]", "unisender")
    assert frame.is_visible("input[name=unisender_list_id]") and not frame.is_visible(
        "input[name=smtp_host]"
    )


def test_the_test_letter_goes_to_one_address_at_most_ten_times_an_hour(fund):
    """«Отправить тестовое письмо» is for checking the channel: several recipients are refused in words,
    and the eleventh test letter in an hour is refused (it is not a way to mail anyone)."""
    fund.pay("9003")
    fund.app.run_jobs()
    sent_before = len(fund.outbox())
    form = {"token": token_of(fund), "kind": "welcome_one_time"}
    many = requests.post(fund.app.url + "/app/letters/test", timeout=10,
                         data=form | {"to": "a@example.org, b@example.org"})  # fmt: skip
    assert "give one address for the test letter" in many.text
    for _ in range(10):
        requests.post(
            fund.app.url + "/app/letters/test", data=form | {"to": "me@example.org"}, timeout=10
        )
    assert len(fund.outbox()) == sent_before + 10
    eleventh = requests.post(
        fund.app.url + "/app/letters/test", data=form | {"to": "me@example.org"}, timeout=10
    )
    assert (
        "at most 10 test letters an hour" in eleventh.text
        and len(fund.outbox()) == sent_before + 10
    )
