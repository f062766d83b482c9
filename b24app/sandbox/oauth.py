"""The OAuth server (bitrix24-rest.md §1.5): refresh with rotating refresh tokens, and ``app.info``."""

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, request

from . import faults
from .errors import RestError
from .phpjson import parse_pairs
from .rest import bearer, json_response, request_params, time_block

bp = Blueprint("sandbox_oauth", __name__)


def oauth_error(error: str, description: str, status: int) -> Response:
    return json_response({"error": error, "error_description": description}, status)


@bp.route("/oauth/token/", methods=["GET", "POST"])
@bp.route("/oauth-server/oauth/token/", methods=["GET", "POST"])
def token() -> Response:
    """``grant_type=refresh_token``: a new pair; the used refresh token stops working at once."""
    w = current_app.config["WORLD"]
    params = parse_pairs(
        list(request.args.items(multi=True)) + list(request.form.items(multi=True))
    )
    grant = params.get("grant_type")
    if grant != "refresh_token":
        return oauth_error("invalid_request", f'Unsupported "grant_type": {grant or ""}', 400)
    refresh = params.get("refresh_token")
    if not refresh:
        return oauth_error("invalid_request", 'No "refresh_token" parameter found', 400)
    with w.lock:
        fault = faults.take_server(w, "oauth.token")
        if fault and fault["error"] is not None:
            return oauth_error(fault["error"], fault["description"], fault["status"])
        app = w.app(params.get("client_id") or "")
        if not app or params.get("client_secret") != app["client_secret"]:
            return oauth_error("invalid_client", "Invalid client_id or client_secret", 401)
        rec = w.state["refresh_tokens"].get(refresh)
        if not rec or rec["client_id"] != app["client_id"] or rec["expires"] < time.time():
            return oauth_error("invalid_grant", "Invalid refresh token", 400)
        portal = w.portal(rec["member_id"])
        if not portal or not portal.install(app["client_id"]):
            return oauth_error("NOT_INSTALLED", "Application not installed", 401)
        fault = faults.take(
            portal, "oauth.token"
        )  # an injected error (no latency: the lock is held)
        if fault and fault["error"] is not None:
            return oauth_error(fault["error"], fault["description"], fault["status"])
        del w.state["refresh_tokens"][refresh]
        pair = w.issue_tokens(portal, app["client_id"], rec["user_id"])
        portal.count("oauth.token")
        body = {
            **pair,
            "client_endpoint": portal.rest_url,
            "domain": w.base_url.split("://", 1)[-1],
            "member_id": portal.member_id,
            "scope": ",".join(app["scopes"]),
            "server_endpoint": w.oauth_url,
            "status": "L",
            "user_id": int(rec["user_id"]),
        }
    return json_response(body, 200)


@bp.route("/oauth-server/rest/<path:path>", methods=["GET", "POST"])
def oauth_rest(path: str) -> Response:
    """The OAuth server's REST endpoint: only ``app.info``, the trusted answer about a token (§1.6)."""
    if path.strip("/").lower().removesuffix(".json") != "app.info":
        return oauth_error("ERROR_METHOD_NOT_FOUND", "Method not found!", 404)
    started = time.time()
    w = current_app.config["WORLD"]
    try:
        params = request_params()
    except RestError as err:
        return oauth_error(err.error, err.description, err.status)
    access = params.get("auth") or params.get("access_token") or bearer() or ""
    with w.lock:
        fault = faults.take_server(w, "oauth.app.info")
        if fault and fault["error"] is not None:
            return oauth_error(fault["error"], fault["description"], fault["status"])
        rec = w.state["tokens"].get(access) if isinstance(access, str) else None
        if not access:
            return oauth_error("NO_AUTH_FOUND", "Wrong authorization data", 401)
        if not rec:
            return oauth_error("invalid_token", "Unable to get application by token", 401)
        if rec["expires"] < time.time():
            return oauth_error("expired_token", "The access token provided has expired.", 401)
        portal, app = w.portal(rec["member_id"]), w.app(rec["client_id"])
        inst = portal.install(rec["client_id"]) if portal and app else None
        if inst is None:
            return oauth_error("NOT_INSTALLED", "Application not installed", 401)
        portal.count("oauth.app.info")
        fault = faults.take(portal, "oauth.app.info")
        body = {
            "result": app_info(w, portal, app, inst, rec),
            "time": time_block(portal, started, None),
        }
    try:
        faults.suffer(fault)
    except RestError as err:
        return oauth_error(err.error, err.description, err.status)
    return json_response(body, 200)


def app_info(w, portal, app: dict, inst: dict, rec: dict) -> dict:
    """The OAuth server's shape (docs settings/oauth/simple-way.md; b24pysdk
    api/responses/bitrix_app_info_response.py): the app, the token's user and the install it belongs to."""
    scope = ",".join(app["scopes"])
    tz = ZoneInfo(portal.settings["timezone"])
    return {
        "client_id": app["client_id"],
        "scope": scope,
        "expires": datetime.fromtimestamp(rec["expires"], tz).isoformat(timespec="seconds"),
        "user_id": int(rec["user_id"]),
        "install": {
            "installed": bool(inst.get("installed")),
            "version": str(inst.get("version", app["version"])),
            "status": "L",
            "scope": scope,
            "domain": portal.domain,
            "uri": portal.rest_url.removesuffix("/rest/"),
            "client_endpoint": portal.rest_url,
            "member_id": portal.member_id,
            "member_type": "PORTAL",
        },
    }
