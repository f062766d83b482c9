"""Install endpoints: the UI flow (install page → BX24.installFinish()) and the no-UI flow (ONAPPINSTALL)."""

from flask import Blueprint, current_app, render_template, request

from b24app import installation
from b24app.inbound import AppEvent, PageOpen, parse, unflatten

bp = Blueprint("install", __name__, template_folder="templates")


def portal_url(domain: str, protocol: str) -> str:
    """The portal's REST endpoint from the install page's DOMAIN and PROTOCOL."""
    template = current_app.config["SETTINGS"].portal_url_template
    return template.format(protocol="https" if protocol == "1" else "http", domain=domain)


@bp.post("/install")
def install():
    """Verify the token with app.info, register the portal, queue the template; answer installFinish()."""
    form = unflatten(request.form.items(multi=True))
    if str(form.get("event", "")).upper() == "ONAPPINSTALL":
        return install_event(parse(AppEvent, form))
    page = parse(PageOpen, {**request.args.to_dict(), **form})
    rest_url = portal_url(page.DOMAIN, page.PROTOCOL)
    installation.verify_token(rest_url, page.AUTH_ID, page.member_id)
    installation.register(page.member_id, page.DOMAIN, rest_url, page.SERVER_ENDPOINT, page.APPLICATION_TOKEN,
                          page.AUTH_ID, page.REFRESH_ID, page.AUTH_EXPIRES, page.APPLICATION_SCOPE)  # fmt: skip
    installation.queue_template(page.member_id)
    return render_template("install.html", bx24_js=current_app.config["SETTINGS"].bx24_js_url)


def install_event(event: AppEvent) -> str:
    """No-UI flow: the ONAPPINSTALL event carries the tokens (and the refresh token)."""
    auth = event.auth
    if not auth.access_token or not auth.refresh_token:
        from b24app.errors import BadRequest

        raise BadRequest("ONAPPINSTALL without auth[access_token] and auth[refresh_token]")
    installation.verify_token(auth.client_endpoint, auth.access_token, auth.member_id)
    installation.register(auth.member_id, auth.domain, auth.client_endpoint, auth.server_endpoint,
                          auth.application_token, auth.access_token, auth.refresh_token, auth.expires_in or 3600,
                          auth.scope)  # fmt: skip
    installation.queue_template(auth.member_id)
    return "OK"
