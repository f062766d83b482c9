"""Install endpoints: the UI flow (install page → BX24.installFinish()) and the no-UI flow (ONAPPINSTALL)."""

import hmac

from flask import Blueprint, current_app, render_template, request

from b24app.errors import Unauthorized
from b24app.inbound import AppEvent, PageOpen, parse, unflatten
from b24app.portals import PortalRecord, PortalRegistry, expires_at

bp = Blueprint("install", __name__, template_folder="templates")


def registry() -> PortalRegistry:
    return PortalRegistry(current_app.extensions["redis"])


def portal_url(domain: str, protocol: str) -> str:
    template = current_app.config["SETTINGS"].portal_url_template
    return template.format(protocol="https" if protocol == "1" else "http", domain=domain)


@bp.post("/install")
def install():
    """Store the portal's tokens; the UI flow answers a page that calls BX24.installFinish()."""
    form = unflatten(request.form.items(multi=True))
    if form.get("event", "").upper() == "ONAPPINSTALL":
        event = parse(AppEvent, form)
        auth = event.auth
        registry().save(PortalRecord(auth.member_id, auth.domain, auth.client_endpoint,
                                     auth.application_token, auth.access_token or "",
                                     auth.refresh_token or "", expires_at(auth.expires_in),
                                     auth.scope, installed=True))  # fmt: skip
        return "OK"
    page = parse(PageOpen, {**request.args.to_dict(), **form})
    registry().save(PortalRecord(page.member_id, page.DOMAIN, portal_url(page.DOMAIN, page.PROTOCOL),
                                 page.APPLICATION_TOKEN, page.AUTH_ID, page.REFRESH_ID,
                                 expires_at(page.AUTH_EXPIRES), page.APPLICATION_SCOPE))  # fmt: skip
    return render_template("install.html", bx24_js=current_app.config["SETTINGS"].bx24_js_url)


@bp.post("/app")
def app_page():
    """The app's main page in the portal: only for a known portal with a matching application_token."""
    form = unflatten(request.form.items(multi=True))
    page = parse(PageOpen, {**request.args.to_dict(), **form})
    record = registry().get(page.member_id)
    if record is None or not hmac.compare_digest(record.application_token, page.APPLICATION_TOKEN):
        raise Unauthorized("unknown portal or application_token mismatch")
    return render_template("app.html", bx24_js=current_app.config["SETTINGS"].bx24_js_url,
                           domain=record.domain, placement=page.PLACEMENT)  # fmt: skip
