"""The message catalogues: every English source string in the code and templates has a Russian translation,
nothing fuzzy, the committed .mo matches the .po; pages and the CLI pick the language from LANG."""

import subprocess
import sys
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from b24app import i18n

ROOT = Path(__file__).resolve().parents[1]
PO = ROOT / "b24app/translations/ru/LC_MESSAGES/messages.po"
MO = ROOT / "b24app/translations/ru/LC_MESSAGES/messages.mo"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None,
            "gettext_in": (2,), "ngettext_in": (2, 3), "say": None}  # fmt: skip


def extracted() -> set[str]:
    """The msgids babel finds today, with the method map of babel.cfg and scripts/i18n.sh's keywords."""
    method_map = [("b24app/**.py", "python"), ("installers/**.py", "python"),
                  ("handlers/**.py", "python"), ("installers/templates/**.html", "jinja2"),
                  ("b24app/templates/**.html", "jinja2")]  # fmt: skip
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, keywords=KEYWORDS,
        directory_filter=lambda d: not Path(d).name.startswith(".") and "node_modules" not in d,
    ):  # fmt: skip
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_source_string_has_a_russian_translation_and_nothing_is_fuzzy():
    """A string added to a page or to the code without its translation fails here (run scripts/i18n.sh)."""
    catalogue = read_po(PO.open("rb"))
    translated = {m.id: m for m in catalogue if m.id}
    ids = extracted()
    assert len(ids) > 100  # the extraction itself works
    untranslated = sorted(i for i in ids if i not in translated or not translated[i].string)
    assert untranslated == []
    assert [m.id for m in catalogue if m.id and m.fuzzy] == []


def test_the_committed_mo_is_the_compiled_po():
    """Neither the tests nor the demo compile: the .mo in the repo carries every translation of the .po."""
    po = {m.id: m.string for m in read_po(PO.open("rb")) if m.id}
    mo = {m.id: m.string for m in read_mo(MO.open("rb")) if m.id}
    assert mo == po


def test_language_from_lang(monkeypatch):
    """LANG=en… is English, anything else (unset, C.UTF-8, ru_RU) Russian; the catalogue answers in Russian."""
    for value, expected in (
        ("en_US.UTF-8", "en"),
        ("en", "en"),
        ("C.UTF-8", "ru"),
        ("ru_RU.UTF-8", "ru"),
    ):
        monkeypatch.setenv("LANG", value)
        assert i18n.env_language() == expected
    monkeypatch.delenv("LANG")
    assert i18n.env_language() == "ru"
    assert i18n.gettext_in("ru", "Saved") == "Сохранено"
    assert i18n.gettext_in("en", "Saved") == "Saved"


def test_the_cli_answers_an_unknown_portal_in_one_line_in_the_users_language(redis_url):
    """The CLI's refusal for an unknown portal follows the user's LANG (one line on stderr, exit 2)."""
    out = {}
    for lang in ("en_US.UTF-8", "ru_RU.UTF-8"):
        proc = subprocess.run([sys.executable, "-m", "b24app", "install", "--portal", "nosuch"],
                              capture_output=True, text=True, timeout=60, cwd=ROOT,
                              env={"PATH": "/usr/bin:/bin", "LANG": lang,
                                   "B24APP_REDIS_URL": redis_url})  # fmt: skip
        out[lang] = proc
    for proc in out.values():
        assert proc.returncode == 2 and proc.stdout == ""
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert "nosuch" in out["en_US.UTF-8"].stderr and "portal" in out["en_US.UTF-8"].stderr
    assert "портал" in out["ru_RU.UTF-8"].stderr and "nosuch" in out["ru_RU.UTF-8"].stderr
