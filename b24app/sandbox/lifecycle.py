"""App lifecycle in a portal (bitrix24-rest.md §1): install by the UI or no-UI flow, update, uninstall."""

import json
import time
from urllib.parse import urlencode

import requests

from .delivery import courier
from .phpjson import flatten
from .world import Portal, World, token

ADMIN = "1"


def begin_install(world: World, portal: Portal, app: dict) -> dict:
    """Create (or renew) the app's install record; not finished until installFinish / ONAPPINSTALL."""
    with world.lock:
        inst = portal.install(app["client_id"])
        if inst is None:
            inst = portal.state["installs"][app["client_id"]] = {
                "installed": False,
                "application_token": token(),
                "version": app["version"],
                "events": [],
                "placements": [],
                "robots": {},
                "options": portal.state.get("kept_options", {}).pop(app["client_id"], {}),
                "installed_at": None,
            }
        return inst


def finish_install(world: World, portal: Portal, client_id: str) -> None:
    """``BX24.installFinish()``: from now on events are delivered and placements shown."""
    with world.lock:
        inst = portal.install(client_id)
        if inst is not None:
            inst["installed"] = True
            inst["installed_at"] = time.time()


def open_session(world: World, portal: Portal, app: dict, user_id: str, placement: str,
                 options: dict | None = None) -> dict:  # fmt: skip
    """An APP_SID for one render of an app page: the user's tokens and placement context."""
    with world.lock:
        sid = token()
        tokens = world.issue_tokens(portal, app["client_id"], user_id)
        session = {
            "app_sid": sid,
            "member_id": portal.member_id,
            "client_id": app["client_id"],
            "user_id": user_id,
            "placement": placement,
            "options": options or {},
            **tokens,
        }
        world.state["sessions"][sid] = session
        return session


def page_request(world: World, portal: Portal, app: dict, session: dict, lang: str = "ru",
                 target: str | None = None) -> tuple[str, dict]:  # fmt: skip
    """The §1.2 POST that opens an app page at ``target`` (default: the app's handler): (URL, form)."""
    inst = portal.install(app["client_id"]) or {}
    query = {"DOMAIN": portal.domain, "PROTOCOL": "0", "LANG": lang, "APP_SID": session["app_sid"]}
    form = {
        "AUTH_ID": session["access_token"],
        "AUTH_EXPIRES": str(session["expires_in"]),
        "REFRESH_ID": session["refresh_token"],
        "SERVER_ENDPOINT": world.oauth_url,
        "APPLICATION_TOKEN": inst.get("application_token", ""),
        "APPLICATION_SCOPE": ",".join(app["scopes"]),
        "member_id": portal.member_id,
        "status": "L",
        "PLACEMENT": session["placement"],
    }
    if session["options"] or session["placement"] != "DEFAULT":
        form["PLACEMENT_OPTIONS"] = json.dumps(session["options"])
    target = target or app["handler"]
    url = target + ("&" if "?" in target else "?") + urlencode(query)
    return url, form


def install_ui(world: World, portal: Portal, app: dict, finish: bool) -> dict:
    """UI flow: POST the install page; with ``finish`` act as the browser running installFinish()."""
    begin_install(world, portal, app)
    session = open_session(world, portal, app, ADMIN, "DEFAULT")
    url, form = page_request(world, portal, app, session, target=app["install_url"])
    resp = post_to_app(url, form)
    finished = False
    if finish and resp.ok and "BX24.installFinish" in resp.text:
        finish_install(world, portal, app["client_id"])
        finished = True
    return {"status": resp.status_code, "html": resp.text, "app_sid": session["app_sid"],
            "url": url, "installed": finished}  # fmt: skip


def install_event(world: World, portal: Portal, app: dict) -> dict:
    """No-UI flow: the app is installed at once and its handler gets ONAPPINSTALL with tokens."""
    inst = begin_install(world, portal, app)
    finish_install(world, portal, app["client_id"])
    with world.lock:
        form = {
            "event": "ONAPPINSTALL",
            "data": {
                "VERSION": str(app["version"]),
                "ACTIVE": "Y",
                "INSTALLED": "Y",
                "LANGUAGE_ID": "ru",
            },
            "ts": str(int(time.time())),
            "auth": world.auth_block(portal, app, ADMIN, refresh=True),
        }
    resp = post_to_app(app["install_url"], flatten(form))
    portal.log("deliveries", {"kind": "install", "url": app["install_url"], "form": form,
                              "status": resp.status_code, "response": resp.text[:2000]})  # fmt: skip
    return {"status": resp.status_code, "installed": inst["installed"]}


def update(world: World, app: dict, version: int) -> int:
    """A new app version: ONAPPUPDATE (new application_token) to every portal that has it bound."""
    sent = 0
    with world.lock:
        previous, app["version"] = app["version"], version
        for state in world.state["portals"].values():
            portal = Portal(world, state)
            inst = portal.install(app["client_id"])
            if not inst or not inst["installed"]:
                continue
            inst["application_token"] = token()
            inst["version"] = version
            data = {"VERSION": str(version), "PREVIOUS_VERSION": str(previous), "LANGUAGE_ID": "ru"}
            sent += _notify(world, portal, app, inst, "ONAPPUPDATE", data, ADMIN)
    return sent


def uninstall(world: World, portal: Portal, app: dict, clean: bool) -> int:
    """Remove the app: ONAPPUNINSTALL (no tokens), handlers and placements gone, tokens revoked."""
    with world.lock:
        inst = portal.install(app["client_id"])
        if not inst:
            return 0
        sent = _notify(world, portal, app, inst, "ONAPPUNINSTALL",
                       {"LANGUAGE_ID": "ru", "CLEAN": 1 if clean else 0}, None)  # fmt: skip
        del portal.state["installs"][app["client_id"]]
        if not clean:
            portal.state.setdefault("kept_options", {})[app["client_id"]] = inst.get("options", {})
        for table in ("tokens", "refresh_tokens"):
            recs = world.state[table]
            for key in [k for k, r in recs.items()
                        if r["client_id"] == app["client_id"] and r["member_id"] == portal.member_id]:  # fmt: skip
                del recs[key]
    return sent


class AppUnreachable(Exception):
    """The app's handler could not be reached (connection refused, timeout)."""


def post_to_app(url: str, data) -> requests.Response:
    """POST a form to the app; AppUnreachable instead of a transport exception."""
    try:
        return requests.post(url, data=data, timeout=60)
    except requests.RequestException as exc:
        raise AppUnreachable(f"{url}: {type(exc).__name__}: {exc}") from exc


def _notify(
    world: World, portal: Portal, app: dict, inst: dict, event: str, data: dict, user
) -> int:
    sent = 0
    for binding in inst.get("events", []):
        if binding["event"] == event and not binding.get("offline"):
            form = {
                "event": event,
                "event_handler_id": str(binding["id"]),
                "data": data,
                "ts": str(int(time.time())),
                "auth": world.auth_block(portal, app, user, refresh=False),
            }
            courier(world).send(portal, "event", binding["handler"], form, {"event": event})
            sent += 1
    return sent
