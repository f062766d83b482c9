"""Is this the same person? A weighted, explainable score with two thresholds (the CiviCRM model).

Each field comparison adds (or, when the fields disagree, takes away) points; the sum against
SAME_THRESHOLD and REVIEW_THRESHOLD gives SAME / REVIEW / DIFFERENT. Two kinds of rule then override it:

- hard rules (HARD_RULES), each making SAME at most REVIEW: one e-mail with a different first name
  (spouses and parents share addresses; a diminutive or a transliteration of the same name is not
  "different"); patronymics present on both sides and different (a mother and a daughter with one name
  and one address; an initial, a cut-short or a transliterated spelling of the same patronymic is not
  "different");
- floor (the case study's rule): equal e-mail, surname and first name are SAME — unless a hard rule fired.
"""

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple

from . import names
from .contacts import normalise_email, normalise_phone, review_form
from .names import NamePart, within_one_edit

# Weights are CiviCRM's Supervised rule (first 5, last 7, e-mail 10, threshold 20) extended with
# Fellegi–Sunter-style disagreement points, then hand-tuned on tests/matching/synthetic.py with
# bench/matching_bench.py: disagreements were raised until no hard negative (shared family e-mail,
# namesakes, Иванов/Иванова) reached SAME, and REVIEW lowered until ≥ 95 % of true pairs reached it.
SAME_THRESHOLD = 20
REVIEW_THRESHOLD = 12

EMAIL_SAME = 10
EMAIL_SIMILAR = 5  # one typo in the login, or Yandex "." = "-"
EMAIL_DIFFERS = -3  # people do have several addresses, so a mild penalty
PHONE_SAME = 8  # below e-mail: a home landline is shared by the whole family
PHONE_DIFFERS = -2
GENDER_CONFLICT = -5

FIRST_NAME_POINTS = {
    names.SAME: 5, names.TRANSLIT: 5, names.DIMINUTIVE: 4, names.INITIAL: 2, names.TYPO: 3,
    names.DIFFERENT: -6, names.MISSING: 0,
}  # fmt: skip
LAST_NAME_POINTS = {
    names.SAME: 7, names.TRANSLIT: 7, names.GENDER_FORM: 2, names.INITIAL: 1, names.TYPO: 4,
    names.DIFFERENT: -5, names.MISSING: 0,
}  # fmt: skip
MIDDLE_NAME_POINTS = {
    names.SAME: 2, names.TRANSLIT: 2, names.INITIAL: 1, names.TYPO: 1, names.GENDER_FORM: -8,
    names.DIFFERENT: -8, names.MISSING: 0,
}  # fmt: skip

_EQUAL = (names.SAME, names.TRANSLIT)
_NOT_THE_SAME_NAME = (names.DIFFERENT, names.TYPO)
_OTHER_PATRONYMIC = (names.DIFFERENT, names.GENDER_FORM)


class Decision(StrEnum):
    SAME = "same"
    REVIEW = "review"
    DIFFERENT = "different"


@dataclass(frozen=True)
class Person:
    """A contact as the matcher sees it; emails and phones as given (a single string is accepted)."""

    first: str = ""
    last: str = ""
    middle: str = ""
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    id: str | None = None

    def __post_init__(self) -> None:
        for field in ("emails", "phones"):
            value = getattr(self, field)
            if isinstance(value, str):
                object.__setattr__(self, field, (value,) if value.strip() else ())
            elif not isinstance(value, tuple):
                object.__setattr__(self, field, tuple(value))


class Fired(NamedTuple):
    """One rule that contributed to a verdict (a named tuple: thousands are made per lookup)."""

    rule: str
    points: int
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.rule} {self.points:+d}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision, the score and every rule that fired (overrides are rules with 0 points)."""

    decision: Decision
    score: int
    rules: tuple[Fired, ...]

    @property
    def reasons(self) -> str:
        """One line: the rules with their points, then "= score → decision"."""
        fired = "; ".join(str(rule) for rule in self.rules) or "nothing in common"
        return f"{fired} = {self.score} → {self.decision}"


@dataclass(frozen=True, slots=True)
class Profile:
    """A Person normalised once for comparison (the index keeps these)."""

    person: Person
    first: NamePart
    last: NamePart
    middle: NamePart
    last_as_given: NamePart  # for people who typed their names the other way round
    first_as_surname: NamePart
    emails: frozenset[str]
    review_emails: frozenset[str]
    mailboxes: tuple[tuple[str, str], ...]
    phones: frozenset[str]
    gender: str | None


def _name_fields(person: Person) -> tuple[str, str, str]:
    first, last, middle = person.first.strip(), person.last.strip(), person.middle.strip()
    if not last and len(first.split()) > 1:
        return names.split_full_name(" ".join((first, middle)))
    if not first and len(last.split()) > 1:
        return names.split_full_name(" ".join((last, middle)))
    if not middle and len(first.split()) == 2 and names.is_patronymic(first.split()[1]):
        first, middle = first.split()  # "Иван Иванович" in the first-name field
    return first, last, middle


def _gender(first: NamePart, last: NamePart, middle: NamePart) -> str | None:
    return middle.gender or first.gender or last.gender


@lru_cache(maxsize=131072)
def profile(person: Person) -> Profile:
    """The normalised form of a person: name parts, canonical e-mails, E.164 phones, gender."""
    first_text, last_text, middle_text = _name_fields(person)
    first = names.given_name(first_text)
    last = names.surname(last_text)
    middle = names.patronymic(middle_text)
    emails = frozenset(filter(None, map(normalise_email, person.emails)))
    return Profile(
        person=person,
        first=first,
        last=last,
        middle=middle,
        last_as_given=names.given_name(last_text),
        first_as_surname=names.surname(first_text),
        emails=emails,
        review_emails=frozenset(map(review_form, emails)),
        mailboxes=tuple((e.rsplit("@", 1)[0], e.rsplit("@", 1)[1]) for e in sorted(emails)),
        phones=frozenset(filter(None, map(normalise_phone, person.phones))),
        gender=_gender(first, last, middle),
    )


def _email_rules(a: Profile, b: Profile) -> list[Fired]:
    if common := a.emails & b.emails:
        return [Fired("email_same", EMAIL_SAME, min(common))]
    if common := a.review_emails & b.review_emails:
        return [Fired("email_similar", EMAIL_SIMILAR, min(common))]
    for local_a, domain_a in a.mailboxes:
        for local_b, domain_b in b.mailboxes:
            short = min(len(local_a), len(local_b))
            if domain_a == domain_b and short >= 5 and within_one_edit(local_a, local_b):
                return [Fired("email_similar", EMAIL_SIMILAR, f"{local_a}~{local_b}@{domain_a}")]
    return [Fired("email_differs", EMAIL_DIFFERS)] if a.emails and b.emails else []


def _phone_rules(a: Profile, b: Profile) -> list[Fired]:
    if common := a.phones & b.phones:
        return [Fired("phone_same", PHONE_SAME, min(common))]
    return [Fired("phone_differs", PHONE_DIFFERS)] if a.phones and b.phones else []


def _name_rule(field: str, outcome: str, points: dict[str, int], x: NamePart, y: NamePart) -> Fired:
    detail = "" if outcome in (names.SAME, names.DIFFERENT) else f"{x.text}~{y.text}"
    return Fired(f"{field}_{outcome}", points[outcome], detail)


Pair = tuple[NamePart, NamePart]


def _orientation(first_pair: Pair, last_pair: Pair) -> tuple:
    first, last = names.given_outcome(*first_pair), names.surname_outcome(*last_pair)
    points = FIRST_NAME_POINTS[first] + LAST_NAME_POINTS[last]
    return points, FIRST_NAME_POINTS[first], first, last, first_pair, last_pair


def _best_orientation(a: Profile, b: Profile) -> tuple[tuple, bool]:
    """Names as labelled, or crosswise (either side may have them swapped; the better reading wins)."""
    straight = _orientation((a.first, b.first), (a.last, b.last))
    if straight[2] in _EQUAL and straight[3] in _EQUAL:
        return straight, False
    crossed = max(
        _orientation((a.first, b.last_as_given), (a.last, b.first_as_surname)),
        _orientation((a.last_as_given, b.first), (a.first_as_surname, b.last)),
        key=lambda o: o[:2],
    )
    return (crossed, True) if crossed[0] > straight[0] else (straight, False)


class Outcomes(NamedTuple):
    """How the names and e-mails of two people compare (what the hard rules and the floor look at)."""

    first: str
    last: str
    middle: str
    email_same: bool


def _shared_email_other_first_name(o: Outcomes) -> bool:
    return o.email_same and o.first in _NOT_THE_SAME_NAME


def _other_patronymic(o: Outcomes) -> bool:
    return o.middle in _OTHER_PATRONYMIC


HARD_RULES: dict[str, Callable[[Outcomes], bool]] = {
    "hard_rule_shared_email_other_first_name": _shared_email_other_first_name,
    "hard_rule_other_patronymic": _other_patronymic,
}


def _floor(o: Outcomes) -> bool:
    return o.email_same and o.first in _EQUAL and o.last in _EQUAL


def _name_rules(a: Profile, b: Profile) -> tuple[list[Fired], str, str, str]:
    """Rules for first, last and middle name (in the better order); plus the three outcomes."""
    (_, _, first, last, first_pair, last_pair), swapped = _best_orientation(a, b)
    rules = [Fired("names_swapped", 0)] if swapped else []
    middle = names.patronymic_outcome(a.middle, b.middle)
    for field, outcome, table, (x, y) in (
        ("first_name", first, FIRST_NAME_POINTS, first_pair),
        ("last_name", last, LAST_NAME_POINTS, last_pair),
        ("middle_name", middle, MIDDLE_NAME_POINTS, (a.middle, b.middle)),
    ):
        if outcome != names.MISSING:
            rules.append(_name_rule(field, outcome, table, x, y))
    return rules, first, last, middle


def _decide(score: int) -> Decision:
    if score >= SAME_THRESHOLD:
        return Decision.SAME
    return Decision.REVIEW if score >= REVIEW_THRESHOLD else Decision.DIFFERENT


def compare_profiles(a: Profile, b: Profile) -> Verdict:
    """The verdict on two normalised people (see the module docstring for the rules)."""
    name_rules, first, last, middle = _name_rules(a, b)
    rules = _email_rules(a, b) + _phone_rules(a, b) + name_rules
    if a.gender and b.gender and a.gender != b.gender:
        rules.append(Fired("gender_conflict", GENDER_CONFLICT, f"{a.gender}≠{b.gender}"))
    score = sum(rule.points for rule in rules)
    decision = _decide(score)
    outcomes = Outcomes(first, last, middle, bool(a.emails & b.emails))
    hard = [name for name, fires in HARD_RULES.items() if fires(outcomes)]
    if hard:
        capped = Decision.REVIEW if decision is Decision.SAME else decision
        detail = f"{decision} → {capped}" if capped is not decision else "at most review"
        rules += [Fired(name, 0, detail) for name in hard]
        decision = capped
    elif _floor(outcomes) and decision is not Decision.SAME:
        rules.append(Fired("floor_email_surname_name", 0, f"{decision} → same"))
        decision = Decision.SAME
    return Verdict(decision, score, tuple(rules))


def same_person(a: Person, b: Person) -> Verdict:
    """The verdict on two people: SAME, REVIEW or DIFFERENT, with the score and the rules that fired."""
    return compare_profiles(profile(a), profile(b))
