"""The Timepad API client (external-services.md §1.1-1.2): ``Authorization: Bearer <token>``, JSON, lists
paged with ``limit``/``skip`` until a short page, errors put into words for the user."""

from collections.abc import Iterator

import requests

from ..errors import Blago24Error
from . import Event

EVENTS_LIMIT = 100  # GET /v1/events allows 1-100
ORDERS_LIMIT = 250  # GET /v1/events/{id}/orders allows 1-250
TIMEOUT = 30


class TimepadError(Blago24Error):
    """Timepad refused or failed a request; the message is for the user. ``retryable``: worth another try."""

    def __init__(self, message: str, status: int = 0, retryable: bool = False):
        super().__init__(message)
        self.status, self.retryable = status, retryable


class TimepadClient:
    """One organisation's token against the API at ``base_url`` (``B24APP_TIMEPAD_API_URL``)."""

    def __init__(self, base_url: str, token: str, session: requests.Session | None = None):
        if not token:
            raise TimepadError(
                "Timepad: на странице приложения не задан токен API / no Timepad API token set"
            )
        self.base = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.session.headers.update(
            {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        )
        self.requests = 0

    def get(self, path: str, **params) -> dict:
        """One GET; TimepadError in words for a refusal (403: no ``view_visitors``), 404 or an outage."""
        self.requests += 1
        try:
            resp = self.session.get(f"{self.base}{path}", params=params, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise TimepadError(f"Timepad не отвечает / Timepad is unreachable: {type(exc).__name__}",
                               retryable=True) from None  # fmt: skip
        if resp.status_code in (401, 403):
            raise TimepadError(
                "Timepad отказал в доступе: у токена нет права view_visitors (просмотр участников) для "
                "этой организации или токен неверен / Timepad denied access: the token lacks the "
                f"view_visitors permission for this organisation or is wrong ({resp.status_code}: "
                f"{message_of(resp)})",
                resp.status_code,
            )
        if resp.status_code == 404:
            raise TimepadError(f"Timepad: не найдено / not found: {path}", 404)
        if resp.status_code >= 400:
            raise TimepadError(f"Timepad ответил {resp.status_code} / answered {resp.status_code}: "
                               f"{message_of(resp)}", resp.status_code, resp.status_code >= 429)  # fmt: skip
        try:
            data = resp.json()
        except ValueError:
            raise TimepadError("Timepad ответил не JSON / answered something other than JSON",
                               resp.status_code, True) from None  # fmt: skip
        if not isinstance(data, dict):
            raise TimepadError("Timepad ответил не объектом JSON / did not answer a JSON object")
        return data

    def events(self, organization_id: int, limit: int = EVENTS_LIMIT, **filters) -> list[Event]:
        """The organisation's events (one page, newest start first)."""
        data = self.get("/v1/events", organization_ids=organization_id, limit=min(limit, EVENTS_LIMIT),
                        sort="-starts_at", **filters)  # fmt: skip
        return [Event.of(v) for v in values_of(data)]

    def event(self, event_id: int) -> Event:
        return Event.of(self.get(f"/v1/events/{int(event_id)}"))

    def orders_page(self, event_id: int, skip: int = 0) -> list[dict]:
        """One page of an event's orders (each with its tickets) from ``skip``."""
        return values_of(
            self.get(f"/v1/events/{int(event_id)}/orders", limit=ORDERS_LIMIT, skip=skip)
        )

    def orders(self, event_id: int) -> Iterator[dict]:
        """Every order of the event, page after page until a short one."""
        skip = 0
        while True:
            page = self.orders_page(event_id, skip)
            yield from page
            if len(page) < ORDERS_LIMIT:
                return
            skip += len(page)

    def order(self, event_id: int, order_id: int) -> dict:
        return self.get(f"/v1/events/{int(event_id)}/orders/{int(order_id)}")


def values_of(data: dict) -> list[dict]:
    """A list answer's ``values`` (objects only)."""
    values = data.get("values")
    return [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []


def message_of(resp: requests.Response) -> str:
    """Timepad's own words from ``{"response_status": {"message": ...}}``, else the body's start."""
    try:
        status = resp.json().get("response_status") or {}
        return str(status.get("message") or "")[:200]
    except (ValueError, AttributeError):
        return resp.text[:200]


def client_for(settings: dict, api_url: str) -> TimepadClient:
    """The client of a portal's connector settings."""
    return TimepadClient(api_url, settings.get("timepad_token", ""))
