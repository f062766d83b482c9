"""The sandbox's control API under ``/_sandbox/`` (documented in docs/sandbox.md): tests and the demo drive the world here."""

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from . import faults, lifecycle
from .delivery import courier
from .world import Portal, World

bp = Blueprint("sandbox_control", __name__, url_prefix="/_sandbox")


class ControlError(Exception):
    """A bad control call: 400 (or ``status``) with a message."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@bp.errorhandler(ControlError)
def control_error(err: ControlError) -> tuple[Response, int]:
    return jsonify(error=str(err)), err.status


@bp.errorhandler(lifecycle.AppUnreachable)
def app_unreachable(err: lifecycle.AppUnreachable) -> tuple[Response, int]:
    return jsonify(error=f"the app did not answer: {err}"), 502


def world() -> World:
    return current_app.config["WORLD"]


@bp.get("/")
def index() -> Response:
    """The control API itself: every route under /_sandbox/ with its methods and what it does (HTML for a
    browser, JSON otherwise)."""
    routes = []
    for rule in sorted(current_app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.rule.startswith("/_sandbox/") and rule.rule != "/_sandbox/":
            doc = (current_app.view_functions[rule.endpoint].__doc__ or "").strip().split("\n")[0]
            methods = sorted(m for m in rule.methods or () if m not in ("HEAD", "OPTIONS"))
            routes.append({"path": rule.rule, "methods": methods, "doc": doc})
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) != "text/html":
        return jsonify(routes=routes)
    return Response(render_template("ui_control.html", routes=routes), mimetype="text/html")


def body() -> dict:
    data = request.get_json(silent=True)
    if data is None:
        data = request.form.to_dict()
    if not isinstance(data, dict):
        raise ControlError("expected a JSON object")
    return data


def portal_or_404(member_id: str) -> Portal:
    portal = world().portal(member_id)
    if not portal:
        raise ControlError(f"no portal {member_id}", 404)
    return portal


def app_or_404(client_id: Any) -> dict:
    app = world().app(str(client_id or ""))
    if not app:
        raise ControlError(f"no app {client_id}", 404)
    return app


def portal_info(portal: Portal) -> dict:
    w = portal.world
    return {
        "member_id": portal.member_id,
        "domain": portal.domain,
        "rest_url": portal.rest_url,
        "webhook_url": w.webhook_url(portal),
        "settings": portal.settings,
        "installs": {
            cid: {k: v for k, v in inst.items() if k != "options"}
            for cid, inst in portal.state["installs"].items()
        },  # fmt: skip
    }


@bp.post("/reset")
def reset() -> Response:
    w = world()
    courier(w).drain()
    cfg = body()
    w.reset(
        access_ttl=int(cfg.get("access_ttl", 3600)),
        refresh_ttl=int(cfg.get("refresh_ttl", 180 * 86400)),
    )
    return jsonify(ok=True)


@bp.post("/portals")
def create_portal() -> Response:
    cfg = body()
    try:
        portal = world().create_portal(
            cfg.get("domain"), cfg.get("plan", "basic"), bool(cfg.get("limits", True))
        )
    except ValueError as exc:
        raise ControlError(str(exc)) from exc
    return jsonify(portal_info(portal))


@bp.get("/portals")
def list_portals() -> Response:
    w = world()
    with w.lock:
        return jsonify([portal_info(Portal(w, s)) for s in w.state["portals"].values()])


@bp.get("/portals/<member_id>")
def get_portal(member_id: str) -> Response:
    with world().lock:
        return jsonify(portal_info(portal_or_404(member_id)))


SETTINGS = {
    "plan",
    "rate_limit",
    "operating_limit",
    "operating_limit_seconds",
    "method_costs",
    "timezone",
    "mailboxes",
}


@bp.patch("/portals/<member_id>")
def update_portal(member_id: str) -> Response:
    """Change settings (plan, limits on/off, operating limit, method costs, time zone) or rename the domain."""
    cfg = body()
    w = world()
    with w.lock:
        portal = portal_or_404(member_id)
        unknown = set(cfg) - SETTINGS - {"domain"}
        if unknown:
            raise ControlError(f"unknown settings: {sorted(unknown)}")
        validate_settings(cfg)
        if "domain" in cfg and cfg["domain"] != portal.domain:
            if w.portal_by_domain(cfg["domain"]):
                raise ControlError(f"domain {cfg['domain']} is taken")
            portal.state["old_domains"].append(portal.domain)
            portal.state["domain"] = cfg["domain"]
        portal.settings.update({k: v for k, v in cfg.items() if k in SETTINGS})
        return jsonify(portal_info(portal))


def validate_settings(cfg: dict) -> None:
    """Refuse settings that would break the portal later (bad plan, time zone, numbers, costs)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if cfg.get("plan", "basic") not in ("basic", "enterprise"):
        raise ControlError("plan must be basic or enterprise")
    for key in ("rate_limit", "operating_limit"):
        if key in cfg and not isinstance(cfg[key], bool):
            raise ControlError(f"{key} must be true or false")
    if "operating_limit_seconds" in cfg and not isinstance(
        cfg["operating_limit_seconds"], int | float
    ):
        raise ControlError("operating_limit_seconds must be a number")
    costs = cfg.get("method_costs", {})
    if not isinstance(costs, dict) or not all(isinstance(v, int | float) for v in costs.values()):
        raise ControlError("method_costs must map method names to seconds")
    boxes = cfg.get("mailboxes")
    if boxes is not None and not (
        isinstance(boxes, list) and all(isinstance(b, str) and "@" in b for b in boxes)
    ):
        raise ControlError("mailboxes must be null or a list of e-mail addresses")
    if "timezone" in cfg:
        try:
            ZoneInfo(str(cfg["timezone"]))
        except (ZoneInfoNotFoundError, ValueError):
            raise ControlError(f"unknown time zone {cfg['timezone']!r}") from None


@bp.post("/apps")
def register_app() -> Response:
    cfg = body()
    if not cfg.get("handler"):
        raise ControlError("handler (the app's install/page URL) is required")
    scopes = cfg.get("scopes") or ["crm"]
    if isinstance(scopes, str):
        scopes = [s for s in scopes.split(",") if s]
    app = world().register_app(cfg["handler"], scopes, cfg.get("code", "local.blago24"),
                               cfg.get("name", "Blago24"), bool(cfg.get("ui", True)),
                               install_url=cfg.get("install_url"))  # fmt: skip
    return jsonify(app)


@bp.post("/portals/<member_id>/install")
def install(member_id: str) -> Response:
    """Install an app: ``flow`` "ui" (POST the install page; ``finish`` runs installFinish) or "event"."""
    cfg = body()
    w = world()
    portal = portal_or_404(member_id)
    app = app_or_404(cfg.get("client_id"))
    flow = cfg.get("flow", "ui" if app["ui"] else "event")
    if flow == "ui":
        return jsonify(lifecycle.install_ui(w, portal, app, bool(cfg.get("finish", False))))
    if flow == "event":
        return jsonify(lifecycle.install_event(w, portal, app))
    raise ControlError("flow must be ui or event")


@bp.post("/apps/<client_id>/update")
def update_app(client_id: str) -> Response:
    app = app_or_404(client_id)
    version = int(body().get("version", app["version"] + 1))
    return jsonify(sent=lifecycle.update(world(), app, version), version=version)


@bp.post("/portals/<member_id>/uninstall")
def uninstall(member_id: str) -> Response:
    cfg = body()
    portal = portal_or_404(member_id)
    app = app_or_404(cfg.get("client_id"))
    return jsonify(sent=lifecycle.uninstall(world(), portal, app, bool(cfg.get("clean", False))))


@bp.get("/portals/<member_id>/logs/<name>")
def logs(member_id: str, name: str) -> Response:
    """A portal log: ``outbox`` (sent e-mails), ``deliveries`` (events, robot calls), ``robots``, ..."""
    w = world()
    if request.args.get("wait"):
        courier(w).drain()
    with w.lock:
        return jsonify(portal_or_404(member_id).logs(name))


@bp.get("/portals/<member_id>/outbox")
def outbox(member_id: str) -> Response:
    return logs(member_id, "outbox")


@bp.get("/portals/<member_id>/deliveries")
def deliveries(member_id: str) -> Response:
    return logs(member_id, "deliveries")


@bp.get("/portals/<member_id>/counters")
def counters(member_id: str) -> Response:
    """Requests per method since the last reset (``batch`` and each command inside it count)."""
    with world().lock:
        return jsonify(portal_or_404(member_id).state["counters"])


@bp.delete("/portals/<member_id>/counters")
def reset_counters(member_id: str) -> Response:
    with world().lock:
        portal = portal_or_404(member_id)
        portal.state["counters"], portal.state["http_requests"] = {}, 0
    return jsonify(ok=True)


@bp.get("/portals/<member_id>/requests")
def http_requests(member_id: str) -> Response:
    """HTTP requests to the portal's REST API since the counters were reset (a batch is one)."""
    with world().lock:
        return jsonify(requests=portal_or_404(member_id).state.get("http_requests", 0))


@bp.post("/portals/<member_id>/faults")
def add_fault(member_id: str) -> Response:
    """The next ``count`` calls of ``method`` fail with ``error``/``status``, wait ``latency`` s, or are
    applied and lose their answer (``lost`` close|timeout, held ``hold`` s); ``command`` narrows a
    ``batch`` plan to batches holding that command."""
    cfg = body()
    if not cfg.get("method"):
        raise ControlError("method is required (or * for any)")
    if cfg.get("lost") not in (None, *faults.LOST):
        raise ControlError(f"lost must be one of {', '.join(faults.LOST)}")
    with world().lock:
        entry = faults.plan(portal_or_404(member_id), cfg["method"], cfg.get("count", 1), cfg.get("error"),
                            cfg.get("description", ""), cfg.get("status", 500), cfg.get("latency", 0),
                            cfg.get("lost"), cfg.get("command"), cfg.get("hold"))  # fmt: skip
    return jsonify(entry)


@bp.get("/portals/<member_id>/faults")
def list_faults(member_id: str) -> Response:
    """The portal's fault plans that still have calls to spoil, in the order they apply."""
    with world().lock:
        return jsonify(faults=faults.active(portal_or_404(member_id)))


@bp.post("/oauth-server/faults")
def add_oauth_fault() -> Response:
    """The OAuth server itself fails the next ``count`` calls of ``method`` (oauth.token, oauth.app.info)."""
    cfg = body()
    if cfg.get("method") not in ("oauth.token", "oauth.app.info", "*"):
        raise ControlError("method must be oauth.token, oauth.app.info or *")
    with world().lock:
        entry = faults.plan_server(world(), cfg["method"], count=cfg.get("count", 1), error=cfg.get("error", "INTERNAL"),
                                   description=cfg.get("description", ""), status=cfg.get("status", 503))  # fmt: skip
    return jsonify(entry)


@bp.post("/tokens/expire")
def expire_tokens() -> Response:
    """Make access tokens expired now (all, or one portal's)."""
    return jsonify(expired=world().expire_tokens(body().get("member_id")))


@bp.get("/sessions/<sid>")
def session(sid: str) -> Response:
    """What BX24.js needs for one app page render: auth and placement (APP_SID from the page URL)."""
    w = world()
    with w.lock:
        s = w.state["sessions"].get(sid)
        if not s:
            raise ControlError("unknown APP_SID", 404)
        portal = w.portal(s["member_id"])
        return jsonify(
            {
                "auth": {
                    "access_token": s["access_token"],
                    "refresh_token": s["refresh_token"],
                    "expires_in": s["expires_in"],
                    "domain": portal.domain,
                    "member_id": portal.member_id,
                },
                "rest_url": portal.rest_url,
                "placement": s["placement"],
                "options": s["options"],
            }
        )


@bp.post("/sessions/<sid>/install-finish")
def install_finish(sid: str) -> Response:
    w = world()
    with w.lock:
        s = w.state["sessions"].get(sid)
        if not s:
            raise ControlError("unknown APP_SID", 404)
        portal = w.portal(s["member_id"])
    lifecycle.finish_install(w, portal, s["client_id"])
    return jsonify(installed=True)
