"""Donor letters (product.md C3): what answers a donor event, once, through the fund's channel.

Each letter goes at most once per (donation or card, kind) and a donor gets at most one letter per
calendar day in the portal's time zone (setting ``timezone``, Europe/Moscow by default). When several
letters are due for one donor, the daily-cap priority rule decides, highest first:

    failed_recurring > failed_one_time > card_expiring > lapsed > subscription_ended
      > welcome_recurring > welcome_one_time > refund > thanks_again

A failure comes first because the donor can still act on it (another card, more money on it); the
card and the subscription letters keep a monthly gift alive; a welcome outranks a refund notice and a
repeat thank-you. The day's highest letter goes; what else is due that day is either

- collapsed: a «thanks again» when the donor was already thanked that day (a welcome or a thanks):
  the day's letter thanked them, so the deal is marked «Поблагодарили» and nothing more is sent;
- or deferred: everything else waits for the next day, 10:00 in the portal's time zone, and competes
  there by the same rule (so three gifts within a minute make one letter, and a failure after a
  welcome the same day goes the next morning).

Letters are off until the fund names its sender (setting ``letter_sender``). Lesson reminders are
programme letters: they do not count against the cap. Test payments and
correction entries get no letter; a contact with «Не отправлять письма» gets none (its deals stay
«Ждёт благодарности» so a person can thank them another way).
"""

from enum import StrEnum


class Letter(StrEnum):
    """A kind of donor letter."""

    WELCOME_ONE_TIME = "welcome_one_time"
    WELCOME_RECURRING = "welcome_recurring"
    THANKS_AGAIN = "thanks_again"
    FAILED_ONE_TIME = "failed_one_time"
    FAILED_RECURRING = "failed_recurring"
    REFUND = "refund"
    SUBSCRIPTION_ENDED = "subscription_ended"
    CARD_EXPIRING = "card_expiring"
    LAPSED = "lapsed"
    LESSON_REMINDER = "lesson_reminder"  # a programme letter (b24app/lessons.py): outside the cap


PRIORITY = (Letter.FAILED_RECURRING, Letter.FAILED_ONE_TIME, Letter.CARD_EXPIRING, Letter.LAPSED,
            Letter.SUBSCRIPTION_ENDED, Letter.WELCOME_RECURRING, Letter.WELCOME_ONE_TIME, Letter.REFUND,
            Letter.THANKS_AGAIN)  # fmt: skip
THANKING = {Letter.WELCOME_ONE_TIME, Letter.WELCOME_RECURRING, Letter.THANKS_AGAIN}
COLLAPSIBLE = {Letter.THANKS_AGAIN}  # into a thanking letter of the same day
SEND_HOUR = 10  # a deferred letter goes the next day at this hour, the portal's time


def rank(letter: Letter) -> int:
    """The letter's place in the priority rule (0 is the highest)."""
    return PRIORITY.index(letter)
