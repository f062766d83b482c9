"""The app's pages inside Bitrix24: the main page (template status, connector settings) and saving."""

import io
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, render_template, request, send_file

from b24app import bridge, connectors, context, installation, jobs
from b24app.donations import duplicates, recompute, recurring
from b24app.errors import BadRequest, NotFound, Unauthorized
from b24app.inbound import PageOpen, parse, unflatten
from b24app.signing import BadSignature, sign, verify

bp = Blueprint("pages", __name__, template_folder="templates")
MOSCOW = ZoneInfo("Europe/Moscow")
PURPOSE = "settings-form"
KINDS = {"pipeline": "воронка / pipeline", "stage": "стадия / stage", "list item": "значение списка / list value",
         "field": "поле / field", "smart process": "смарт-процесс / smart process",
         "product property": "свойство товара / product property", "event": "событие / event",
         "placement": "встройка / placement", "robot": "робот / robot"}  # fmt: skip


@bp.app_template_filter("datetime")
def datetime_filter(ts: float) -> str:
    """A moment for a page: Moscow time (the portal's own time zone arrives with a later issue)."""
    return datetime.fromtimestamp(ts, MOSCOW).strftime("%d.%m.%Y %H:%M")


@bp.post("/app")
def app_page():
    """The main page, opened once Bitrix24 confirms the user's token, portal and application token;
    admins get the settings form, the webhook URLs and the signed token of the app's other pages."""
    form = unflatten(request.form.items(multi=True))
    page = parse(PageOpen, {**unflatten(request.args.items(multi=True)), **form})
    portal, user = installation.open_page(
        page.member_id, page.DOMAIN, page.AUTH_ID, page.APPLICATION_TOKEN
    )
    admin = user.get("ADMIN") is True
    token = sign(secret(), PURPOSE, claims(portal, user)) if admin else ""
    return render(portal, token, saved=False, lang=page.LANG)


@bp.post("/app/settings")
def save_settings():
    """Save connector settings; the form's signed token is both the caller's proof and the CSRF guard."""
    member_id = portal_of(request.form.get("token", ""), PURPOSE).member_id
    values = {k: v for k, v in request.form.items() if k in connectors.BY_KEY}
    if not values:
        raise BadRequest("no settings in the form")
    with context.registry().change(member_id) as portal:
        connectors.update_settings(portal, values)
    return render(portal, request.form["token"], saved=True, lang=request.form.get("lang", "ru"))


@bp.post("/app/totals")
def recompute_totals():
    """Start the portal-wide recompute of donor totals (admins: the page's signed token); the page shows it."""
    token = request.form.get("token", "")
    portal = portal_of(token, PURPOSE)
    recompute.start_recompute(context.redis(), portal.member_id)
    return render(portal, token, saved=False, lang=request.form.get("lang", "ru"))


@bp.post("/app/deal-duplicates")
def deal_duplicates():
    """Find duplicate donation deals («Найти»), or merge the proposed groups («Объединить»); admins only."""
    token = request.form.get("token", "")
    portal = portal_of(token, PURPOSE)
    phase = "merging" if request.form.get("action") == "merge" else "proposing"
    if not duplicates.start(context.redis(), portal.member_id, phase):
        raise BadRequest("nothing proposed to merge yet: find the duplicates first")
    return render(portal, token, saved=False, lang=request.form.get("lang", "ru"))


def claims(portal, user: dict) -> dict:
    """What an admin's page token says: the portal, the install it was made in, the user."""
    return {"m": portal.member_id, "i": portal.install_id, "u": str(user.get("ID", ""))}


def portal_of(token: str, *purposes: str):
    """The portal of a signed page token made for one of ``purposes`` in the portal's current install;
    Unauthorized for anything else (forged, expired, foreign, of an uninstalled or deleted portal)."""
    return page_claims(token, *purposes)[0]


def page_claims(token: str, *purposes: str):
    """(portal, claims) of a page token as ``portal_of`` accepts it; claims carry ``_exp``."""
    for purpose in purposes:
        try:
            found = verify(secret(), purpose, token)
        except BadSignature:
            continue
        portal = context.registry().get(str(found.get("m", "")))
        if (
            portal
            and portal.status != "uninstalled"
            and installation.same(found.get("i", ""), portal.install_id)
        ):
            return portal, found
        break
    raise Unauthorized("page token: missing, forged, expired or of another install")


@bp.get("/app/leyka-bridge.zip")
def leyka_bridge_zip():
    """The Leyka bridge WordPress plugin as a zip to upload in WordPress (open source: no portal data)."""
    try:
        data = bridge.plugin_zip()
    except FileNotFoundError:
        raise NotFound("the Leyka bridge plugin is not shipped with this deployment") from None
    return send_file(io.BytesIO(data), mimetype="application/zip", as_attachment=True,
                     download_name=bridge.ZIP_NAME, max_age=3600)  # fmt: skip


def connector_guides() -> list[tuple[str, str, str, str]]:
    """(source, Russian, English, download path) how-to for each inbound source."""
    from handlers import SOURCES

    return [(s.name, *s.guide, s.download) for s in SOURCES if s.guide[0]]


def hook_paths() -> list[str]:
    from handlers import SOURCES

    return [path for source in SOURCES for path in source.paths()]


def secret() -> str:
    return current_app.config["SETTINGS"].secret_key.get_secret_value()


def letters_view(portal, state: dict | None) -> dict:
    """The letters section: kinds, the texts (the fund's or the default), the one being edited and its
    preview, the variables, the latest letters and refusals."""
    from b24app.letters import Letter
    from b24app.letters.preview import preview, sample
    from b24app.letters.render import TemplateRefused
    from b24app.letters.send import listed
    from b24app.letters.store import language, template_of
    from b24app.letters.texts import TITLES, VARIABLES, default

    state = dict(state or {})
    lang = language(portal)
    saved = {str(k): template_of(portal.member_id, k) for k in Letter}
    texts = {
        str(k): saved[str(k)] or dict(zip(("subject", "body"), default(k, lang), strict=True))
        for k in Letter
    }
    kind = state.get("kind") or str(Letter.WELCOME_ONE_TIME)
    if state.get("edited"):
        texts[kind] = state["edited"]
    try:
        shown = preview(portal, Letter(kind), texts[kind])
    except TemplateRefused:
        shown = None
    return {"kinds": [(str(k), *TITLES[k]) for k in Letter], "texts": texts, "custom": [k for k, v in saved.items() if v],
            "kind": kind, "state": state, "preview": shown, "variables": VARIABLES,
            "real_sample": bool(sample(portal.member_id).get("deal_id")),
            "recent": listed(portal.member_id, "recent")[:10], "failures": listed(portal.member_id, "failures")[:10]}  # fmt: skip


def render(portal, token: str, saved: bool, lang: str, letter_state: dict | None = None) -> str:
    settings = current_app.config["SETTINGS"]
    return render_template(
        "app.html",
        bx24_js=settings.bx24_js_url,
        portal=portal,
        status=installation.template_status(portal.member_id),
        settings=connectors.SETTINGS,
        values=connectors.public_view(portal),
        hooks=connectors.webhook_urls(settings.public_url, portal, hook_paths()) if token else {},
        failures=jobs.failures(portal.member_id)[:5] if token else [],
        guides=connector_guides() if token else [],
        token=token,
        saved=saved,
        lang=lang,
        kinds=KINDS,
        letters=letters_view(portal, letter_state) if token else {},
        subscription_cases=recurring.cases(context.redis(), portal.member_id) if token else [],
        deal_duplicates=duplicates.page_state(context.redis(), portal.member_id) if token else {},
        shown=duplicates.SHOWN,
        totals=recompute.summary(recompute.run_state(context.redis(), portal.member_id))
        if token
        else {},
        robots=robots_view(),
    )


def robots_view() -> list[dict]:
    """Each robot with the pipeline and stage it belongs on (placing it there is the manager's click)."""
    from b24app.template.nonprofit import PIPELINES
    from robots import ROBOTS

    where = {(p.code, s.code): (p.name, s.name) for p in PIPELINES for s in p.stages}
    return [{"code": r.code, "name": r.name, "description": r.description,
             "place": where.get((r.pipeline, r.stage))} for r in ROBOTS]  # fmt: skip
