"""The blocking index: who comes back as a candidate, and the best match first."""

import pytest

from b24app.matching import MAX_BLOCK, Decision, Person, PersonIndex
from tests.matching.synthetic import people

ANNA = Person("Анна", "Петрова", "Сергеевна", "anna.petrova@gmail.com", "8 (916) 123-45-67", id="1")
IVAN = Person("Иван", "Смирнов", "", "smirnov@yandex.ru", "", id="2")
OLGA = Person("О.", "Кузнецова", "", "", "+7 903 000-00-01", id="3")


@pytest.fixture
def index():
    return PersonIndex([ANNA, IVAN, OLGA, *people(2000, seed=11)])


@pytest.mark.parametrize(
    "query, expected",
    [
        (Person(emails="Anna.Petrova+fond@googlemail.com"), ANNA),  # e-mail, Gmail rules
        (Person(phones="+7 916 123 45 67"), ANNA),  # phone in another format
        (Person("Anna", "Petrova"), ANNA),  # name skeleton across scripts
        (Person("Петрова", "Аня"), ANNA),  # swapped and a diminutive
        (Person("А.", "Петрова"), ANNA),  # an initial finds surname + initial
        (Person(emails="smirnov@ya.ru"), IVAN),  # Yandex family
        (Person("Ваня", "Smirnov"), IVAN),
        (Person("Ольга", "Кузнецова"), OLGA),  # a full name finds one stored with an initial
    ],
)
def test_candidates(index, query, expected):
    assert expected in index.candidates(query)


def test_unrelated_person_has_no_candidates(index):
    assert index.candidates(Person("Эльвира", "Хабибуллина", "", "elv@rambler.ru")) == []


def test_best_matches_puts_the_same_person_first(index):
    matches = index.best_matches(Person("Аня", "Petrova", "", "annapetrova@gmail.com"))
    person, verdict = matches[0]
    assert person is ANNA
    assert verdict.decision == Decision.SAME


def test_best_matches_respects_at_least_and_limit(index):
    query = Person("Анна", "Петрова")
    assert index.best_matches(query, at_least=Decision.SAME) == []
    assert [p for p, _ in index.best_matches(query)] == [ANNA]
    assert len(index.best_matches(query, limit=0)) == 0


def test_a_stored_person_is_not_its_own_candidate(index):
    assert ANNA not in index.candidates(ANNA)
    assert index.best_matches(ANNA) == []


def test_placeholder_email_stops_blocking_but_phone_still_finds(index):
    crowd = [
        Person(f"Имя{i}", "Донор", "", "net@mail.ru", f"+7 900 {i:07d}")
        for i in range(MAX_BLOCK + 1)
    ]
    index.add_all(crowd)
    assert index.candidates(Person(emails="net@mail.ru")) == []
    assert index.candidates(Person(emails="net@mail.ru", phones="+79000000005")) == [crowd[5]]


def test_duplicate_pairs_finds_each_pair_once():
    twin = Person("Anna", "Petrova", "", "", "89161234567", id="9")
    found = list(PersonIndex([ANNA, IVAN, twin]).duplicate_pairs())
    assert [(a.id, b.id, v.decision) for a, b, v in found] == [("1", "9", Decision.SAME)]


def test_len_counts_people():
    assert len(PersonIndex([ANNA, IVAN])) == 2
