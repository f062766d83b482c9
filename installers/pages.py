"""The app's pages inside Bitrix24: the main page (template status, connector settings) and saving."""

import io
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, render_template, request, send_file
from flask_babel import gettext

from b24app import activity, bridge, connectors, context, installation, jobs
from b24app.donations import duplicates, recompute, recurring
from b24app.errors import BadRequest, NotFound, Unauthorized
from b24app.i18n import portal_language, request_language
from b24app.inbound import PageOpen, parse, unflatten
from b24app.signing import BadSignature, sign, verify

bp = Blueprint("pages", __name__, template_folder="templates")
MOSCOW = ZoneInfo("Europe/Moscow")
PURPOSE = "settings-form"
KINDS = {"pipeline": ("воронка", "pipeline"), "stage": ("стадия", "stage"), "list item": ("значение списка", "list value"),
         "field": ("поле", "field"), "smart process": ("смарт-процесс", "smart process"),
         "product property": ("свойство товара", "product property"), "event": ("событие", "event"),
         "placement": ("встройка", "placement"), "robot": ("робот", "robot")}  # fmt: skip


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
    if admin:
        activity.remember_admin(context.redis(), portal.member_id, user.get("ID"))
    token = sign(secret(), PURPOSE, claims(portal, user)) if admin else ""
    return render(portal, token, saved=False, lang=request_language())


@bp.post("/app/settings")
def save_settings():
    """Save connector settings; the form's signed token is both the caller's proof and the CSRF guard."""
    member_id = portal_of(request.form.get("token", ""), PURPOSE).member_id
    values = {k: v for k, v in request.form.items() if k in connectors.BY_KEY}
    if not values:
        raise BadRequest("no settings in the form")
    try:
        with context.registry().change(member_id) as portal:
            changed = connectors.update_settings(portal, values)
    except BadRequest as refused:  # the form again, nothing saved, the field named
        portal, lang = context.registry().require(member_id), request_language()
        return render(portal, request.form["token"], saved="", lang=lang, refused=why(refused, lang),
                      entered=values), 400  # fmt: skip
    outcome = "changed" if changed else "unchanged"
    return render(portal, request.form["token"], saved=outcome, lang=request_language())


def watch_queue(portal, phase: str) -> None:
    """A setup no worker took is a stuck queue: the portal's admins are told once; a moving one clears it."""
    redis = context.redis()
    if phase == "stalled":
        activity.alert(redis, context.client(portal.member_id), portal.member_id,
                       portal_language(portal), "queue_stuck")  # fmt: skip
    elif phase in ("done", "incomplete"):
        activity.clear(redis, portal.member_id, "queue_stuck")


def why(refused: BadRequest, lang: str) -> str:
    """A refused setting in the user's words: the field's label, the value and the format it needs."""
    if isinstance(refused, connectors.SettingRefused):
        s = refused.setting
        return gettext("«%(label)s»: «%(value)s» does not fit. %(hint)s", label=s.label(lang),
                       value=refused.value, hint=s.help(lang))  # fmt: skip
    return str(refused)


@bp.post("/app/refresh")
def refresh_page():
    """The page again (its self-refresh while the template is applied): the signed token, nothing changed."""
    token = request.form.get("token", "")
    return render(portal_of(token, PURPOSE), token, saved="", lang=request_language())


@bp.post("/app/template/retry")
def retry_template():
    """«Повторить настройку»: queue the template job again (admins: the page's signed token)."""
    token = request.form.get("token", "")
    portal = portal_of(token, PURPOSE)
    installation.retry_template(portal.member_id)
    return render(portal, token, saved="", lang=request_language())


@bp.post("/app/totals")
def recompute_totals():
    """Start the portal-wide recompute of donor totals (admins: the page's signed token); the page shows it."""
    token = request.form.get("token", "")
    portal = portal_of(token, PURPOSE)
    recompute.start_recompute(context.redis(), portal.member_id)
    return render(portal, token, saved="", lang=request_language())


@bp.post("/app/deal-duplicates")
def deal_duplicates():
    """Find duplicate donation deals («Найти»), or merge the proposed groups («Объединить»); admins only."""
    token = request.form.get("token", "")
    portal = portal_of(token, PURPOSE)
    phase = "merging" if request.form.get("action") == "merge" else "proposing"
    if not duplicates.start(context.redis(), portal.member_id, phase):
        raise BadRequest("nothing proposed to merge yet: find the duplicates first")
    return render(portal, token, saved="", lang=request_language())


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


def connector_guides(portal, lang: str) -> list[dict]:
    """Per inbound source: its instruction (from its module) in ``lang``, its URLs, its secret setting,
    the file it needs, and when it last had a delivery accepted (None: never)."""
    from handlers import SOURCES

    base = current_app.config["SETTINGS"].public_url
    received = activity.last_received(context.redis(), portal.member_id)
    return [{"name": s.name, "text": s.guide[1] if lang == "en" else s.guide[0], "download": s.download,
             "urls": list(connectors.webhook_urls(base, portal, s.paths()).values()),
             "secret": connectors.BY_KEY[s.secret_setting].label(lang),
             "secret_set": bool(portal.settings.get(s.secret_setting)), "received": received.get(s.name)}
            for s in SOURCES]  # fmt: skip


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


def render(
    portal,
    token: str,
    saved: str,
    lang: str,
    letter_state: dict | None = None,
    refused: str = "",
    entered: dict | None = None,
) -> str:
    """The app page; ``saved`` is ``changed``/``unchanged`` after a save; ``refused`` names a field not saved."""
    settings = current_app.config["SETTINGS"]
    redis = context.redis()
    status = installation.template_status(portal.member_id)
    progress = installation.template_progress(portal.member_id)
    if token:
        watch_queue(portal, progress["phase"])
    return render_template(
        "app.html",
        bx24_js=settings.bx24_js_url,
        portal=portal,
        status=status,
        progress=progress,
        missing=installation.missing_by_kind(status, progress),
        settings=connectors.SETTINGS,
        values={**connectors.public_view(portal), **(entered or {})},
        hooks=connectors.webhook_urls(settings.public_url, portal, hook_paths()) if token else {},
        failures=jobs.failures(portal.member_id)[:5] if token else [],
        guides=connector_guides(portal, lang) if token else [],
        activity=activity.recent(redis, portal.member_id, lang) if token else [],
        token=token,
        saved=saved,
        refused=refused,
        lang=lang,
        kinds={k: v[1] if lang == "en" else v[0] for k, v in KINDS.items()},
        letters=letters_view(portal, letter_state) if token else {},
        subscription_cases=recurring.cases(redis, portal.member_id) if token else [],
        deal_duplicates=duplicates.page_state(redis, portal.member_id) if token else {},
        shown=duplicates.SHOWN,
        totals=recompute.summary(recompute.run_state(redis, portal.member_id)) if token else {},
        robots=robots_view(lang),
    )


def robots_view(lang: str) -> list[dict]:
    """Each robot in the page's language with the pipeline and stage it belongs on (placing it there is
    the manager's click)."""
    from b24app.template.nonprofit import PIPELINES
    from robots import ROBOTS

    def text_of(label) -> str:
        return label.en if lang == "en" else label.ru

    where = {
        (p.code, s.code): (text_of(p.name), text_of(s.name)) for p in PIPELINES for s in p.stages
    }
    return [{"code": r.code, "name": text_of(r.name), "description": text_of(r.description),
             "place": where.get((r.pipeline, r.stage))} for r in ROBOTS]  # fmt: skip
