"""Every letter of product.md C3 from a CloudPayments delivery (external-services.md §3.1 bodies, the
fixtures in tests/fixtures/cloudpayments) through the route and the worker to the e-mail the sandbox
portal sent as a CRM e-mail activity (bitrix24-rest.md §4.10): recipient, subject, amount, the donor's
name, the unsubscribe link; and the deal's «Статус благодарности»."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from b24app.donations import Donation, Status
from b24app.donations.events import DonorEvent, Kind, emit
from b24app.queue import DEFAULT, enqueue
from tests.letters.conftest import a_day_later, unsubscribe_link

NBSP = "\xa0"
SUB = "sc_8cf8a9338fb8ebf7202b08d09c938"


def the_letter(fund, subject: str) -> dict:
    """The one e-mail sent, checked for what every donor letter carries."""
    [mail] = fund.outbox()
    assert mail["to"] == ["ivanova@example.org"] and mail["from_address"] == "hello@dobro.example"
    assert mail["subject"] == subject
    assert "Анна" in mail["body"] and "/letters/unsubscribe/" in unsubscribe_link(mail["body"])
    assert mail["owner"] == {
        "type_id": 3,
        "id": int(fund.contact()["ID"]),
    }  # on the donor's timeline
    return mail


def test_first_gift_gets_the_one_time_welcome(fund):
    """Pay (§3.1): the first-ever success → the one-time welcome with «500,00 ₽»; the deal «Поблагодарили»."""
    fund.pay("7001")
    fund.app.run_jobs()
    mail = the_letter(fund, "Спасибо за ваше пожертвование!")
    assert f"500,00{NBSP}₽" in mail["body"] and "Здравствуйте, Анна!" in mail["body"]
    assert "14 марта 2024" in mail["body"] and "Фонд «Добро»" in mail["body"]
    assert fund.thanks("7001") == "THANKED"
    sent = fund.app.redis.hgetall(
        "b24:metrics:blago24_letters"
    )  # /metrics: letters by channel and kind
    assert sent == {b'["bitrix24", "welcome_one_time", "sent"]': b"1"}, sent


def test_later_gifts_get_thanks_again_and_the_first_recurring_gift_its_welcome(fund):
    """A second one-time gift a day later → «thanks again»; the first recurring charge (rebill Pay, §3.1)
    → the recurring welcome even after the one-time welcome."""
    fund.pay("7001")
    fund.app.run_jobs()
    contact = int(fund.contact()["ID"])
    a_day_later(fund.app.redis, fund.portal.member_id, contact)
    fund.pay("7002", amount="1500.00")
    fund.app.run_jobs()
    a_day_later(fund.app.redis, fund.portal.member_id, contact)
    fund.pay("", name="pay_rebill", TransactionId="555000111", Amount="300.00")
    fund.app.run_jobs()
    welcome, again, recurring = fund.outbox()
    assert welcome["subject"] == "Спасибо за ваше пожертвование!"
    assert (
        again["subject"] == "Спасибо, что вы снова с нами"
        and f"1{NBSP}500,00{NBSP}₽" in again["body"]
    )
    assert recurring["subject"] == "Спасибо, что поддерживаете нас каждый месяц!"
    assert f"300,00{NBSP}₽" in recurring["body"] and "ежемесячное" in recurring["body"]
    assert fund.thanks("7002") == "THANKED"


def test_a_failed_one_time_payment_says_why_in_words(fund):
    """Fail with ReasonCode 5051 (§3.1) → the failed one-time letter: «на карте недостаточно средств»."""
    fund.pay("7010", name="fail")
    fund.app.run_jobs()
    mail = the_letter(fund, "Пожертвование не прошло")
    assert "на карте недостаточно средств" in mail["body"] and f"500,00{NBSP}₽" in mail["body"]
    assert fund.thanks("7010") == "NO_THANKS"


def test_a_failed_recurring_charge_gets_the_recurring_failure_letter(fund):
    """A rebill's Fail (SubscriptionId set, ReasonCode 5054) → the failed recurring letter with its reason."""
    fund.pay("", name="fail", TransactionId="555000222", SubscriptionId=SUB, ReasonCode="5054",
             Reason="ExpiredCard")  # fmt: skip
    fund.app.run_jobs()
    mail = the_letter(fund, "Не получилось списать ежемесячное пожертвование")
    assert "истёк срок действия карты" in mail["body"]


def test_a_refund_gets_the_refund_letter(fund):
    """Pay, then a day later Refund (§3.1 fixture) → the refund letter with the sum given back."""
    fund.pay("7020")
    fund.app.run_jobs()
    a_day_later(fund.app.redis, fund.portal.member_id, int(fund.contact()["ID"]))
    fund.pay("7020", name="refund", Amount="200.00")
    fund.app.run_jobs()
    _, mail = fund.outbox()
    assert mail["subject"] == "Мы вернули ваше пожертвование" and f"200,00{NBSP}₽" in mail["body"]


@pytest.mark.parametrize(
    "status, words", [("Cancelled", "отменено"), ("Rejected", "отклонил списание")]
)
def test_a_cancelled_or_rejected_subscription_gets_its_letter(fund, status, words):
    """Recurrent with Status Cancelled / Rejected (§3.1) → the subscription letter, once however often it
    repeats."""
    fund.pay("", name="pay_rebill")
    fund.app.run_jobs()
    a_day_later(fund.app.redis, fund.portal.member_id, int(fund.contact()["ID"]))
    for _ in range(3):
        assert fund.deliver("recurrent", body_of_recurrent(status)).json() == {"code": 0}
        fund.app.run_jobs()
    _, mail = fund.outbox()
    assert mail["subject"] == "Ваше ежемесячное пожертвование остановлено" and words in mail["body"]
    assert f"500,00{NBSP}₽" in mail["body"]


def body_of_recurrent(status: str) -> bytes:
    from tests.handlers.test_cloudpayments import body

    return body(
        "recurrent", Status=status, FailedTransactionsNumber="3" if status == "Rejected" else "0"
    )


def rebill_event(
    fund, kind: Kind, key: str, status: str = "", with_gift: bool = True
) -> DonorEvent:
    """An event of the recurring jobs (issue 13) about the donor's rebill deal, as they emit it."""
    deal = fund.portal.result(
        "crm.deal.list", {"filter": {"UF_CRM_B24_SUBSCRIPTION_ID": SUB}, "select": ["*"]}
    )[0]
    gift = Donation(source="cloudpayments", key="cp:tx:1291740001", delivery="daily", status=Status.SUCCEEDED, amount=Decimal("500.00"),
                    at=datetime(2024, 3, 14, 9, 41, tzinfo=UTC), first_name="Анна", last_name="Иванова",
                    email="ivanova@example.org", recurring=True, subscription_id=SUB,
                    card_mask="220220******4242", card_expires="05/27")  # fmt: skip
    return DonorEvent(kind=kind, key=key, status=status, contact_id=int(deal["CONTACT_ID"]),
                      deal_id=int(deal["ID"]), donation=gift if with_gift else None)  # fmt: skip


def emit_in_worker(fund, event: DonorEvent, times: int = 1) -> None:
    """The daily job's emit, run by the worker ``times`` times (the job runs every day)."""
    for n in range(times):
        enqueue(
            fund.app.redis, DEFAULT, f"daily-{event.kind}-{n}", emit, fund.portal.member_id, event
        )
        fund.app.run_jobs()


def test_a_card_expiring_gets_one_letter_however_often_the_daily_job_runs(fund):
    """card_expiring for the card (subscription id + expiry) emitted on five days → one letter."""
    fund.pay("", name="pay_rebill")
    fund.app.run_jobs()
    contact = int(fund.contact()["ID"])
    event = rebill_event(fund, Kind.CARD_EXPIRING, f"{SUB}:05/27")
    for _ in range(5):
        a_day_later(fund.app.redis, fund.portal.member_id, contact)
        emit_in_worker(fund, event)
    _, mail = fund.outbox()
    assert mail["subject"] == "Скоро закончится срок действия вашей карты"
    assert "05/27" in mail["body"] and "•••• 4242" in mail["body"] and "Анна" in mail["body"]
    assert len(fund.outbox()) == 2


def test_a_lapsed_subscription_gets_its_letter_once(fund):
    """lapsed (subscription id + the last success's date) as the daily job emits it (no donation, only the
    deal) twice → one letter with that date."""
    fund.pay("", name="pay_rebill")
    fund.app.run_jobs()
    a_day_later(fund.app.redis, fund.portal.member_id, int(fund.contact()["ID"]))
    emit_in_worker(
        fund,
        rebill_event(fund, Kind.LAPSED, f"{SUB}:2024-04-14", "Active", with_gift=False),
        times=2,
    )
    _, mail = fund.outbox()
    assert mail["subject"] == "Мы давно не получали ваше ежемесячное пожертвование"
    assert "14 апреля 2024" in mail["body"] and len(fund.outbox()) == 2


def test_test_payments_get_no_letter(fund):
    """TestMode=1 (§3.1): the deal is made, «Не благодарить», and no letter goes."""
    fund.pay("7030", TestMode="1")
    fund.app.run_jobs()
    assert fund.outbox() == [] and fund.thanks("7030") == "NO_THANKS"


def test_english_portal_gets_english_letters(fund):
    """letter_language en: the English default."""
    fund.configure(letter_language="en")
    fund.pay("7040")
    fund.app.run_jobs()
    [mail] = fund.outbox()
    assert mail["subject"] == "Thank you for your donation!" and "Dear Анна," in mail["body"]
    assert "14 March 2024" in mail["body"]
