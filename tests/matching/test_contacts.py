"""E-mail and phone normalisation, one Russian example per row."""

import pytest

from b24app.matching import email_review_key, normalise_email, normalise_phone


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Ivan.Petrov@Mail.RU", "ivan.petrov@mail.ru"),  # case
        ("  ivan@mail.ru ", "ivan@mail.ru"),
        ("<ivan@mail.ru>", "ivan@mail.ru"),
        ("mailto:ivan@mail.ru", "ivan@mail.ru"),
        ("i.v.a.n.petrov@gmail.com", "ivanpetrov@gmail.com"),  # Gmail ignores dots
        ("ivanpetrov+fond@gmail.com", "ivanpetrov@gmail.com"),  # and +tags
        ("Ivan.Petrov+timepad@googlemail.com", "ivanpetrov@gmail.com"),  # googlemail → gmail
        ("petrova@ya.ru", "petrova@yandex.ru"),  # the Yandex domain family
        ("petrova@yandex.com", "petrova@yandex.ru"),
        ("petrova@yandex.by", "petrova@yandex.ru"),
        ("petrova@yandex.kz", "petrova@yandex.ru"),
        ("petrova@yandex.ua", "petrova@yandex.ru"),
        ("petrova@narod.ru", "petrova@yandex.ru"),
        ("petrova+donate@yandex.ru", "petrova@yandex.ru"),  # Yandex +tag
        ("anna.petrova@yandex.ru", "anna.petrova@yandex.ru"),  # Yandex dots kept (strict form)
        ("anna.petrova@list.ru", "anna.petrova@list.ru"),  # mail.ru group: kept apart
        ("anna.petrova@bk.ru", "anna.petrova@bk.ru"),
        ("anna.petrova@inbox.ru", "anna.petrova@inbox.ru"),
        ("anna+fond@mail.ru", "anna+fond@mail.ru"),  # no +tag folding where it is not known
        ("a.petrova@rambler.ru", "a.petrova@rambler.ru"),
        ("не указан", None),
        ("anna@", None),
        ("", None),
    ],
)
def test_normalise_email(raw, expected):
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    "a, b",
    [
        ("anna.petrova@mail.ru", "anna.petrova@list.ru"),
        ("anna.petrova@mail.ru", "anna.petrova@bk.ru"),
        ("anna.petrova@mail.ru", "anna.petrova@inbox.ru"),
        ("anna.petrova@list.ru", "anna.petrova@bk.ru"),
        ("anna.petrova@mail.ru", "annapetrova@mail.ru"),  # dots matter outside Gmail
        ("anna.petrova@gmail.com", "anna.petrova@yandex.ru"),
    ],
)
def test_different_mailboxes_stay_different(a, b):
    assert normalise_email(a) != normalise_email(b)
    assert email_review_key(a) != email_review_key(b)


@pytest.mark.parametrize(
    "a, b",
    [
        ("anna.petrova@yandex.ru", "anna-petrova@ya.ru"),  # Yandex: "." = "-" (review only)
        ("anna-petrova@yandex.by", "Anna.Petrova@narod.ru"),
    ],
)
def test_review_key_folds_yandex_dots_and_hyphens(a, b):
    assert normalise_email(a) != normalise_email(b)
    assert email_review_key(a) == email_review_key(b)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("8 (916) 123-45-67", "+79161234567"),  # trunk 8
        ("89161234567", "+79161234567"),
        ("+7 916 123 45 67", "+79161234567"),
        ("+7(916)1234567", "+79161234567"),
        ("7-916-123-45-67", "+79161234567"),  # 7 without +
        ("79161234567", "+79161234567"),
        ("9161234567", "+79161234567"),  # ten digits, mobile
        ("916 123-45-67", "+79161234567"),
        ("(495) 123-45-67", "+74951234567"),  # ten digits, Moscow landline
        ("8 (812) 123-45-67 доб. 204", "+78121234567"),  # extension dropped
        ("+7 495 123-45-67 ext. 12", "+74951234567"),
        ("+7 495 123 45 67 #3", "+74951234567"),
        ("+8 916 123 45 67", "+79161234567"),  # "+8" slip for +7
        ("+375 29 123-45-67", "+375291234567"),  # other countries kept
        ("+44 20 7946 0958", "+442079460958"),
        ("0049 30 1234567", "+49301234567"),
        ("123-45-67", None),  # a local number without its code is not matchable
        ("нет", None),
        ("", None),
    ],
)
def test_normalise_phone(raw, expected):
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize(
    "raw, region, expected",
    [
        (
            "8 029 123-45-67",
            "BY",
            "+375291234567",
        ),  # Belarus: trunk 8, then 0 and the operator code
        ("8 (029) 123 45 67", "by", "+375291234567"),
        ("054-123-4567", "IL", "+972541234567"),  # Israel: trunk 0
        ("8 701 123 45 67", "KZ", "+77011234567"),  # Kazakhstan shares +7
        ("+7 916 123-45-67", "IL", "+79161234567"),  # an international number ignores the region
        ("8 916 123-45-67", "", "+79161234567"),  # no region: Russia
        ("8 916 123-45-67", "XX", "+79161234567"),  # an unknown region: Russia
    ],
)
def test_normalise_phone_in_the_portals_country(raw, region, expected):
    assert normalise_phone(raw, region) == expected


def test_a_foreign_donor_is_matched_by_phone_in_the_portals_country():
    """A Belarusian fund: one donor's phone written locally and internationally is one phone."""
    from b24app.matching import Person, same_person
    from b24app.matching.contacts import phones_in_region

    a = Person("Алесь", "Навуменка", "", "", "8 029 123-45-67")
    b = Person("Алесь", "Навуменка", "", "", "+375 29 123 45 67")
    assert "phone_same" not in same_person(a, b).reasons  # read as Russian, it is another number
    verdict = same_person(phones_in_region(a, "BY"), phones_in_region(b, "BY"))
    assert "phone_same +8 (+375291234567)" in verdict.reasons


def test_the_plain_seven_shortcut_answers_what_phonenumbers_answers():
    """The shortcut for "+7…" and "8…" (no parse) never disagrees with phonenumbers, in any region."""
    import random

    from b24app.matching.contacts import _parsed, _plain_seven

    rng = random.Random(5)
    shapes = ["+7{}", "8{}", "+7 ({}) {}-{}-{}", "8 ({}) {}-{}-{}", "8-{}-{}-{}-{}", "+7 {} {} {} {}",
              "7{}", "{} {}-{}-{}", "+7({}){}{}{}", "8.{}.{}.{}.{}", "+8{}", " 8 {} {}{}{} "]  # fmt: skip
    checked = 0
    for _ in range(4000):
        d = "".join(rng.choices("0123456789", k=10))
        parts = (d[:3], d[3:6], d[6:8], d[8:])
        for shape in shapes:
            text = shape.format(*parts) if shape.count("{}") == 4 else shape.format(d)
            for region in ("RU", "KZ", "BY", "IL"):
                if (fast := _plain_seven(text.strip(), region)) is not None:
                    assert fast == _parsed(text.strip(), region), (text, region)
                    checked += 1
    assert checked > 50_000
