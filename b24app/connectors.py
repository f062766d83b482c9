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
    hint: tuple[str, str] = ("", "")  # where the value comes from / what it looks like (ru, en)

    def label(self, lang: str) -> str:
        return self.en if lang == "en" else self.ru

    def help(self, lang: str) -> str:
        return self.hint[1] if lang == "en" else self.hint[0]


SETTINGS = (
    Setting("language", "Язык того, что приложение пишет в портал (комментарии, отчёты)",
            "Language of what the app writes into the portal (comments, reports)", choices=("ru", "en")),
    Setting("timepad_token", "Timepad: токен API", "Timepad: API token", secret=True,
            hint=("Timepad → «Организация» → «Настройки» → «API»: выпустите токен с правом view_private_events и view_visitors.",
                  "Timepad → Organisation → Settings → API: issue a token with view_private_events and view_visitors.")),
    Setting("timepad_secret", "Timepad: секрет подписи вебхуков", "Timepad: webhook signing secret", secret=True,
            hint=("Придумайте длинную случайную строку и впишите её и здесь, и в настройках вебхука в Timepad.",
                  "Make up a long random string and enter it both here and in Timepad's webhook settings.")),
    Setting("timepad_organization_id", "Timepad: ID организации", "Timepad: organisation id", pattern=r"\d{1,12}"),
    Setting("timepad_end_hours", "Timepad: часов от начала до конца, если конец не указан (по умолчанию 3)",
            "Timepad: hours from start to end when the event has no end (default 3)", pattern=r"\d{1,3}"),
    Setting("cloudpayments_public_id", "CloudPayments: Public ID (для сверки и отмены подписок)",
            "CloudPayments: Public ID (reconcile and subscription cancel)"),
    Setting("cloudpayments_secret", "CloudPayments: API Secret", "CloudPayments: API secret", secret=True,
            hint=("Личный кабинет CloudPayments → «Сайты» → ваш сайт → «Настройки»: поле «API Secret».",
                  "CloudPayments back office → Sites → your site → Settings: the «API Secret» field.")),
    Setting("leyka_secret", "Лейка: секрет моста", "Leyka bridge secret", secret=True,
            hint=("Пароль, общий для этого приложения и плагина «Blago24: мост Лейки» на вашем сайте: придумайте длинную случайную строку и впишите её в обоих местах.",
                  "A password shared by this app and the «Blago24 Leyka bridge» plugin on your site: make up a long random string and enter it in both places.")),
    Setting("letter_channel", "Канал писем", "Letter channel", choices=("bitrix24", "smtp", "unisender")),
    Setting("letter_sender", "Отправитель писем", "Letter sender", pattern=r"[^<>@]*[^<>@\s] <[^<>@\s]+@[^<>@\s]+\.[^<>@\s]+>",
            hint=("Имя и адрес в угловых скобках: Фонд «Добро» <hello@dobro.example>",
                  "A name and the address in angle brackets: Dobro Fund <hello@dobro.example>")),
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


class SettingRefused(BadRequest):
    """A value that does not look like the setting's (``pattern``): the page names the field and the format."""

    def __init__(self, setting: Setting, value: str):
        example = f" ({setting.hint[0]} / {setting.hint[1]})" if setting.hint[0] else ""
        super().__init__(f"{setting.key}: {value[:40]!r} is not a valid value{example}")
        self.setting, self.value = setting, value[:40]


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
            raise SettingRefused(setting, value)
        if setting.choices and value not in setting.choices:
            raise BadRequest(f"{key} must be one of {', '.join(setting.choices)}")
        default = setting.choices[0] if setting.choices else ""
        if (portal.settings.get(key) or default) != (
            value or default
        ):  # a choice left at its default
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
