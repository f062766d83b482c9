"""The duplicate scan's report as a CSV file for Excel: one format for the review page and the CLI.

UTF-8 with a BOM (Excel reads it as UTF-8 only then), ";" between fields (Excel's separator where the
decimal comma is used), headers, actions and entities in the reader's language: Russian unless it is English.
"""

import csv
import io

FIELDS = ("cluster", "ids", "survivor", "action", "reasons", "score", "entity")
HEADERS = {
    "ru": ("Группа", "Записи", "Остаётся", "Действие", "Причины", "Оценка", "Сущность"),
    "en": ("Group", "Records", "Survivor", "Action", "Reasons", "Score", "Entity"),
}
WORDS = {
    "ru": {"proposed": "предложено объединить", "merged": "объединено", "review": "на проверку",
           "skipped": "пропущено", "comment lost": "комментарий не записан", "contact": "контакт",
           "company": "компания"},
    "en": {"proposed": "proposed", "merged": "merged", "review": "to review", "skipped": "skipped",
           "comment lost": "comment not written", "contact": "contact", "company": "company"},
}  # fmt: skip


def language(value: str | None) -> str:
    """ "en" for an English LANG ("en", "en_US.UTF-8", "EN"), else "ru"."""
    return "en" if (value or "").strip().lower()[:2] == "en" else "ru"


def report_csv(rows: list[dict], lang: str | None = "ru") -> str:
    """The report's rows as CSV text, BOM first, with a header line in ``lang``'s words."""
    lang = language(lang)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, delimiter=";")
    writer.writerow(HEADERS[lang])
    for row in rows:
        writer.writerow([WORDS[lang].get(str(row.get(f, "")), row.get(f, "")) if f in ("action", "entity")
                         else row.get(f, "") for f in FIELDS])  # fmt: skip
    return out.getvalue()
