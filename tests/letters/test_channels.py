"""The SMTP channel against a real local SMTP server (aiosmtpd), reading what arrived; Unisender's
``sendEmail`` through `responses` (external-services.md §4.1–4.2): its form fields, and an ``error`` body
(a sender Unisender has not confirmed) kept as a permanent failure like the portal's refusal."""

import email
import email.policy
import re
import threading
from urllib.parse import parse_qs

import pytest
import responses
from aiosmtpd.controller import Controller

from b24app.letters.send import listed
from tests.conftest import free_port
from tests.letters.conftest import unsubscribe_link

NBSP = "\xa0"


class Inbox:
    """An aiosmtpd handler keeping each message (or refusing every recipient with ``refuse``)."""

    def __init__(self):
        self.messages: list[tuple[str, list[str], email.message.EmailMessage]] = []
        self.refuse = ""
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 Message accepted"


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture
def private_smtp(monkeypatch):
    """The deployment allows SMTP on private addresses (B24APP_SMTP_PRIVATE_HOSTS): the local server."""
    from b24app import context

    monkeypatch.setattr(context.settings(), "smtp_private_hosts", True)


def test_an_smtp_host_inside_the_network_is_refused(fund, smtp_server):
    """By default a portal admin's smtp_host may not be a loopback or private address, nor a port other
    than a mail port: the letter is a permanent failure saying so, and nothing reaches that server."""
    controller, inbox = smtp_server
    fund.configure(
        letter_channel="smtp",
        smtp_host="127.0.0.1",
        smtp_port=str(controller.port),
        smtp_tls="none",
    )
    fund.pay("8003")
    fund.app.run_jobs()
    [failure] = listed(fund.portal.member_id, "failures")
    assert "public host on port 25, 465, 587 or 2525" in failure["reason"] and inbox.messages == []


def test_smtp_letter_arrives_at_the_fund_smtp_server(fund, smtp_server, private_smtp):
    """letter_channel smtp: the welcome arrives at the SMTP server, From the fund, To the donor, with the
    amount, the name and the unsubscribe link (also as List-Unsubscribe); nothing goes through the portal."""
    controller, inbox = smtp_server
    fund.configure(
        letter_channel="smtp",
        smtp_host="127.0.0.1",
        smtp_port=str(controller.port),
        smtp_tls="none",
    )
    fund.pay("8001", amount="1500.00")
    fund.app.run_jobs()
    [(mail_from, rcpt, msg)] = inbox.messages
    assert mail_from == "hello@dobro.example" and rcpt == ["ivanova@example.org"]
    assert msg["Subject"] == "Спасибо за ваше пожертвование!"
    assert msg["To"].addresses[0].addr_spec == "ivanova@example.org" and "Фонд «Добро»" in str(
        msg["From"]
    )
    text = msg.get_body(("plain",)).get_content()
    assert f"1{NBSP}500,00{NBSP}₽" in text and "Здравствуйте, Анна!" in text
    link = unsubscribe_link(text)
    assert msg["List-Unsubscribe"] == f"<{link}>" and link in msg.get_body(("html",)).get_content()
    assert fund.outbox() == [] and fund.thanks("8001") == "THANKED"


def test_smtp_refusal_is_a_permanent_failure(fund, smtp_server, private_smtp):
    """The SMTP server refuses the recipient (550): no retry, the reason on the page's list and the deal."""
    controller, inbox = smtp_server
    inbox.refuse = "550 No such user"
    fund.configure(
        letter_channel="smtp",
        smtp_host="127.0.0.1",
        smtp_port=str(controller.port),
        smtp_tls="none",
    )
    fund.pay("8002")
    fund.app.run_jobs()
    [failure] = listed(fund.portal.member_id, "failures")
    assert "recipient refused" in failure["reason"] and inbox.messages == []
    comments = fund.portal.result(
        "crm.timeline.comment.list", {"filter": {"ENTITY_ID": fund.deal("8002")["ID"]}}
    )
    assert any("не отправлено" in c["COMMENT"] for c in comments)


def unisender(rsps: responses.RequestsMock, answer: dict) -> None:
    rsps.add_passthru(re.compile(r"http://127\.0\.0\.1"))
    rsps.add(responses.POST, "https://api.unisender.com/ru/api/sendEmail", json=answer)


def test_unisender_send_email_carries_the_letter(fund):
    """letter_channel unisender: one sendEmail (§4.2) with the key, list, sender, donor, subject and HTML body."""
    fund.configure(
        letter_channel="unisender", unisender_api_key="uk-123456", unisender_list_id="123"
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        unisender(rsps, {"result": [{"index": 0, "email": "ivanova@example.org", "id": "9001"}]})
        fund.pay("8101")
        fund.app.run_jobs()
        [call] = [c for c in rsps.calls if "unisender" in c.request.url]
    sent = {k: v[0] for k, v in parse_qs(call.request.body).items()}
    assert call.request.url.endswith("sendEmail?format=json")
    assert (sent["api_key"], sent["list_id"], sent["sender_email"]) == (
        "uk-123456",
        "123",
        "hello@dobro.example",
    )
    assert sent["sender_name"] == "Фонд «Добро»" and "ivanova@example.org" in sent["email"]
    assert sent["subject"] == "Спасибо за ваше пожертвование!"
    assert (
        f"500,00{NBSP}₽" in sent["body"]
        and "Анна" in sent["body"]
        and "/letters/unsubscribe/" in sent["body"]
    )
    assert fund.outbox() == [] and fund.thanks("8101") == "THANKED"


def test_unisender_error_for_an_unconfirmed_sender_is_a_permanent_failure(fund):
    """An ``error``/``code`` body (§4.1): not retried, shown with Unisender's own words."""
    fund.configure(
        letter_channel="unisender", unisender_api_key="uk-123456", unisender_list_id="123"
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        unisender(
            rsps, {"error": "The sender email is not confirmed", "code": "unconfirmed_sender"}
        )
        fund.pay("8102")
        fund.app.run_jobs()
    [failure] = listed(fund.portal.member_id, "failures")
    assert (
        "The sender email is not confirmed" in failure["reason"]
        and "unconfirmed_sender" in failure["reason"]
    )
    assert fund.thanks("8102") == "WAITING"


def test_an_smtp_letter_whose_answer_was_lost_is_not_sent_again(
    fund, smtp_server, private_smtp, monkeypatch
):
    """The SMTP server takes the letter and the connection drops before its answer: SMTP cannot be asked
    whether it went, so the retry does not send a second copy; the letter is listed as a failure saying
    the answer was lost (a person decides)."""
    import smtplib

    from tests.letters.test_letter_guarantees import run_retries_now

    controller, inbox = smtp_server
    fund.configure(
        letter_channel="smtp",
        smtp_host="127.0.0.1",
        smtp_port=str(controller.port),
        smtp_tls="none",
    )
    real, lost = smtplib.SMTP.send_message, []

    def answer_lost(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        if not lost:
            lost.append(1)
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return out

    monkeypatch.setattr(smtplib.SMTP, "send_message", answer_lost)
    fund.pay("9101", amount="700.00")
    fund.app.run_jobs()
    run_retries_now(fund)
    assert lost and len(inbox.messages) == 1
    [failure] = listed(fund.portal.member_id, "failures")
    assert "answer was lost" in failure["reason"]
