"""What a sandbox REST method receives (``Call``) and may return (``Listing``)."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import RestError
from .world import Portal, World


@dataclass
class Auth:
    """Who is calling: an app's OAuth token or an incoming webhook, and as which user."""

    kind: str  # "app" | "webhook"
    user_id: str
    scopes: list[str]
    client_id: str | None = None
    webhook: str | None = None
    automation: bool = (
        False  # the change is made by a robot or business process: events carry no tokens
    )

    @property
    def limiter_key(self) -> str:
        """Key of the operating-time limiter: auth type and app or webhook id (§3.2)."""
        return f"app:{self.client_id}" if self.kind == "app" else f"webhook:{self.webhook}"

    def has_scope(self, scope: str | None) -> bool:
        return scope is None or "*" in self.scopes or scope in self.scopes


@dataclass
class Call:
    """One REST method call inside the sandbox portal."""

    world: World
    portal: Portal
    method: str
    params: dict
    auth: Auth
    start: int | None = None
    events: list[tuple[str, dict]] = field(default_factory=list)

    def get(self, *names: str, default: Any = None) -> Any:
        """A parameter by any of its names, case-insensitively (Bitrix accepts ``id`` and ``ID``)."""
        lowered = {str(k).lower(): v for k, v in self.params.items()}
        for name in names:
            if name in self.params:
                return self.params[name]
            if name.lower() in lowered:
                return lowered[name.lower()]
        return default

    def require_admin(self) -> None:
        user = self.portal.user(self.auth.user_id) or {}
        if not user.get("ADMIN"):
            raise RestError("ACCESS_DENIED", "Administrator authorization required", 403)

    def require_app(self) -> dict:
        """The calling app; methods that need app context refuse webhooks (WRONG_AUTH_TYPE)."""
        if self.auth.kind != "app":
            raise RestError("WRONG_AUTH_TYPE", "Application context required", 403)
        return self.world.state["apps"][self.auth.client_id]

    def emit(self, event: str, data: dict) -> None:
        """Queue an event for delivery to every installed app bound to it, after the call returns."""
        self.events.append((event.upper(), data))


@dataclass
class Listing:
    """A list method's whole filtered, ordered result; the dispatcher pages it by 50."""

    items: list
    wrap: Callable[[list], Any] | None = None  # e.g. lambda page: {"items": page} for crm.item.list


@dataclass(frozen=True)
class Method:
    """A registry entry: REST name, function, required scope, and whether only apps may call it."""

    name: str
    fn: Callable[[Call], Any]
    scope: str | None = None
    app_only: bool = False
