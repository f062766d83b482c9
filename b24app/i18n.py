"""The user's language: message catalogues (flask-babel) for pages and the CLI, Russian by default.

Source strings are English (``_("...")``); ``b24app/translations/ru`` holds the Russian catalogue (compiled
``.mo`` committed; ``scripts/i18n.sh`` extracts, updates and compiles). A page speaks the language Bitrix24
names in its ``LANG`` parameter (or the page's own hidden ``lang``), else the process's ``LANG``; the CLI
speaks its user's ``LANG``. What workers write into a portal follows the portal's ``language`` setting.
"""

import os
from pathlib import Path

from babel.support import NullTranslations, Translations

LANGUAGES = ("ru", "en")
DEFAULT = "ru"
TRANSLATIONS = Path(__file__).parent / "translations"


def pick(value: str | None) -> str | None:
    """``ru``/``en`` from a LANG-like value (``en_US.UTF-8``, ``en``, ``ru``); None when it names neither."""
    code = str(value or "").strip().lower()[:2]
    return code if code in LANGUAGES else None


def env_language() -> str:
    """The language of the process's user: ``LANG=en…`` is English, anything else Russian."""
    return "en" if pick(os.environ.get("LANG")) == "en" else DEFAULT


def request_language() -> str:
    """A page's language: Bitrix24's ``LANG`` parameter, else the page's hidden ``lang``, else the process's."""
    from flask import has_request_context, request

    if has_request_context():
        for name in ("LANG", "lang"):
            found = pick(request.values.get(name))
            if found:
                return found
    return env_language()


def portal_language(portal) -> str:
    """What workers write into the portal: the portal's ``language`` setting (``ru`` by default)."""
    return pick((getattr(portal, "settings", None) or {}).get("language")) or DEFAULT


def language_of(member_id: str) -> str:
    """``portal_language`` of a portal by its member_id; the default when its record cannot be read (the
    language of a comment must never make the work that writes it fail)."""
    from . import context
    from .errors import Blago24Error

    try:
        return portal_language(context.registry().get(member_id))
    except Blago24Error:
        return DEFAULT


_CACHE: dict[str, NullTranslations] = {}


def catalogue(lang: str) -> NullTranslations:
    """The compiled catalogue of ``lang`` (English is the source: no catalogue)."""
    if lang not in _CACHE:
        _CACHE[lang] = (
            Translations.load(str(TRANSLATIONS), [lang]) if lang != "en" else NullTranslations()
        )
    return _CACHE[lang]


def gettext_in(lang: str, message: str, **values) -> str:
    """``message`` in ``lang`` (outside a request: workers, the CLI), formatted with ``values``."""
    text = catalogue(lang).gettext(message)
    return text % values if values else text


def ngettext_in(lang: str, singular: str, plural: str, n: int, **values) -> str:
    text = catalogue(lang).ngettext(singular, plural, n)
    return text % {"num": n, **values}


def init_app(app) -> None:
    """flask-babel on the app: the catalogue in b24app/translations, the locale per request."""
    from flask_babel import Babel

    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    Babel(app, locale_selector=request_language)
