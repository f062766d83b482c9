"""The OAuth server (bitrix24-rest.md §1.5): refresh with rotating refresh tokens, and ``app.info``."""

import time

from flask import Blueprint, Response, current_app, request

from .phpjson import parse_pairs
from .rest import json_response

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
        app = w.app(params.get("client_id") or "")
        if not app or params.get("client_secret") != app["client_secret"]:
            return oauth_error("invalid_client", "Invalid client_id or client_secret", 401)
        rec = w.state["refresh_tokens"].get(refresh)
        if not rec or rec["client_id"] != app["client_id"] or rec["expires"] < time.time():
            return oauth_error("invalid_grant", "Invalid refresh token", 400)
        portal = w.portal(rec["member_id"])
        if not portal or not portal.install(app["client_id"]):
            return oauth_error("NOT_INSTALLED", "Application not installed", 401)
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
    """The OAuth server's REST endpoint: only ``app.info`` (a trusted check of a token)."""
    from .rest import handle

    if path.strip("/").lower().removesuffix(".json") != "app.info":
        return oauth_error("ERROR_METHOD_NOT_FOUND", "Method not found!", 404)
    return handle("app.info", domain=None)
