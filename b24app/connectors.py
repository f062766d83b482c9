"""Per-portal connector settings (what the app page and ``b24app settings`` edit) and webhook URLs."""

import re
import zoneinfo
from dataclasses import dataclass

import phonenumbers

from .errors import BadRequest
from .portals import Portal


@dataclass(frozen=True)
class Setting:
    """One connector setting: key, labels, whether it is a secret, allowed values."""

    key: str
    ru: str
    en: str
    secret: bool = False
    choices: tuple[str, ...] = ()
    min_length: int = 12  # of a secret: one that signs webhooks must not be guessable
    pattern: str = ""  # what a value must look like (a full match), when not free text


SETTINGS = (
    Setting("timepad_token", "Timepad: токен API", "Timepad: API token", secret=True),
    Setting("timepad_secret", "Timepad: секрет подписи вебхуков", "Timepad: webhook signing secret", secret=True),
    Setting("timepad_organization_id", "Timepad: ID организации", "Timepad: organisation id", pattern=r"\d{1,12}"),
    Setting("timepad_end_hours", "Timepad: часов от начала до конца, если конец не указан (по умолчанию 3)",
            "Timepad: hours from start to end when the event has no end (default 3)", pattern=r"\d{1,3}"),
    Setting("cloudpayments_public_id", "CloudPayments: Public ID (для сверки и отмены подписок)",
            "CloudPayments: Public ID (reconcile and subscription cancel)"),
    Setting("cloudpayments_secret", "CloudPayments: API Secret", "CloudPayments: API secret", secret=True),
    Setting("leyka_secret", "Лейка: секрет моста", "Leyka bridge secret", secret=True),
    Setting("letter_channel", "Канал писем", "Letter channel", choices=("bitrix24", "smtp", "unisender")),
    Setting("letter_sender", "Отправитель писем", "Letter sender (Name <e-mail>)"),
    Setting("letter_language", "Язык писем донорам", "Language of donor letters", choices=("ru", "en")),
    Setting("smtp_host", "SMTP: сервер", "SMTP: server"),
    Setting("smtp_port", "SMTP: порт", "SMTP: port", pattern=r"^(\d{1,5})?$"),
    Setting("smtp_tls", "SMTP: шифрование", "SMTP: encryption", choices=("starttls", "ssl", "none")),
    Setting("smtp_user", "SMTP: пользователь", "SMTP: user"),
    Setting("smtp_password", "SMTP: пароль", "SMTP: password", secret=True, min_length=1),
    Setting("unisender_api_key", "Unisender: ключ API", "Unisender: API key", secret=True, min_length=1),
    Setting("unisender_list_id", "Unisender: ID списка", "Unisender: list id", pattern=r"^(\d{1,12})?$"),
    Setting("dedup_auto_merge", "Объединять уверенные дубликаты автоматически", "Merge confident duplicates automatically",
            choices=("no", "yes")),
    Setting("timezone", "Часовой пояс фонда (для дат и итогов)", "The fund's time zone (dates and totals)",
            choices=("Europe/Moscow", *sorted(zoneinfo.available_timezones() - {"Europe/Moscow"}))),
    Setting("phone_region", "Страна телефонов без кода страны", "Country of phone numbers written without a country code",
            choices=("RU", *sorted(phonenumbers.SUPPORTED_REGIONS - {"RU"}))),
)  # fmt: skip
BY_KEY = {s.key: s for s in SETTINGS}
MIN_SECRET = 12  # a secret that signs webhooks must not be guessable
DEFAULT_END_HOURS = 3


def webhook_urls(public_url: str, portal: Portal, paths: list[str]) -> dict[str, str]:
    """This portal's own webhook URL for each source path (``handlers.SOURCES``): /hooks/<key>/<path>."""
    return {path: f"{public_url.rstrip('/')}/hooks/{portal.key}/{path}" for path in paths}


def update_settings(portal: Portal, values: dict[str, str]) -> list[str]:
    """Apply validated values (empty secrets mean "unchanged"); returns the keys changed."""
    changed = []
    for key, value in values.items():
        setting = BY_KEY.get(key)
        if setting is None:
            raise BadRequest(f"unknown setting {key!r}; known: {', '.join(BY_KEY)}")
        value = (value or "").strip()
        if setting.secret and not value:
            continue
        if setting.secret and len(value) < setting.min_length:
            raise BadRequest(
                f"{key} must be at least {setting.min_length} characters (a long random string)"
            )
        if setting.pattern and value and not re.fullmatch(setting.pattern, value):
            raise BadRequest(f"{key}: {value[:40]!r} is not a valid value")
        if setting.choices and value not in setting.choices:
            raise BadRequest(f"{key} must be one of {', '.join(setting.choices)}")
        if portal.settings.get(key) != value:
            portal.settings[key] = value
            changed.append(key)
    timepad_needs_secret(portal.settings)
    return changed


def timepad_needs_secret(settings: dict) -> None:
    """Timepad is switched on by its token or organisation; without the webhook secret every hook would
    be refused, so that is a BadRequest."""
    if (
        settings.get("timepad_token") or settings.get("timepad_organization_id")
    ) and not settings.get("timepad_secret"):
        raise BadRequest(
            "timepad_secret: задайте секрет подписи вебхуков Timepad, иначе каждый вебхук будет отклонён / "
            "set the Timepad webhook secret first, or every hook would be refused"
        )


def end_hours(settings: dict) -> int:
    """Hours from an event's start to its end when Timepad gives no end (``timepad_end_hours``, default 3)."""
    value = str(settings.get("timepad_end_hours") or "")
    return int(value) if value.isdigit() and 0 < int(value) <= 240 else DEFAULT_END_HOURS


def public_view(portal: Portal) -> dict[str, str]:
    """Settings for display: secrets only as "set"/"not set"."""
    out = {}
    for s in SETTINGS:
        value = portal.settings.get(s.key, "")
        out[s.key] = ("set" if value else "") if s.secret else value
    return out
