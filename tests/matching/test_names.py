"""Name normalisation and comparison, one Russian example per row."""

import pytest

from b24app.matching import names
from b24app.matching.names import (
    DIFFERENT,
    DIMINUTIVE,
    FEMALE,
    GENDER_FORM,
    INITIAL,
    MALE,
    MISSING,
    SAME,
    TRANSLIT,
    TYPO,
    compare_given,
    compare_patronymic,
    compare_surname,
    given_name,
    patronymic,
    skeleton,
    surname,
)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("  ИВАНОВА ", "иванова"),  # case and spaces
        ("Алёна", "алена"),  # ё → е
        ("Семёнов", "семенов"),
        ("Петров–Водкин", "петров-водкин"),  # en dash in a compound surname
        ("Иванoв", "иванов"),  # Latin o inside a Cyrillic word
        ("Ceргей", "сергей"),  # Latin C
        ("ИBAНOB", "иванов"),  # Latin capitals B, A, H, O that look Cyrillic
        ("Аlexander", "alexander"),  # the reverse: Cyrillic А inside a Latin word
        ("Natal'ya", "natalya"),  # an apostrophe standing for ь
        ("Анна  Мария", "анна мария"),
    ],
)
def test_normalise_name(raw, expected):
    assert names.normalise_name(raw) == expected


@pytest.mark.parametrize(
    "spellings",
    [
        ["Александр", "Aleksandr", "Alexander", "Alexandr"],
        ["Юлия", "Yulia", "Julia", "Iuliia", "Yuliya"],
        ["Ксения", "Kseniya", "Xenia", "Ksenia"],
        ["Щеглова", "Shcheglova", "Sheglova", "Shheglova"],
        ["Наталья", "Наталия", "Natalia", "Natal'ya", "Nataliya"],
        ["Евгений", "Yevgeniy", "Evgeny", "Evgenij", "Evgenii"],
        ["Пётр", "Петр", "Pyotr", "Petr", "Peter"],
        ["Фёдор", "Fyodor", "Fedor"],
        ["Юрий", "Yury", "Iurii", "Jurij", "Yuriy"],
        ["Кузнецов", "Kuznetsov", "Kuznetzov"],
        ["Михаил", "Mikhail", "Mihail"],
        ["Хабибуллин", "Khabibullin", "Habibulin"],
        ["Горбачёв", "Gorbachev", "Gorbachyov", "Gorbatchev"],
        ["Достоевский", "Dostoevsky", "Dostoevskiy", "Dostoyevsky"],
        ["Сергеевна", "Sergeevna", "Sergeyevna"],
        ["Васильевич", "Vasilyevich", "Vasil'evich", "Vasilievich"],
        ["Вячеслав", "Vyacheslav", "Viacheslav"],
        ["Софья", "София", "Sofia", "Sophia", "Sofya"],
        ["Быков", "Bykov", "Bikov"],
    ],
)
def test_spellings_of_one_name_share_a_skeleton(spellings):
    assert len({skeleton(s) for s in spellings}) == 1, {s: skeleton(s) for s in spellings}


@pytest.mark.parametrize(
    "a, b",
    [
        ("Александр", "Александра"),  # gender is kept
        ("Евгений", "Евгения"),
        ("Юлия", "Ульяна"),
        ("Лена", "Лёня"),
        ("Даня", "Диана"),
        ("Мария", "Марина"),
        ("Иван", "Яна"),
    ],
)
def test_different_names_keep_different_skeletons(a, b):
    assert skeleton(a) != skeleton(b)


@pytest.mark.parametrize(
    "a, b, outcome",
    [
        ("Иван", "ИВАН", SAME),
        ("Алёна", "Алена", SAME),
        ("Aleksandr", "Александр", TRANSLIT),
        ("Саша", "Александр", DIMINUTIVE),
        ("Саша", "Александра", DIMINUTIVE),
        ("Шура", "Саша", DIMINUTIVE),  # two diminutives of one name
        ("Женя", "Евгений", DIMINUTIVE),
        ("Женя", "Евгения", DIMINUTIVE),
        ("Лена", "Елена", DIMINUTIVE),
        ("Дима", "Dmitriy", DIMINUTIVE),  # a diminutive against a transliteration
        ("Sasha", "Александр", DIMINUTIVE),  # a transliterated diminutive
        ("Серёжа", "Сергей", DIMINUTIVE),
        ("Маша", "Мария", DIMINUTIVE),
        ("Слава", "Вячеслав", DIMINUTIVE),
        ("А.", "Анна", INITIAL),
        ("Ю", "Юлия", INITIAL),
        ("J.", "Юлия", INITIAL),
        ("C.", "Семён", INITIAL),  # Latin C typed for Cyrillic С
        ("Б.", "Анна", DIFFERENT),
        ("Мюрина", "Марина", TYPO),
        ("Anastsiya", "Анастасия", TYPO),
        ("Саша", "Евгений", DIFFERENT),
        ("Иван", "Пётр", DIFFERENT),
        ("Алина", "Алёна", TYPO),  # one letter apart: a typo, never an equal name
        ("", "Анна", MISSING),
    ],
)
def test_compare_given(a, b, outcome):
    assert compare_given(given_name(a), given_name(b)) == outcome
    assert compare_given(given_name(b), given_name(a)) == outcome


@pytest.mark.parametrize(
    "a, b, outcome",
    [
        ("Иванова", "иванова", SAME),
        ("Иванова", "Ivanova", TRANSLIT),
        ("Иванов", "Иванова", GENDER_FORM),  # same family, not the same person
        ("Достоевский", "Достоевская", GENDER_FORM),
        ("Троицкий", "Троицкая", GENDER_FORM),
        ("Князева", "Кнзева", TYPO),
        ("Быков", "Быокв", TYPO),
        ("Петров-Водкин", "Петров Водкин", TRANSLIT),
        ("Цой", "Цой", SAME),
        ("Иванов", "Петров", DIFFERENT),
        ("Иванов", "", MISSING),
    ],
)
def test_compare_surname(a, b, outcome):
    assert compare_surname(surname(a), surname(b)) == outcome


@pytest.mark.parametrize(
    "a, b, outcome",
    [
        ("Иванович", "Иванович", SAME),
        ("Сергеевна", "Sergeyevna", TRANSLIT),
        ("Иванович", "И.", INITIAL),
        ("Иванович", "Петрович", DIFFERENT),
        ("Иванович", "Ивановна", DIFFERENT),
        ("Иванович", "", MISSING),  # patronymic on one side only: no evidence either way
    ],
)
def test_compare_patronymic(a, b, outcome):
    assert compare_patronymic(patronymic(a), patronymic(b)) == outcome


@pytest.mark.parametrize(
    "word, gender",
    [
        ("Иванович", MALE),
        ("Сергеевич", MALE),
        ("Ильич", MALE),
        ("Ivanovich", MALE),
        ("Ивановна", FEMALE),
        ("Кузьминична", FEMALE),
        ("Sergeevna", FEMALE),
        ("Петров", None),
        ("Анна", None),
    ],
)
def test_patronymic_gender(word, gender):
    assert names.patronymic_gender(word) == gender
    assert names.is_patronymic(word) == (gender is not None)


@pytest.mark.parametrize(
    "word, gender",
    [("Иванов", MALE), ("Иванова", FEMALE), ("Достоевская", FEMALE), ("Ivanova", FEMALE),
     ("Шевчук", None), ("Цой", None)],
)  # fmt: skip
def test_surname_gender(word, gender):
    assert surname(word).gender == gender


@pytest.mark.parametrize(
    "name, gender",
    [("Александр", MALE), ("Александра", FEMALE), ("Никита", MALE), ("Илья", MALE),
     ("Юлия", FEMALE), ("Саша", None), ("Женя", None), ("Вова", MALE), ("Ксюша", FEMALE)],
)  # fmt: skip
def test_given_name_gender(name, gender):
    assert given_name(name).gender == gender


def test_diminutives_table_has_sixty_entries_with_gender():
    assert len(names.DIMINUTIVES) >= 60
    assert {gender for _, _, gender in names.DIMINUTIVES} == {MALE, FEMALE}
    shorts = {short for short, _, _ in names.DIMINUTIVES}
    for short in ["Саша", "Женя", "Лена", "Дима", "Миша", "Катя", "Маша", "Наташа", "Таня", "Оля",
                  "Юля", "Ваня", "Петя", "Коля", "Серёжа", "Лёша", "Настя", "Вова", "Володя", "Слава",
                  "Костя", "Паша", "Гоша", "Толя", "Света", "Ира", "Люда", "Галя", "Надя", "Люба",
                  "Шура", "Соня"]:  # fmt: skip
        assert short in shorts, short


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ("иван", "иван", True),
        ("иван", "иаан", True),  # substitution
        ("иван", "ивн", True),  # deletion
        ("иван", "ивван", True),  # insertion
        ("иван", "ивна", True),  # neighbours swapped
        ("иван", "ниав", False),
        ("иван", "иванов", False),
    ],
)
def test_within_one_edit(a, b, expected):
    assert names.within_one_edit(a, b) == expected
    assert names.within_one_edit(b, a) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Петрова Анна Сергеевна", ("анна", "петрова", "сергеевна")),
        ("Анна Сергеевна Петрова", ("анна", "петрова", "сергеевна")),
        ("Анна Петрова", ("анна", "петрова", "")),
        ("Петрова Анна", ("анна", "петрова", "")),
        ("Анна", ("анна", "", "")),
    ],
)
def test_split_full_name(text, expected):
    assert names.split_full_name(text) == expected
