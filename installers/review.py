"""The duplicates review page: entries of the review queue, each merged or marked «не дубликат»; the
portal-wide scan started here (a job), its progress and its last report (CSV).

Opened from the app page with its signed token (admins only); the page signs its own token for the
"review" purpose, which is both the caller's proof and the CSRF guard of every POST. A merge runs inline:
one pair is two batch requests (read the records, then the planner's writes and mergeBatch) and a comment.
"""

import io
import logging
import time

from flask import Blueprint, Response, current_app, render_template, request

from b24app import context
from b24app.bitrix import BitrixError
from b24app.errors import BadRequest
from b24app.matching.scan import mark_not_duplicate, merge_entry, review_entries
from b24app.matching.scanrun import (
    is_running,
    last_report,
    progress_of,
    report_meta,
    run_state,
    start_scan,
    write_report,
)
from b24app.ratelimit import PortalBusy
from b24app.signing import sign

from . import pages

log = logging.getLogger(__name__)
bp = Blueprint("review", __name__, template_folder="templates")
PURPOSE = "review"


@bp.route("/app/review", methods=["GET", "POST"])
def review_page():
    """List the review queue; a POST with ``action`` (and ``key``) merges, dismisses or starts a scan first.
    While a scan runs only its progress is shown: the queue is being rebuilt, and the portal's requests
    are the scan's."""
    portal, claims = pages.page_claims(request.values.get("token", ""), PURPOSE, pages.PURPOSE)
    member_id = portal.member_id
    message = act(member_id, request.form.get("action", ""), request.form.get("key", ""))
    # the page's own token lives no longer than the one it came with: it cannot renew itself
    ttl = max(1, int(claims["_exp"] - time.time()))
    token = sign(
        secret(), PURPOSE, {"m": member_id, "i": portal.install_id, "u": claims.get("u", "")}, ttl
    )
    redis = context.redis()
    state = run_state(redis, member_id)
    running = is_running(state)
    entries = {} if running else review_entries(redis, member_id)
    records, unreadable = load_records(member_id, entries) if entries else ({}, "")
    return render_template("review.html", entries=entries, records=records, token=token,
                           message=message or unreadable, running=running, state=state,
                           progress=progress_of(state), report=report_meta(redis, member_id),
                           bx24_js=current_app.config["SETTINGS"].bx24_js_url)  # fmt: skip


@bp.route("/app/review/report.csv", methods=["POST"])
def report_csv():
    """The last scan's report as CSV for Excel (UTF-8 with BOM, ";" between fields)."""
    member_id = caller()
    report = last_report(context.redis(), member_id)
    if report is None:
        return Response("Поиска дубликатов ещё не было / No scan yet\n", 404, mimetype="text/plain")
    out = io.StringIO()
    out.write("\ufeff")
    write_report(out, report.rows, delimiter=";")
    headers = {"Content-Disposition": "attachment; filename=duplicates.csv"}
    return Response(out.getvalue(), mimetype="text/csv", headers=headers)


def caller() -> str:
    """The portal of a valid review token, or of the app page's settings token (the link from the app page)."""
    return pages.portal_of(request.values.get("token", ""), PURPOSE, pages.PURPOSE).member_id


def act(member_id: str, action: str, key: str) -> str:
    """Do what the form asked (only on POST); the sentence to show."""
    if request.method != "POST" or not action:
        return ""
    redis = context.redis()
    if action == "scan":
        if start_scan(redis, member_id):
            return "Поиск дубликатов запущен / Duplicate scan started"
        return "Поиск дубликатов уже идёт / A duplicate scan is already running"
    entry = review_entries(redis, member_id).get(key)
    if entry is None:
        return "Запись уже обработана / Already handled"
    if action == "not-duplicate":
        mark_not_duplicate(redis, member_id, entry["ids"], entry["entity"])
        return "Запомнено: не дубликат / Remembered: not a duplicate"
    if action == "merge":
        try:
            result = merge_entry(context.client(member_id), redis, member_id, key)
        except (BitrixError, PortalBusy) as exc:
            log.warning("review page: merge of %s on %s failed: %s", key, member_id, exc)
            return f"Портал не ответил, попробуйте позже / The portal did not answer: {exc}"
        if result is None:
            return "Записей уже нет в портале / The records are no longer in the portal"
        if result.merged:
            return "Объединено / Merged"
        return f"Не объединено / Not merged: {result.status} {result.reason}"
    raise BadRequest(f"unknown action {action!r}")


def load_records(
    member_id: str, entries: dict[str, dict]
) -> tuple[dict[tuple[str, int], dict], str]:
    """The records the entries name, read in batches: (entity, id) → record (missing ones left out); and
    a sentence when the portal could not be read (the page still shows the queue)."""
    wanted = {(e["entity"], int(i)) for e in entries.values() for i in e["ids"]}
    commands = {f"{entity}{i}": (f"crm.{entity}.get", {"id": i}) for entity, i in sorted(wanted)}
    try:
        out = context.client(member_id).batch(commands)
    except (BitrixError, PortalBusy) as exc:
        log.warning("review page: records of %s not read: %s", member_id, exc)
        return (
            {},
            "Портал не ответил, записи не загружены; обновите страницу позже / The portal did not answer",
        )
    records = {
        (entity, i): out.result[f"{entity}{i}"]
        for entity, i in wanted
        if out.result.get(f"{entity}{i}")
    }
    return records, ""


def secret() -> str:
    return current_app.config["SETTINGS"].secret_key.get_secret_value()
