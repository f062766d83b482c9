"""Letters failing need a person: the portal's admins get one system notification (im.notify.system.add,
bitrix24-rest.md §4.9, as the sandbox portal logs it) however many letters fail, and the app page's recent
activity says so with the donor's address masked."""

from b24app import activity
from b24app.letters.send import listed


def test_failing_letters_notify_the_admins_once(fund):
    """Two donors' welcome letters refused ('From is not found'): one notification to the installing admin;
    the activity names the cause, no donor's e-mail in it."""
    fund.configure(letter_sender="Фонд <other@dobro.example>")
    fund.pay("7701")
    fund.pay(
        "7702", AccountId="petrov%40example.org", Email="petrov%40example.org", Name="IVAN+PETROV"
    )
    fund.app.run_jobs()
    assert fund.outbox() == [] and len(listed(fund.portal.member_id, "failures")) == 2
    notes = fund.portal.control("GET", "/logs/notifications")
    assert len(notes) == 1 and notes[0]["user_id"] == 1
    assert (
        notes[0]["message"].startswith("Благо24: письма донорам не уходят (")
        and "From" in notes[0]["message"]
    )
    texts = [a["text"] for a in activity.recent(fund.app.redis, fund.portal.member_id, "ru")]
    assert any(t.startswith("нужен человек: Благо24: письма донорам не уходят") for t in texts)
    assert not any("ivanova@example.org" in t or "petrov@example.org" in t for t in texts)
