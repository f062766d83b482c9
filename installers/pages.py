"""The app's pages inside Bitrix24: the main page (template status, connector settings) and saving."""

from flask import Blueprint, current_app, render_template, request

from b24app import connectors, context, installation
from b24app.bitrix import BitrixError
from b24app.errors import BadRequest, Unauthorized
from b24app.inbound import PageOpen, check_portal, parse, unflatten
from b24app.signing import BadSignature, sign, verify

bp = Blueprint("pages", __name__, template_folder="templates")
PURPOSE = "settings-form"
KINDS = {"pipeline": "воронка / pipeline", "stage": "стадия / stage", "list item": "значение списка / list value",
         "field": "поле / field", "smart process": "смарт-процесс / smart process",
         "product property": "свойство товара / product property", "event": "событие / event",
         "placement": "встройка / placement", "robot": "робот / robot"}  # fmt: skip


@bp.post("/app")
def app_page():
    """The main page: checked by member_id and application_token; admins get the settings form."""
    page = parse(PageOpen, {**request.args.to_dict(), **unflatten(request.form.items(multi=True))})
    portal = check_portal(context.registry(), page.member_id, page.APPLICATION_TOKEN)
    user = current_user(portal.client_endpoint, page.AUTH_ID, portal.member_id)
    token = (
        sign(secret(), PURPOSE, {"m": portal.member_id, "u": user.get("ID")})
        if user.get("ADMIN")
        else ""
    )
    return render(portal, token, saved=False, lang=page.LANG)


@bp.post("/app/settings")
def save_settings():
    """Save connector settings; the form's signed token is both the caller's proof and the CSRF guard."""
    try:
        claims = verify(secret(), PURPOSE, request.form.get("token", ""))
    except BadSignature as exc:
        raise Unauthorized(f"settings form token: {exc}") from None
    registry = context.registry()
    portal = registry.require(claims["m"])
    values = {k: v for k, v in request.form.items() if k in connectors.BY_KEY}
    if not values:
        raise BadRequest("no settings in the form")
    connectors.update_settings(portal, values)
    registry.save(portal)
    return render(portal, request.form["token"], saved=True, lang=request.form.get("lang", "ru"))


def current_user(rest_url: str, auth_id: str, member_id: str) -> dict:
    """The user who opened the page (``profile`` with their own token)."""
    try:
        return installation.user_client(rest_url, auth_id, member_id).call("profile") or {}
    except BitrixError as exc:
        raise Unauthorized(f"the portal did not confirm the user's token: {exc.code}") from exc


def secret() -> str:
    return current_app.config["SETTINGS"].secret_key.get_secret_value()


def render(portal, token: str, saved: bool, lang: str) -> str:
    settings = current_app.config["SETTINGS"]
    return render_template(
        "app.html",
        bx24_js=settings.bx24_js_url,
        portal=portal,
        status=installation.template_status(portal.member_id),
        settings=connectors.SETTINGS,
        values=connectors.public_view(portal),
        hooks=connectors.webhook_urls(settings.public_url, portal),
        token=token,
        saved=saved,
        lang=lang,
        kinds=KINDS,
    )
