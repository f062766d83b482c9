"""The sandbox world's state: portals, apps, installs, tokens, webhooks and the logs tests read.

All state is plain JSON-able data under ``World.state`` so it can be saved to and loaded from a file.
Every REST call and control call holds ``World.lock`` while it reads or writes.
"""

import json
import secrets
import threading
import time
from pathlib import Path
from typing import Any

DEFAULT_USERS = {
    "1": {"ID": "1", "NAME": "Анна", "LAST_NAME": "Админова", "EMAIL": "admin@fund.example",
          "ADMIN": True, "ACTIVE": True, "TIME_ZONE": "Europe/Moscow"},
    "2": {"ID": "2", "NAME": "Борис", "LAST_NAME": "Менеджеров", "EMAIL": "manager@fund.example",
          "ADMIN": False, "ACTIVE": True, "TIME_ZONE": "Europe/Moscow"},
}  # fmt: skip

PLANS = {"basic": (2.0, 50), "enterprise": (5.0, 250)}


def token(n: int = 16) -> str:
    """A random lower-case hex token like Bitrix24's (32 chars by default)."""
    return secrets.token_hex(n)


class Portal:
    """One portal's state: a view over its dict in ``World.state["portals"]``."""

    def __init__(self, world: "World", state: dict):
        self.world = world
        self.state = state

    @property
    def member_id(self) -> str:
        return self.state["member_id"]

    @property
    def domain(self) -> str:
        return self.state["domain"]

    @property
    def settings(self) -> dict:
        return self.state["settings"]

    @property
    def rest_url(self) -> str:
        """This portal's own REST endpoint (``client_endpoint``)."""
        return f"{self.world.base_url}/p/{self.domain}/rest/"

    def rate(self) -> tuple[float, int]:
        """(drain rate per second, bucket size) of the portal's plan (bitrix24-rest.md §3.1)."""
        return PLANS[self.settings["plan"]]

    def next_id(self, kind: str) -> int:
        """The next integer id of a kind of record in this portal."""
        seq = self.state["seq"]
        seq[kind] = seq.get(kind, 0) + 1
        return seq[kind]

    def bucket(self, name: str) -> dict:
        """A module's own storage dict inside the portal state, created on first use."""
        return self.state["data"].setdefault(name, {})

    def table(self, kind: str) -> dict[str, dict]:
        """Records of one CRM kind (``contact``, ``deal``, ``item:128``...) keyed by string id."""
        return self.state["data"].setdefault("tables", {}).setdefault(kind, {})

    def user(self, user_id: Any) -> dict | None:
        return self.state["users"].get(str(user_id))

    def install(self, client_id: str) -> dict | None:
        """The install record of an app in this portal, or None."""
        return self.state["installs"].get(client_id)

    def installed_apps(self) -> list[tuple[dict, dict]]:
        """(app, install) pairs for apps whose installation is finished."""
        apps = self.world.state["apps"]
        return [
            (apps[cid], inst)
            for cid, inst in self.state["installs"].items()
            if inst.get("installed") and cid in apps
        ]

    def log(self, name: str, entry: dict) -> None:
        """Append an entry to one of the portal's logs (outbox, deliveries, robots, ...)."""
        entry.setdefault("ts", time.time())
        self.state["logs"].setdefault(name, []).append(entry)

    def logs(self, name: str) -> list[dict]:
        return self.state["logs"].get(name, [])

    def count(self, method: str) -> None:
        counters = self.state["counters"]
        counters[method] = counters.get(method, 0) + 1


class World:
    """The whole sandbox: apps, portals, tokens. One per sandbox server."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1",
        access_ttl: int = 3600,
        refresh_ttl: int = 180 * 86400,
        save_path: str | None = None,
    ):
        self.lock = threading.RLock()
        self.base_url = base_url.rstrip("/")
        self.save_path = Path(save_path) if save_path else None
        self.state: dict = {}
        self.runtime: dict = {}  # limiter levels, fault plans, the courier: not saved
        self.reset(access_ttl=access_ttl, refresh_ttl=refresh_ttl)
        if self.save_path and self.save_path.exists():
            self.state = json.loads(self.save_path.read_text())
            self.state["config"]["access_ttl"] = access_ttl

    def reset(self, access_ttl: int = 3600, refresh_ttl: int = 180 * 86400) -> None:
        """Forget everything (a fresh world), keeping the server's base URL."""
        with self.lock:
            self.state = {
                "config": {"access_ttl": access_ttl, "refresh_ttl": refresh_ttl},
                "apps": {},
                "portals": {},
                "tokens": {},
                "refresh_tokens": {},
                "webhooks": {},
                "sessions": {},
                "seq": {},
            }
            courier = getattr(self, "runtime", {}).get("courier")
            self.runtime = {"courier": courier} if courier else {}

    def save(self) -> None:
        """Write the state to the save file, if one was given."""
        if self.save_path:
            with self.lock:
                data = json.dumps(self.state, ensure_ascii=False)
            self.save_path.write_text(data)

    @property
    def config(self) -> dict:
        return self.state["config"]

    @property
    def oauth_url(self) -> str:
        """The OAuth server's REST endpoint (``server_endpoint``); its token URL is ``/oauth-server/oauth/token/``."""
        return f"{self.base_url}/oauth-server/rest/"

    # --- portals --------------------------------------------------------------------------------

    def create_portal(
        self, domain: str | None = None, plan: str = "basic", limits: bool = True
    ) -> Portal:
        """A new portal with two users and an admin incoming webhook."""
        if plan not in PLANS:
            raise ValueError(f"unknown plan {plan!r}; expected one of {sorted(PLANS)}")
        with self.lock:
            member_id = token()
            n = len(self.state["portals"]) + 1
            domain = domain or f"fund{n}.bitrix24.test"
            if self.portal_by_domain(domain):
                raise ValueError(f"domain {domain} is taken")
            state = {
                "member_id": member_id,
                "domain": domain,
                "old_domains": [],
                "settings": {
                    "plan": plan,
                    "rate_limit": limits,
                    "operating_limit": limits,
                    "operating_limit_seconds": 480.0,
                    "method_costs": {},
                    "timezone": "Europe/Moscow",
                    "mailboxes": None,  # None: any From is "connected"; a list: only these addresses
                },
                "users": json.loads(json.dumps(DEFAULT_USERS)),
                "installs": {},
                "data": {},
                "seq": {},
                "logs": {},
                "counters": {},
            }
            self.state["portals"][member_id] = state
            portal = Portal(self, state)
            code = token(8)
            self.state["webhooks"][code] = {"member_id": member_id, "user_id": "1", "scopes": ["*"]}
            state["admin_webhook"] = code
            return portal

    def portal(self, member_id: str) -> Portal | None:
        state = self.state["portals"].get(member_id)
        return Portal(self, state) if state else None

    def portal_by_domain(self, domain: str) -> Portal | None:
        for state in self.state["portals"].values():
            if state["domain"] == domain:
                return Portal(self, state)
        return None

    def portal_by_old_domain(self, domain: str) -> Portal | None:
        for state in self.state["portals"].values():
            if domain in state["old_domains"]:
                return Portal(self, state)
        return None

    def webhook_url(self, portal: Portal, code: str | None = None) -> str:
        code = code or portal.state["admin_webhook"]
        user_id = self.state["webhooks"][code]["user_id"]
        return f"{portal.rest_url}{user_id}/{code}/"

    # --- apps and tokens -----------------------------------------------------------------------

    def register_app(
        self,
        handler: str,
        scopes: list[str],
        code: str = "local.blago24",
        name: str = "Blago24",
        ui: bool = True,
        version: int = 1,
        install_url: str | None = None,
    ) -> dict:
        """A local app: client id and secret, its handler (app page) and install URLs, scopes."""
        with self.lock:
            n = len(self.state["apps"]) + 1
            client_id = f"local.{token(7)}.{n:08d}"
            app = {
                "client_id": client_id,
                "client_secret": token(24),
                "code": code,
                "name": name,
                "handler": handler,
                "install_url": install_url or handler,
                "ui": ui,
                "scopes": list(scopes),
                "version": version,
                "id": n,
            }
            self.state["apps"][client_id] = app
            return app

    def app(self, client_id: str) -> dict | None:
        return self.state["apps"].get(client_id)

    def issue_tokens(self, portal: Portal, client_id: str, user_id: Any) -> dict:
        """A fresh access and refresh token pair for (portal, app, user)."""
        now = time.time()
        access, refresh = token(), token()
        owner = {"member_id": portal.member_id, "client_id": client_id, "user_id": str(user_id)}
        self.state["tokens"][access] = {**owner, "expires": now + self.config["access_ttl"]}
        self.state["refresh_tokens"][refresh] = {
            **owner,
            "expires": now + self.config["refresh_ttl"],
        }
        return {
            "access_token": access,
            "refresh_token": refresh,
            "expires": int(now + self.config["access_ttl"]),
            "expires_in": int(self.config["access_ttl"]),
        }

    def auth_block(self, portal: Portal, app: dict, user_id: Any | None, refresh: bool) -> dict:
        """The ``auth[...]`` block Bitrix24 puts into events, robot calls and ONAPPINSTALL."""
        inst = portal.install(app["client_id"]) or {}
        block = {
            "domain": portal.domain,
            "client_endpoint": portal.rest_url,
            "server_endpoint": self.oauth_url,
            "member_id": portal.member_id,
            "application_token": inst.get("application_token", ""),
        }
        if user_id is None:
            return block
        tokens = self.issue_tokens(portal, app["client_id"], user_id)
        block.update(
            access_token=tokens["access_token"],
            expires=tokens["expires"],
            expires_in=tokens["expires_in"],
            scope=",".join(app["scopes"]),
            status="L",
            user_id=str(user_id),
        )
        if refresh:
            block["refresh_token"] = tokens["refresh_token"]
        return block

    def expire_tokens(self, member_id: str | None = None) -> int:
        """Make access tokens (of one portal, or all) expired now; returns how many."""
        n = 0
        with self.lock:
            for rec in self.state["tokens"].values():
                if member_id in (None, rec["member_id"]):
                    rec["expires"] = 0
                    n += 1
        return n
