"""The matcher's reasons in words (b24app/matching/words.py): real verdicts of the scorer read as phrases
in Russian and English, with the score and both thresholds; a line it cannot read is left as it is."""

from hypothesis import given
from hypothesis import strategies as st

from b24app.matching.score import REVIEW_THRESHOLD, SAME_THRESHOLD, Person, same_person
from b24app.matching.words import in_words


def test_first_name_and_surname_match_without_an_email_is_said_so():
    """The issue's own example: «совпали имя и фамилия; e-mail не указан», then the score and thresholds."""
    verdict = same_person(Person("Мария", "Иванова"), Person("Мария", "Иванова"))
    ru = in_words(verdict.reasons, "ru")
    assert ru.startswith("совпали имя и фамилия; e-mail не указан; телефон не указан — ")
    assert ru.endswith(f"оценка {verdict.score}: на проверку (порог проверки {REVIEW_THRESHOLD}, "
                       f"порог объединения {SAME_THRESHOLD})")  # fmt: skip
    en = in_words(verdict.reasons, "en")
    assert en.startswith(
        "first name and surname match; no e-mail to compare; no phone to compare — "
    )
    assert f"score {verdict.score}: to review" in en


def test_every_rule_of_a_rich_verdict_is_a_phrase_and_no_code_is_left():
    """A diminutive first name, one e-mail, other phones: each a phrase; no rule code shows."""
    verdict = same_person(Person("Аня", "Иванова", emails="anna@mail.example", phones="+79161234567"),
                          Person("Анна", "Иванова", emails="anna@mail.example", phones="+79031112233"))  # fmt: skip
    ru = in_words(verdict.reasons, "ru")
    assert "имя: краткая форма того же имени" in ru and "фамилия совпадает" in ru
    assert "одинаковый e-mail" in ru and "разные телефоны" in ru
    assert "_" not in ru.split(" — ")[0]  # no rule code (first_name_diminutive…) survives
    assert ru.endswith("оценка 19: на проверку (порог проверки 12, порог объединения 20)")
    same = same_person(Person("Мария", "Иванова", emails="m@mail.example"),
                       Person("Мария", "Иванова", emails="m@mail.example"))  # fmt: skip
    assert "оценка 22: один и тот же человек" in in_words(same.reasons, "ru")


def test_a_hard_rule_is_said_as_a_person_checks():
    """A mother and a daughter sharing a name and an address, other patronymics: a person decides."""
    verdict = same_person(Person("Мария", "Иванова", "Петровна", emails="fam@mail.example"),
                          Person("Мария", "Иванова", "Сергеевна", emails="fam@mail.example"))  # fmt: skip
    assert "разные отчества: решает человек" in in_words(verdict.reasons, "ru")


def test_a_clusters_pair_prefix_is_dropped_and_unknown_text_is_kept():
    assert in_words("#3–#5: first_name_same +5; last_name_same +7 = 12 → review", "ru").startswith(
        "совпали имя и фамилия"
    )
    assert in_words("не дубликат (решение сохранено)", "ru") == "не дубликат (решение сохранено)"


@given(st.text(max_size=200))
def test_any_text_reads_without_failing(text):
    """Reasons are stored text: whatever is there, the page renders (a sentence or the text itself)."""
    assert isinstance(in_words(text, "ru"), str)
