"""The matcher's reasons in words: ``Verdict.reasons`` (codes and points, score.py) as a sentence a fund's
person reads — «совпали имя и фамилия; e-mail не указан — оценка 12: на проверку (порог 12), объединить
автоматически — от 20». In Russian or English (the message catalogue, ``b24app/i18n.py``)."""

import re

from ..i18n import gettext_in
from .score import REVIEW_THRESHOLD, SAME_THRESHOLD

RULE = re.compile(r"^(?P<name>[a-z_]+) (?P<points>[+-]\d+)(?: \((?P<detail>.*)\))?$")
TAIL = re.compile(r"^(?P<rules>.*) = (?P<score>-?\d+) → (?P<decision>\w+)$")
PAIR = re.compile(r"^#(\d+)–#(\d+): ")


def _(message: str) -> str:
    return message


FIELDS = {"first_name": _("first name"), "last_name": _("surname"), "middle_name": _("patronymic")}
NAME_OUTCOMES = {  # outcome → phrase with %(field)s
    "same": _("%(field)s match"),
    "translit": _("%(field)s match in another alphabet"),
    "diminutive": _("%(field)s: a short form of the same name"),
    "initial": _("%(field)s: only an initial"),
    "typo": _("%(field)s differ by one letter"),
    "gender_form": _("%(field)s: male and female forms"),
    "different": _("%(field)s differ"),
}
PHRASES = {
    "email_same": _("the same e-mail"),
    "email_similar": _("nearly the same e-mail"),
    "email_differs": _("different e-mails"),
    "phone_same": _("the same phone"),
    "phone_differs": _("different phones"),
    "names_swapped": _("first name and surname written the other way round"),
    "gender_conflict": _("one is a man, the other a woman"),
    "hard_rule_shared_email_other_first_name": _(
        "a shared e-mail with another first name: a person checks"
    ),
    "hard_rule_other_patronymic": _("other patronymics: a person checks"),
    "floor_email_surname_name": _("e-mail, surname and first name all match"),
}
DECISIONS = {
    "same": _("the same person"),
    "review": _("to review"),
    "different": _("different people"),
}


def in_words(reasons: str, lang: str) -> str:
    """The reasons line of a verdict (or a cluster: «#1–#2: …») as a sentence in ``lang``; a line it cannot
    read is returned as it is."""
    say = lambda message, **values: gettext_in(lang, message, **values)  # noqa: E731
    text = PAIR.sub("", reasons.strip())
    tail = TAIL.match(text)
    if not tail:
        return reasons
    fired = [m for part in tail["rules"].split("; ") if (m := RULE.match(part.strip()))]
    names = {m["name"] for m in fired}
    phrases = name_phrases(fired, say)
    phrases += [say(PHRASES[m["name"]]) for m in fired if m["name"] in PHRASES]
    if not any(n.startswith("email_") for n in names):
        phrases.append(say("no e-mail to compare"))
    if not any(n.startswith("phone_") for n in names):
        phrases.append(say("no phone to compare"))
    decision = say(DECISIONS.get(tail["decision"], tail["decision"]))
    figures = say("score %(score)s: %(decision)s (review threshold %(review)s, merge threshold %(same)s)",
                score=tail["score"], decision=decision, review=REVIEW_THRESHOLD, same=SAME_THRESHOLD)  # fmt: skip
    return "; ".join(phrases) + " — " + figures


def name_phrases(fired: list, say) -> list[str]:
    """The name rules as phrases; first name and surname matching together are one phrase."""
    outcome = {}
    for m in fired:
        field, _sep, result = m["name"].rpartition("_")
        if field in FIELDS and result in NAME_OUTCOMES:
            outcome[field] = result
        elif m["name"].endswith("gender_form") and m["name"][: -len("_gender_form")] in FIELDS:
            outcome[m["name"][: -len("_gender_form")]] = "gender_form"
    out = []
    if outcome.get("first_name") == outcome.get("last_name") == "same":
        out.append(say("first name and surname match"))
        outcome.pop("first_name"), outcome.pop("last_name")
    for field, result in outcome.items():
        out.append(say(NAME_OUTCOMES[result], field=say(FIELDS[field])))
    return out
