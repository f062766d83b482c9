"""The duplicates review page: the scan's proposal (groups to merge, chosen by a person), the review
queue (each entry merged or marked «не дубликат»), the figures, the progress of the scan or merge job
running, and the last report (CSV).

Opened from the app page with its signed token (admins only); the page signs its own token for the
"review" purpose, which is both the caller's proof and the CSRF guard of every POST. The page does no
slow REST work: a scan and every merge are jobs (matching/scanrun.py) whose progress it shows.
"""

import logging
import time

from flask import Blueprint, Response, current_app, render_template, request
from flask_babel import gettext as _

from b24app import context
from b24app.bitrix import BitrixError
from b24app.errors import BadRequest
from b24app.i18n import request_language
from b24app.matching import proposal
from b24app.matching.contacts import DEFAULT_REGION
from b24app.matching.report import report_csv as csv_text
from b24app.matching.scan import Cluster, mark_not_duplicate, review_entries
from b24app.matching.scanrun import (
    is_running,
    last_report,
    progress_of,
    report_meta,
    run_state,
    start_merge,
    start_scan,
)
from b24app.matching.words import in_words
from b24app.ratelimit import PortalBusy
from b24app.signing import sign

from . import pages

log = logging.getLogger(__name__)
bp = Blueprint("review", __name__, template_folder="templates")
PURPOSE = "review"


@bp.app_template_filter("in_words")
def reasons_in_words(reasons: str) -> str:
    """The matcher's reasons as a sentence in the page's language, with the score and its thresholds."""
    return in_words(str(reasons or ""), request_language())


@bp.post("/app/review")
def review_page():
    """List the review queue; a POST with ``action`` (and ``key``) merges, dismisses or starts a scan first.
    While a scan runs only its progress is shown: the queue is being rebuilt, and the portal's requests
    are the scan's."""
    portal, claims = pages.page_claims(request.form.get("token", ""), PURPOSE, pages.PURPOSE)
    member_id = portal.member_id
    message = act(portal, request.form.get("action", ""), request.form.get("key", ""))
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
                           groups=[] if running else proposal.groups(redis, member_id),
                           figures=proposal.figures(redis, member_id), lang=request_language(),
                           bx24_js=current_app.config["SETTINGS"].bx24_js_url)  # fmt: skip


@bp.route("/app/review/report.csv", methods=["POST"])
def report_csv():
    """The last scan's report as CSV for Excel (matching/report.py), in the page's language."""
    member_id = caller()
    report = last_report(context.redis(), member_id)
    if report is None:
        return Response("Поиска дубликатов ещё не было / No scan yet\n", 404, mimetype="text/plain")
    headers = {"Content-Disposition": "attachment; filename=duplicates.csv"}
    text = csv_text(report.rows, request.values.get("lang"))
    return Response(text, mimetype="text/csv", headers=headers)


def caller() -> str:
    """The portal of a valid review token, or of the app page's settings token (the link from the app page)."""
    return pages.portal_of(request.form.get("token", ""), PURPOSE, pages.PURPOSE).member_id


def act(portal, action: str, key: str) -> str:
    """Do what the form asked (only on POST); the sentence to show."""
    if request.method != "POST" or not action:
        return ""
    redis, member_id = context.redis(), portal.member_id
    region = portal.settings.get("phone_region") or DEFAULT_REGION
    if action == "scan":
        if start_scan(redis, member_id, "propose", region):
            return _("Duplicate scan started")
        return _("A duplicate scan is already running")
    if action in ("merge-selected", "merge-all"):
        keys = request.form.getlist("keys") if action == "merge-selected" else None
        return start_merging(member_id, proposal.chosen(redis, member_id, keys), region)
    entry = review_entries(redis, member_id).get(key)
    if action not in ("merge", "not-duplicate"):
        raise BadRequest(f"unknown action {action!r}")
    if entry is None:
        return _("Already handled")
    if action == "not-duplicate":
        mark_not_duplicate(redis, member_id, entry["ids"], entry["entity"])
        return _("Remembered: not a duplicate")
    cluster = Cluster(
        entry["entity"], [int(i) for i in entry["ids"]], False, entry["score"], entry["reasons"]
    )
    return start_merging(member_id, [cluster], region)


def start_merging(member_id: str, clusters: list[Cluster], region: str) -> str:
    """Queue the merge job of these clusters; the sentence to show."""
    if not clusters:
        return _("Nothing chosen")
    if start_merge(context.redis(), member_id, clusters, region):
        return _("Merging started: %(n)s groups", n=len(clusters))
    return _("A scan or a merge is already running")


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
            _(
                "The portal did not answer, the records are not loaded: reload the page a little later"
            ),
        )
    records = {
        (entity, i): out.result[f"{entity}{i}"]
        for entity, i in wanted
        if out.result.get(f"{entity}{i}")
    }
    return records, ""


def secret() -> str:
    return current_app.config["SETTINGS"].secret_key.get_secret_value()
