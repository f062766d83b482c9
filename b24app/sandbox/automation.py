"""Control calls that act as the portal's automation and users (bitrix24-rest.md §5.2, §5.4, §7.1).

Bitrix24 has no REST way to place a robot into a stage (§5.4), so tests fire one here; they also
open a bound placement as a user would, and change CRM records as a robot would (no tokens in
the resulting events, §6.2).
"""

import hashlib
import secrets
import time
from typing import Any

import requests
from flask import Blueprint, Response, jsonify, request

from . import delivery, lifecycle, rest
from .call import Auth, Call
from .control import ControlError, app_or_404, body, portal_or_404, world
from .errors import RestError
from .methods.bizproc import settle_runs
from .world import Portal, World

bp = Blueprint("sandbox_automation", __name__, url_prefix="/_sandbox")

DOCUMENTS = {
    "LEAD": "CCrmDocumentLead",
    "DEAL": "CCrmDocumentDeal",
    "CONTACT": "CCrmDocumentContact",
    "COMPANY": "CCrmDocumentCompany",
    "QUOTE": "Bitrix\\Crm\\Integration\\BizProc\\Document\\Quote",
    "SMART_INVOICE": "Bitrix\\Crm\\Integration\\BizProc\\Document\\SmartInvoice",
    "DYNAMIC": "Bitrix\\Crm\\Integration\\BizProc\\Document\\Dynamic",
}
CRM_ENTITIES = ("contact", "company", "lead", "deal")


@bp.errorhandler(ControlError)
def control_error(err: ControlError) -> tuple[Response, int]:
    return jsonify(error=str(err)), err.status


def installed(portal: Portal, client_id: str) -> dict:
    """The app's finished install record, else 409."""
    inst = portal.install(client_id)
    if not inst or not inst.get("installed"):
        raise ControlError(
            f"app {client_id} is not installed (or its install is not finished)", 409
        )
    return inst


# --- robots -------------------------------------------------------------------------------------


def document_of(cfg: dict) -> tuple[list[str], list[str]]:
    """``"DEAL_12"`` (or a ``document_id`` triple) → (document_id, document_type)."""
    if isinstance(cfg.get("document_id"), list) and len(cfg["document_id"]) == 3:
        doc_id = [str(p) for p in cfg["document_id"]]
        return doc_id, [*doc_id[:2], doc_id[2].rsplit("_", 1)[0]]
    doc = str(cfg.get("document") or "")
    kind, _, number = doc.rpartition("_")
    family = "DYNAMIC" if kind.startswith("DYNAMIC_") else kind
    if family not in DOCUMENTS or not number.isdigit():
        raise ControlError("document must look like DEAL_12 (or pass a document_id triple)")
    return ["crm", DOCUMENTS[family], doc], ["crm", DOCUMENTS[family], kind]


def property_values(robot: dict, given: dict) -> dict:
    """Every declared property: the given value, else its Default, else "" (null → "")."""
    values = {}
    for key, prop in (robot.get("PROPERTIES") or {}).items():
        value = given.get(key, prop.get("DEFAULT"))
        values[key] = "" if value is None else value
    return values


def event_token(portal: Portal) -> tuple[str, str, str]:
    """(workflow id like PHP uniqid, activity name, token ``workflow|activity|event|signature``)."""
    now = time.time()
    workflow = f"{int(now):08x}{int(now * 1e6) % 0x100000:05x}.{secrets.randbelow(10**8):08d}"
    activity = "A" + "_".join(f"{secrets.randbelow(10**5):05d}" for _ in range(4))
    event = secrets.token_hex(8)
    raw = f"{workflow}|{activity}|{event}"
    signature = hashlib.sha256(f"{raw}|{portal.member_id}".encode()).hexdigest()
    return workflow, activity, f"{raw}|{signature}"


def start_run(w: World, portal: Portal, app: dict, robot: dict, cfg: dict) -> tuple[dict, dict]:
    """Log a robot run and build the §5.2 form for its handler (called under the world lock)."""
    doc_id, doc_type = document_of(cfg)
    workflow, activity, token = event_token(portal)
    waits = str(robot.get("USE_SUBSCRIPTION") or "Y").upper() != "N"
    timeout = int(cfg.get("timeout_duration") or 0)
    user = str(robot.get("AUTH_USER_ID") or 0)
    user = user if user != "0" else str(cfg.get("user_id") or lifecycle.ADMIN)
    props = property_values(robot, cfg.get("properties") or {})
    now = time.time()
    run = {"id": portal.next_id("robot_run"), "client_id": app["client_id"], "code": robot["CODE"],
           "workflow_id": workflow, "activity": activity, "event_token": token,
           "document_id": doc_id, "document_type": doc_type, "properties": props,
           "return_properties": robot.get("RETURN_PROPERTIES") or {}, "user_id": user,
           "use_subscription": "Y" if waits else "N", "timeout_duration": timeout,
           "deadline": now + timeout if waits and timeout > 0 else None,
           "status": "waiting" if waits else "completed", "started": now,
           "finished": None if waits else now, "return_values": {}, "log_message": "", "log": []}  # fmt: skip
    form = {"workflow_id": workflow, "code": robot["CODE"], "document_id": doc_id,
            "document_type": doc_type, "event_token": token, "properties": props,
            "use_subscription": run["use_subscription"], "timeout_duration": str(timeout),
            "ts": str(int(now)), "auth": w.auth_block(portal, app, user, refresh=True)}  # fmt: skip
    portal.log("robots", run)
    return run, form


@bp.post("/portals/<member_id>/robots/fire")
def fire_robot(member_id: str) -> Response:
    """Run an app's robot on a document, as a placed automation rule would (§5.2, §5.4).

    Body: ``{client_id, code, document: "DEAL_12" | document_id: [..3], properties: {...},
    timeout_duration: seconds (0 = wait forever), user_id}``. Posts the §5.2 form to the robot's
    HANDLER through the courier and answers the run (``status`` "waiting", or "completed" at once
    when the robot has USE_SUBSCRIPTION N). 409 when the app is not installed or has no such robot.
    """
    cfg = body()
    w = world()
    with w.lock:
        portal = portal_or_404(member_id)
        app = app_or_404(cfg.get("client_id"))
        robot = (installed(portal, app["client_id"]).get("robots") or {}).get(str(cfg.get("code")))
        if robot is None:
            raise ControlError(f"app has no robot {cfg.get('code')!r} (bizproc.robot.add)", 409)
        run, form = start_run(w, portal, app, robot, cfg)
        delivery.courier(w).send(portal, "robot", robot["HANDLER"], form, {"code": robot["CODE"]})
        return jsonify(run)


@bp.get("/portals/<member_id>/robots/runs")
def robot_runs(member_id: str) -> Response:
    """Robot runs of the portal, oldest first; overdue waiting runs are closed as "timeout" first.

    Each run: ``id, client_id, code, workflow_id, event_token, document_id, document_type,
    properties, status (waiting|completed|timeout), return_values, log_message, log, started,
    finished``. ``?wait=1`` first waits until queued deliveries were sent.
    """
    w = world()
    if request.args.get("wait"):
        delivery.courier(w).drain()
    with w.lock:
        portal = portal_or_404(member_id)
        settle_runs(portal)
        return jsonify(portal.logs("robots"))


# --- placements ---------------------------------------------------------------------------------


@bp.post("/portals/<member_id>/placements/open")
def open_placement(member_id: str) -> Response:
    """Open a bound placement as user ``user_id`` would: the §1.2 POST to its handler (§7.1).

    Body: ``{client_id, placement, options: {...}, user_id (default 1), handler (optional, picks
    one of several)}``. Synchronous; answers ``{status, html, app_sid, url}``. 409 while the
    install is unfinished or when the app has no handler bound to the placement.
    """
    cfg = body()
    w = world()
    code = str(cfg.get("placement") or "").upper()
    with w.lock:
        portal = portal_or_404(member_id)
        app = app_or_404(cfg.get("client_id"))
        inst = installed(portal, app["client_id"])
        bound = [p for p in inst.get("placements", []) if p["placement"] == code
                 and cfg.get("handler") in (None, p["handler"])]  # fmt: skip
        if not bound:
            raise ControlError(f"app has no handler bound to placement {code!r}", 409)
    user = str(cfg.get("user_id") or lifecycle.ADMIN)
    session = lifecycle.open_session(w, portal, app, user, code, cfg.get("options") or {})
    with w.lock:
        url, form = lifecycle.page_request(w, portal, app, session, target=bound[0]["handler"])
    try:
        resp = requests.post(url, data=form, timeout=60)
    except requests.RequestException as exc:
        raise ControlError(f"placement handler unreachable: {exc}", 502) from exc
    return jsonify(status=resp.status_code, html=resp.text, app_sid=session["app_sid"], url=url)


# --- automation-made changes ----------------------------------------------------------------------


@bp.post("/portals/<member_id>/automation/update")
def automation_update(member_id: str) -> Response:
    """Change a CRM record as a robot or business process would (§6.2: events carry no tokens).

    Body: ``{entity: "deal"|"contact"|"company"|"lead", id, fields: {...}}``. Runs
    ``crm.<entity>.update`` as user 0 and delivers the resulting events with an ``auth`` block that
    has no access/refresh token. Answers ``{"result": true}`` or the REST error body with its status.
    """
    cfg = body()
    w = world()
    entity = str(cfg.get("entity") or "").lower()
    if entity not in CRM_ENTITIES:
        raise ControlError(f"entity must be one of {list(CRM_ENTITIES)}")
    with w.lock:
        portal = portal_or_404(member_id)
    auth = Auth(kind="webhook", user_id="0", scopes=["*"], automation=True)
    params: dict[str, Any] = {"id": cfg.get("id"), "fields": cfg.get("fields") or {}}
    call = Call(w, portal, f"crm.{entity}.update", params, auth)
    try:
        out = rest.execute(call)
    except RestError as err:
        return jsonify(err.body()), err.status
    delivery.enqueue_events(w, portal, auth, call.events)
    return jsonify(result=out["result"])
