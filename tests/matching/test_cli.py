"""`b24app match pairs FILE.csv`: one tab-separated verdict per row."""

import subprocess
import sys

import pytest

HEADER = "a_first,a_last,a_middle,a_email,a_phone,b_first,b_last,b_middle,b_email,b_phone\n"
ROWS = (
    "Иван,Петров,Сергеевич,ivan.petrov@gmail.com,8 916 123-45-67,Ваня,Петров,,Ivan.Petrov+fond@googlemail.com,+79161234567\n"
    "Иван,Петров,,petrovy@mail.ru,,Мария,Петрова,,petrovy@mail.ru,\n"
    "Анна,Петрова,,,,Анна,Петрова,,,\n"
)  # fmt: skip
EXPECTED = ["same", "different", "review"]


def run(tmp_path, text: str) -> list[list[str]]:
    path = tmp_path / "pairs.csv"
    path.write_text(text, encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "b24app", "match", "pairs", str(path)],
        capture_output=True, text=True, check=True, encoding="utf-8",
    )  # fmt: skip
    return [line.split("\t") for line in out.stdout.splitlines()]


@pytest.mark.parametrize(
    "text",
    [HEADER + ROWS, ROWS, "\ufeff" + HEADER + ROWS, (HEADER + ROWS).replace(",", ";")],
    ids=["with header", "without header", "excel bom", "semicolons"],
)
def test_one_line_per_row(tmp_path, text):
    lines = run(tmp_path, text)
    assert [fields[0] for fields in lines] == EXPECTED
    for decision, score, reasons in lines:
        int(score)
        assert reasons.endswith(f"= {score} → {decision}")


def test_reasons_name_the_rules(tmp_path):
    lines = run(tmp_path, ROWS)
    assert "first_name_diminutive +4 (иван~ваня)" in lines[0][2]
    assert "email_same +10 (petrovy@mail.ru)" in lines[1][2]
    assert "gender_conflict" in lines[1][2]


def test_short_rows_are_padded(tmp_path):
    lines = run(tmp_path, "Анна,Петрова,,anna@mail.ru\n")
    assert lines[0][0] == "different"
