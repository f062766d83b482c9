"""Outbound HTTP from the portal to apps: events (§6.2), robot calls (§5.2), install callbacks (§1.3).

Deliveries run on one background thread, in order, never retried (as Bitrix24 does), and each one
is written to the portal's ``deliveries`` log. ``drain()`` waits until everything queued was sent.
"""

import queue
import threading
import time
from typing import Any

import requests

from .call import Auth
from .phpjson import flatten
from .world import Portal, World

TIMEOUT = 10


class Courier:
    """The delivery thread of one world."""

    def __init__(self, world: World):
        self.world = world
        self.jobs: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._loop, name="sandbox-courier", daemon=True)
        self.thread.start()

    def send(
        self, portal: Portal, kind: str, url: str, form: dict, meta: dict | None = None
    ) -> None:
        """Queue a form-encoded POST of nested ``form`` data to ``url``."""
        self.jobs.put((portal.member_id, kind, url, form, meta or {}))

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every queued delivery was attempted; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.jobs.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def _loop(self) -> None:
        while True:
            member_id, kind, url, form, meta = self.jobs.get()
            try:
                self._post(member_id, kind, url, form, meta)
            finally:
                self.jobs.task_done()

    def _post(self, member_id: str, kind: str, url: str, form: dict, meta: dict) -> None:
        entry: dict[str, Any] = {"kind": kind, "url": url, "form": form, **meta}
        try:
            resp = requests.post(url, data=flatten(form), timeout=TIMEOUT, allow_redirects=False)
            entry.update(status=resp.status_code, response=resp.text[:2000])
        except requests.RequestException as exc:
            entry.update(status=None, response=f"{type(exc).__name__}: {exc}")
        with self.world.lock:
            portal = self.world.portal(member_id)
            if portal:
                portal.log("deliveries", entry)


def courier(world: World) -> Courier:
    """The world's courier, started on first use."""
    with world.lock:
        c = world.runtime.get("courier")
        if c is None:
            c = world.runtime["courier"] = Courier(world)
        return c


def enqueue_events(
    world: World, portal: Portal, auth: Auth, events: list[tuple[str, dict]]
) -> None:
    """Send each event to every installed app's handlers bound to it (§6.2)."""
    if not events:
        return
    with world.lock:
        for name, data in events:
            for app, inst in portal.installed_apps():
                for binding in inst.get("events", []):
                    if binding["event"] != name or binding.get("offline"):
                        continue
                    user = None if auth.automation else _event_user(binding, auth)
                    form = {
                        "event": name,
                        "event_handler_id": str(binding["id"]),
                        "data": data,
                        "ts": str(int(time.time())),
                        "auth": world.auth_block(portal, app, user, refresh=False),
                    }
                    courier(world).send(portal, "event", binding["handler"], form, {"event": name})


def _event_user(binding: dict, auth: Auth) -> str:
    """The user whose token goes with the event: the binding's ``auth_type`` or the acting user."""
    auth_type = str(binding.get("auth_type") or "0")
    return auth_type if auth_type != "0" else auth.user_id
