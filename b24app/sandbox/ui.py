"""The sandbox portal's small web UI (portals, CRM data, logs, app frames) and the BX24.js stand-in."""

import json
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
    url_for,
)

from . import lifecycle
from .world import Portal, World

bp = Blueprint("sandbox_ui", __name__)
STATIC = Path(__file__).parent / "static"
TYPE_IDS = {"lead": 1, "deal": 2, "contact": 3, "company": 4}
KIND_NAMES = {"contact": "Контакты / Contacts", "deal": "Сделки / Deals", "lead": "Лиды / Leads",
              "company": "Компании / Companies"}  # fmt: skip
STAGE_ORDER = ["NEW", "PREPARATION", "PREPAYMENT_INVOICE", "EXECUTING", "FINAL_INVOICE", "WON",
               "LOSE", "APOLOGY"]  # fmt: skip
LOG_LIMIT = 100


def world() -> World:
    return current_app.config["WORLD"]


def portal_or_404(member_id: str) -> Portal:
    portal = world().portal(member_id)
    if portal is None:
        abort(404, f"no portal {member_id}")
    return portal


def app_or_404(client_id: str) -> dict:
    app = world().app(client_id)
    if app is None:
        abort(404, f"no app {client_id}")
    return app


# --- small helpers used by the views ---------------------------------------------------------


def id_key(value: Any) -> tuple:
    """Sort key: numeric ids in numeric order, anything else after them."""
    text = str(value)
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def rows(table: dict) -> list[dict]:
    """A table's records ordered by id."""
    return [table[k] for k in sorted(table, key=id_key)]


def field(record: dict, *names: str) -> Any:
    """The first present field of a record (classic UPPER or crm.item camelCase names)."""
    for name in names:
        if record.get(name) not in (None, ""):
            return record[name]
    return ""


def multi(record: dict, name: str) -> str:
    """A multifield (PHONE, EMAIL) as comma-separated values."""
    values = record.get(name) or []
    if not isinstance(values, list):
        return str(values)
    return ", ".join(str(v.get("VALUE", "")) if isinstance(v, dict) else str(v) for v in values)


def show(value: Any, limit: int = 300) -> str:
    """Any state value as short text (JSON for dicts and lists)."""
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        value = ", ".join(str(v) for v in value)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


def placements_of(inst: dict) -> list[dict]:
    """Bound placements as {code, handler, title}, tolerant of upper/lower-case keys."""
    out = []
    for p in inst.get("placements") or []:
        if not isinstance(p, dict):
            continue
        code = p.get("placement") or p.get("PLACEMENT") or ""
        handler = p.get("handler") or p.get("HANDLER") or ""
        title = p.get("title") or p.get("TITLE") or code
        if code:
            out.append({"code": code, "handler": handler, "title": title})
    return out


def kind_of_placement(code: str) -> str | None:
    """``CRM_DEAL_DETAIL_TAB`` → ``deal``; ``CRM_DYNAMIC_128_DETAIL_TAB`` → ``item:128``."""
    parts = code.split("_")
    if len(parts) < 3 or parts[0] != "CRM":
        return None
    if parts[1] == "DYNAMIC" and parts[2].isdigit():
        return f"item:{parts[2]}"
    return parts[1].lower()


# --- portal views ----------------------------------------------------------------------------


def apps_view(w: World, portal: Portal) -> list[dict]:
    """Every registered app with its install state and placements in this portal."""
    out = []
    for cid, app in w.state["apps"].items():
        inst = portal.install(cid) or {}
        out.append({"client_id": cid, "name": app.get("name", cid), "code": app.get("code", ""),
                    "ui": app.get("ui", True), "bound": bool(inst), "installed": bool(inst.get("installed")),
                    "version": inst.get("version", app.get("version")),
                    "placements": placements_of(inst)})  # fmt: skip
    return out


def deal_board(portal: Portal) -> list[dict]:
    """Every pipeline by name (empty ones too), its stages by name in the portal's order, and its deals."""
    pipelines: dict[str, dict[str, list]] = {
        cat: {} for cat in stored(portal, "categories").get("2", {"0": {}})
    }
    for deal in rows(portal.table("deal")):
        category = str(field(deal, "CATEGORY_ID", "categoryId") or "0")
        stage = str(field(deal, "STAGE_ID", "stageId") or "—")
        pipelines.setdefault(category, {}).setdefault(stage, []).append(deal)
    board = []
    for cat, found in sorted(pipelines.items(), key=lambda kv: id_key(kv[0])):
        entity = "DEAL_STAGE" if cat == "0" else f"DEAL_STAGE_{cat}"
        listed = stage_rows(portal, entity)
        order = [r["STATUS_ID"] for r in listed] + sorted(set(found) - {r["STATUS_ID"] for r in listed},
                                                          key=stage_key)  # fmt: skip
        names = {r["STATUS_ID"]: r["NAME"] for r in listed}
        board.append({"id": cat, "name": pipeline_name(portal, 2, cat),
                      "stages": [{"id": s, "name": names.get(s, s), "deals": found.get(s, [])} for s in order]})  # fmt: skip
    return board


def stored(portal: Portal, bucket: str) -> dict:
    """A sandbox module's storage as it is (reading never seeds it)."""
    return portal.state["data"].get(bucket) or {}


def stage_rows(portal: Portal, entity_id: str) -> list[dict]:
    """The stages of one list (``DEAL_STAGE``, ``DYNAMIC_128_STAGE_3``) in SORT order."""
    listed = [
        r
        for r in (stored(portal, "statuses").get("rows") or {}).values()
        if r["ENTITY_ID"] == entity_id
    ]
    return sorted(listed, key=lambda r: (int(r["SORT"]), int(r["ID"])))


def pipeline_name(portal: Portal, entity_type_id: int, category_id: str) -> str:
    found = (stored(portal, "categories").get(str(entity_type_id)) or {}).get(str(category_id))
    if found:
        return str(found.get("name") or category_id)
    return "Общая" if str(category_id) == "0" else f"#{category_id}"


def type_title(portal: Portal, entity_type_id: str) -> str:
    """A smart process's title by its entityTypeId (the number when the type is gone)."""
    for t in stored(portal, "types").values():
        if str(t.get("entityTypeId")) == str(entity_type_id):
            return str(t.get("title") or entity_type_id)
    return f"entityTypeId {entity_type_id}"


def item_stage_name(portal: Portal, type_id: str, item: dict) -> str:
    stage = str(field(item, "stageId", "STAGE_ID") or "")
    entity = f"DYNAMIC_{type_id}_STAGE_{field(item, 'categoryId', 'CATEGORY_ID') or 0}"
    return next((r["NAME"] for r in stage_rows(portal, entity) if r["STATUS_ID"] == stage), stage)


def merged_into(portal: Portal, kind: str, record_id: str) -> str | None:
    """The id a merged-away record now lives on (crm.entity.mergeBatch), or None."""
    type_id = str(TYPE_IDS.get(kind) or kind.removeprefix("item:"))
    return (stored(portal, "merged").get(type_id) or {}).get(str(record_id))


def stage_key(stage: str) -> tuple:
    base = stage.split(":", 1)[-1]
    return (STAGE_ORDER.index(base), "") if base in STAGE_ORDER else (len(STAGE_ORDER), stage)


def item_tables(portal: Portal) -> list[dict]:
    """Smart-process (and other ``item:<n>``) tables with their records."""
    tables = portal.state["data"].get("tables", {})
    names = sorted((k for k in tables if k.startswith("item:")), key=lambda k: id_key(k[5:]))
    return [{"kind": k, "type_id": k[5:], "title": type_title(portal, k[5:]), "records": rows(tables[k]),
             "stage": {str(field(r, "id", "ID")): item_stage_name(portal, k[5:], r) for r in rows(tables[k])}}
            for k in names]  # fmt: skip


def portal_view(w: World, portal: Portal) -> dict:
    """Everything the portal page shows, read under the world lock."""
    return {
        "portal": portal,
        "webhook": w.webhook_url(portal),
        "apps": apps_view(w, portal),
        "contacts": rows(portal.table("contact")),
        "pipelines": deal_board(portal),
        "items": item_tables(portal),
        "outbox": list(reversed(portal.logs("outbox")))[:LOG_LIMIT],
        "robots": list(reversed(portal.logs("robots")))[:LOG_LIMIT],
        "deliveries": list(reversed(portal.logs("deliveries")))[:LOG_LIMIT],
    }


def timeline(portal: Portal, kind: str, record_id: str) -> list[dict]:
    """Activities, comments and other timeline entries of one CRM record, newest first."""
    type_id = str(TYPE_IDS.get(kind) or kind.removeprefix("item:"))
    data = portal.state["data"]
    entries = []
    for source in ("activities", "activity"):
        store = data.get(source) or data.get("tables", {}).get(source) or {}
        entries += [activity_entry(a) for a in store.values() if owned(a, type_id, record_id)]
    for source in ("timeline_comments", "timeline"):
        store = data.get(source) or {}
        notes = store.values() if isinstance(store, dict) else []
        entries += [comment_entry(n) for n in notes if about(n, kind, type_id, record_id)]
    return sorted(entries, key=lambda e: str(e["when"]), reverse=True)


def owned(act: dict, type_id: str, record_id: str) -> bool:
    """An activity bound to the record (OWNER_TYPE_ID/OWNER_ID)."""
    return str(act.get("OWNER_TYPE_ID")) == type_id and str(act.get("OWNER_ID")) == record_id


def about(note: Any, kind: str, type_id: str, record_id: str) -> bool:
    """A timeline entry of the record (ENTITY_ID plus ENTITY_TYPE name or type id)."""
    if not isinstance(note, dict) or str(note.get("ENTITY_ID")) != record_id:
        return False
    named = str(note.get("ENTITY_TYPE", "")).lower() == kind
    return named or str(note.get("_TYPE_ID", note.get("ENTITY_TYPE_ID"))) == type_id


def activity_entry(act: dict) -> dict:
    return {"kind": "activity", "id": act.get("ID"), "when": field(act, "CREATED", "START_TIME"),
            "title": field(act, "SUBJECT") or "—", "text": field(act, "DESCRIPTION")}  # fmt: skip


def comment_entry(note: dict) -> dict:
    return {"kind": "comment", "id": note.get("ID"), "when": note.get("CREATED", ""),
            "title": "Комментарий / Comment", "text": note.get("COMMENT", "")}  # fmt: skip


def record_title(record: dict) -> str:
    name = " ".join(str(field(record, k)) for k in ("NAME", "LAST_NAME") if field(record, k))
    return str(field(record, "TITLE", "title") or name or f"#{field(record, 'ID', 'id')}")


@bp.get("/")
def index():
    """All portals of the world and the registered apps."""
    w = world()
    with w.lock:
        portals = [Portal(w, s) for s in w.state["portals"].values()]
        return render_template(
            "ui_index.html", portals=portals, apps=list(w.state["apps"].values())
        )


@bp.get("/portal/<member_id>/")
def portal_page(member_id: str):
    """The portal: apps, contacts, deals by pipeline, smart processes, outbox, robots, deliveries."""
    w = world()
    with w.lock:
        view = portal_view(w, portal_or_404(member_id))
        return render_template("ui_portal.html", show=show, field=field, multi=multi,
                               title=record_title, kinds=KIND_NAMES, **view)  # fmt: skip


@bp.get("/portal/<member_id>/record/<kind>/<record_id>")
def record_page(member_id: str, kind: str, record_id: str):
    """One CRM record: its fields, its timeline and the app placements bound for its kind."""
    w = world()
    with w.lock:
        portal = portal_or_404(member_id)
        known = kind in TYPE_IDS or kind.startswith("item:")
        record = portal.table(kind).get(record_id) if known else None
        if record is None:
            root = merged_into(portal, kind, record_id) if known else None
            return render_template("ui_gone.html", portal=portal, kind=kind, record_id=record_id,
                                   root=root), 200 if root else 404  # fmt: skip
        buttons = [(app, p) for app in apps_view(w, portal) if app["installed"]
                   for p in app["placements"] if kind_of_placement(p["code"]) == kind]  # fmt: skip
        return render_template("ui_record.html", portal=portal, kind=kind, record=record,
                               title=record_title(record), entries=timeline(portal, kind, record_id),
                               buttons=buttons, show=show, options=json.dumps({"ID": record_id}))  # fmt: skip


# --- opening app pages -----------------------------------------------------------------------


def parse_options(raw: str | None) -> dict:
    """The ``options`` query parameter (JSON object) or an empty dict."""
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        abort(400, "options must be a JSON object")
    if not isinstance(value, dict):
        abort(400, "options must be a JSON object")
    return value


def frame_form(portal: Portal, app: dict, placement: str, options: dict,
               install: bool = False) -> tuple[str, dict, dict]:  # fmt: skip
    """Open a session and build the §1.2 POST for the app frame: (URL, form, session)."""
    w = world()
    user = request.args.get("user", lifecycle.ADMIN)
    if portal.user(user) is None:
        abort(400, f"no user {user}")
    session = lifecycle.open_session(w, portal, app, user, placement, options)
    lang = request.args.get("lang", "ru")
    target = app["install_url"] if install else None
    if not install and placement != "DEFAULT":
        target = placement_handler(portal, app, placement)
    url, form = lifecycle.page_request(w, portal, app, session, lang=lang, target=target)
    return url, form, session


def placement_handler(portal: Portal, app: dict, code: str) -> str:
    """The handler bound for a placement (a given ``handler`` query parameter wins when bound)."""
    with world().lock:
        bound = placements_of(portal.install(app["client_id"]) or {})
    wanted = request.args.get("handler")
    for p in bound:
        if p["code"] == code and p["handler"] and wanted in (None, p["handler"]):
            return p["handler"]
    return app["handler"]


@bp.get("/portal/<member_id>/app/<client_id>")
def app_frame(member_id: str, client_id: str):
    """An app page (DEFAULT or a placement) in an iframe, opened by an auto-submitted §1.2 POST."""
    portal, app = portal_or_404(member_id), app_or_404(client_id)
    placement = request.args.get("placement") or "DEFAULT"
    options = parse_options(request.args.get("options"))
    url, form, session = frame_form(portal, app, placement, options)
    with world().lock:
        installed = bool((portal.install(client_id) or {}).get("installed"))
    return render_template("ui_frame.html", portal=portal, app=app, url=url, form=form,
                           placement=placement, installed=installed, install=False,
                           sid=session["app_sid"], next_url="")  # fmt: skip


@bp.get("/portal/<member_id>/install/<client_id>")
def install_frame(member_id: str, client_id: str):
    """The UI install flow in the browser: the install page in the iframe until BX24.installFinish()."""
    portal, app = portal_or_404(member_id), app_or_404(client_id)
    lifecycle.begin_install(world(), portal, app)
    url, form, session = frame_form(portal, app, "DEFAULT", {}, install=True)
    next_url = url_for(".app_frame", member_id=member_id, client_id=client_id)
    return render_template("ui_frame.html", portal=portal, app=app, url=url, form=form,
                           placement="DEFAULT", installed=False, install=True,
                           sid=session["app_sid"], next_url=next_url)  # fmt: skip


@bp.get("/portal/<member_id>/installed/<client_id>")
def installed(member_id: str, client_id: str) -> Response:
    """Whether the app's installation in the portal is finished (the install page polls this)."""
    with world().lock:
        inst = portal_or_404(member_id).install(client_id) or {}
        return jsonify(installed=bool(inst.get("installed")))


# --- BX24.js ---------------------------------------------------------------------------------


@bp.get("/bx24.js")
def bx24_js() -> Response:
    """The BX24.js stand-in: app pages load it from ``B24APP_BX24_JS_URL``."""
    resp = Response((STATIC / "bx24.js").read_text(encoding="utf-8"),
                    mimetype="application/javascript")  # fmt: skip
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["Access-Control-Allow-Origin"] = "*"
    return resp


@bp.post("/_sandbox/sessions/<sid>/refresh")
def refresh_session(sid: str) -> Response:
    """``BX24.refreshAuth()``: a fresh token pair for the session's user (the parent frame's job)."""
    w = world()
    with w.lock:
        session = w.state["sessions"].get(sid)
        portal = w.portal(session["member_id"]) if session else None
        if not session or not portal:
            return jsonify(error="unknown APP_SID"), 404
        session.update(w.issue_tokens(portal, session["client_id"], session["user_id"]))
        return jsonify(auth={"access_token": session["access_token"],
                             "refresh_token": session["refresh_token"],
                             "expires_in": session["expires_in"], "domain": portal.domain,
                             "member_id": portal.member_id})  # fmt: skip
