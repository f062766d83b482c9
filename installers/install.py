"""Install endpoints: the UI flow (install page → BX24.installFinish()) and the no-UI flow (ONAPPINSTALL).

Both confirm the token at a trusted OAuth server (this app, the request's member_id) and that its user is
a portal admin before anything is stored; the portal's endpoints are the ones that server names.
"""

from flask import Blueprint, current_app, render_template, request

from b24app import installation
from b24app.errors import BadRequest
from b24app.i18n import request_language
from b24app.inbound import AppEvent, PageOpen, parse, unflatten

bp = Blueprint("install", __name__, template_folder="templates")


@bp.post("/install")
def install():
    """Confirm, register the portal, queue the template; the UI flow answers a page calling installFinish()."""
    form = unflatten(request.form.items(multi=True))
    if str(form.get("event", "")).upper() == "ONAPPINSTALL":
        return install_event(parse(AppEvent, form))
    page = parse(PageOpen, {**unflatten(request.args.items(multi=True)), **form})
    info = installation.confirm_user(
        page.AUTH_ID, page.member_id, page.DOMAIN, page.SERVER_ENDPOINT
    )
    installation.install(
        info, page.APPLICATION_TOKEN, page.AUTH_ID, page.REFRESH_ID, page.AUTH_EXPIRES
    )
    return render_template(
        "install.html", bx24_js=current_app.config["SETTINGS"].bx24_js_url, lang=request_language()
    )


def install_event(event: AppEvent) -> str:
    """No-UI flow: the ONAPPINSTALL event carries the tokens (and the refresh token)."""
    auth = event.auth
    if not auth.access_token or not auth.refresh_token:
        raise BadRequest("ONAPPINSTALL without auth[access_token] and auth[refresh_token]")
    info = installation.confirm_user(
        auth.access_token, auth.member_id, auth.domain, auth.server_endpoint
    )
    installation.install(info, auth.application_token, auth.access_token, auth.refresh_token,
                         auth.expires_in or 3600)  # fmt: skip
    return "OK"
