"""Install, update, uninstall and page opens of the app in a portal (bitrix24-rest.md §1), without Flask.

Nothing a request says is believed until Bitrix24 confirms it: a token at a trusted OAuth server
(``trust``), the user's role with ``profile`` at the REST endpoint that server named. Handlers parse
what Bitrix24 posts and call ``install`` or ``open_page`` (updates and uninstalls: ``lifecycle``); the
worker runs the template job.
"""

import hmac
import json
import logging
import secrets
import time
from dataclasses import asdict

from . import activity, context, trust
from .bitrix import BitrixClient, BitrixError, TokenSource
from .errors import BadRequest, Forbidden, Unauthorized, Unavailable
from .jobs import lease, portal_job
from .portals import Portal, portal_key
from .queue import DEFAULT, enqueue_once
from .template import NONPROFIT
from .template.reconcile import Plan, Reconciler
from .template.resolved import enums_of
from .trust import AppInfo

log = logging.getLogger(__name__)


def user_client(rest_url: str, access_token: str, member_id: str) -> BitrixClient:
    """A client with a token the portal just sent (a user's, or an install's), behind the portal's limiter."""
    return BitrixClient(
        rest_url, TokenSource(lambda: access_token), context.limiter(), member_id, attempts=2
    )


def confirm_user(access_token: str, member_id: str, domain: str | None = None,
                 endpoint: str = "") -> AppInfo:  # fmt: skip
    """The OAuth server's word on a token that must belong to this app and to ``member_id`` (§1.6)."""
    info = trust.confirm(access_token, context.oauth_servers(), endpoint)
    return trust.require_app_and_portal(info, context.settings().client_id, member_id, domain)


def confirm_for(portal: Portal, access_token: str, domain: str | None = None) -> AppInfo:
    """``confirm_user`` at the OAuth server the portal was installed through (never one a request names)."""
    if trust.server_for(portal.server_endpoint, context.oauth_servers()) is None:
        raise Unauthorized("the portal's OAuth server is no longer on B24APP_OAUTH_SERVERS")
    return confirm_user(access_token, portal.member_id, domain, portal.server_endpoint)


def user_profile(info: AppInfo, access_token: str) -> dict:
    """``profile`` of the token's user, asked at the portal's confirmed REST endpoint."""
    try:
        return user_client(info.client_endpoint, access_token, info.member_id).call("profile") or {}
    except BitrixError as exc:
        if exc.retryable:
            raise Unavailable(
                f"the portal could not be asked who the user is ({exc.code})"
            ) from exc
        raise Unauthorized(f"the portal did not confirm the user's token: {exc.code}") from exc


def require_admin(info: AppInfo, access_token: str, what: str) -> dict:
    """The token's user if a portal administrator; else Forbidden naming ``what`` they tried."""
    user = user_profile(info, access_token)
    if user.get("ADMIN") is not True:
        raise Forbidden(f"only a portal administrator can {what}")
    return user


def install(info: AppInfo, application_token: str, access_token: str, refresh_token: str,
            expires_in: int) -> Portal:  # fmt: skip
    """A confirmed install by an admin: record the portal (under the member_id the OAuth server named)
    and queue the template."""
    if not application_token or not refresh_token:
        raise BadRequest("an install needs the application token and the refresh token")
    user = require_admin(info, access_token, "install the app")
    portal = register(info, application_token, access_token, refresh_token, expires_in)
    queue_template(portal.member_id)
    activity.remember_admin(context.redis(), portal.member_id, user.get("ID"))
    activity.record(context.redis(), portal.member_id, "installed")
    log.info(
        "portal %s: installed (version %s) through %s",
        portal.member_id,
        info.version,
        info.server.base,
    )
    return portal


def register(info: AppInfo, application_token: str, access_token: str, refresh_token: str,
             expires_in: int) -> Portal:  # fmt: skip
    """Store (or renew) the portal's record from a confirmed install; key, settings and template ids
    survive a reinstall, page tokens of an earlier install do not."""
    registry = context.registry()
    with registry.lock(info.member_id, "record", timeout=10):
        portal = registry.get(info.member_id) or Portal(
            info.member_id,
            info.domain,
            info.client_endpoint,
            info.server.rest_url,
            application_token,
        )
        portal.domain, portal.client_endpoint = info.domain, info.client_endpoint
        portal.server_endpoint, portal.application_token = info.server.rest_url, application_token
        portal.access_token, portal.refresh_token = access_token, refresh_token
        portal.expires_at = time.time() + int(expires_in or 3600)
        portal.app_version, portal.install_id = info.version, secrets.token_urlsafe(12)
        if portal.status != "installed":
            portal.status = "installing"
        registry.save(portal, tokens=True)
    return portal


def heal_update(portal: Portal, info: AppInfo, access_token: str, application_token: str) -> bool:
    """A missed ONAPPUPDATE healed by an admin's confirmed page open that reports a newer installed
    version: the page's application token becomes the stored one. False when that is not the case."""
    if info.version <= portal.app_version or not application_token:
        return False
    require_admin(info, access_token, "bring the app's new version into use")
    accept_version(portal.member_id, info, application_token)
    log.info(
        "portal %s: missed update to version %s healed by a page open",
        portal.member_id,
        info.version,
    )
    return True


def accept_version(member_id: str, info: AppInfo, application_token: str) -> None:
    """Store a confirmed new version with its application token, and re-apply the template."""
    with context.registry().change(member_id) as portal:
        portal.application_token, portal.app_version = application_token, info.version
        portal.domain, portal.client_endpoint = info.domain, info.client_endpoint
    queue_template(member_id)


def known_portal(member_id: str) -> Portal:
    """The portal if the app is installed there (not uninstalled); else Unauthorized."""
    portal = context.registry().get(member_id) if member_id else None
    if portal is None or portal.status == "uninstalled":
        raise Unauthorized("unknown portal (member_id)")
    return portal


def same(a: str, b: str) -> bool:
    """Constant-time equality of two secrets of any characters."""
    return hmac.compare_digest(str(a).encode(), str(b).encode())


def open_page(
    member_id: str, domain: str, access_token: str, application_token: str
) -> tuple[Portal, dict]:
    """A page open confirmed (§1.2, §1.6): the user's token at the portal's OAuth server names this app,
    portal and domain, and the application token is the stored one (or heals a missed update).
    Returns the portal and the user (``profile``)."""
    portal = known_portal(member_id)
    info = confirm_for(portal, access_token, domain)
    if not same(application_token, portal.application_token):
        if not heal_update(portal, info, access_token, application_token):
            raise Unauthorized("APPLICATION_TOKEN does not match this portal")
        portal = known_portal(member_id)
    return portal, user_profile(info, access_token)


def queue_template(member_id: str) -> None:
    """Queue (once) the job that brings the portal to the template."""
    enqueue_once(context.redis(), DEFAULT, f"template-{member_id}", apply_template, member_id)


def reconciler(member_id: str) -> Reconciler:
    portal = context.registry().require(member_id)
    from_ids = portal.settings.get("template_ids")
    public_url = context.settings().public_url
    return Reconciler(context.client(member_id), NONPROFIT, from_ids, public_url,
                      robots=[r.registration(public_url) for r in robot_specs()])  # fmt: skip


def robot_specs() -> list:
    """The app's robots (``robots.ROBOTS``): part of the template, registered with it."""
    from robots import ROBOTS  # the registry lives beside its route; the template only reads it

    return ROBOTS


@portal_job
def apply_template(member_id: str) -> dict:
    """Job: create what the template lacks in the portal; record ids, version and item statuses.
    Safe to run again after a crash (it re-plans); never twice at once (the portal's template lease)."""
    with lease(member_id, "template"):
        rec = reconciler(member_id)
        plan = rec.apply()
        save_plan(member_id, plan, writes=rec.writes)
        enums_of(
            member_id, context.client(member_id), context.redis(), fresh=True
        )  # donations need them
    activity.record(
        context.redis(), member_id, "template", writes=rec.writes, missing=len(plan.missing)
    )
    log.info("portal %s: template applied with %d write commands", member_id, rec.writes)
    return {"writes": rec.writes, "missing": len(plan.missing)}


def plan_template(member_id: str) -> Plan:
    """The portal measured against the template (reads only); the status is stored for the app page."""
    plan = reconciler(member_id).plan()
    save_plan(member_id, plan, writes=None)
    return plan


def save_plan(member_id: str, plan: Plan, writes: int | None) -> None:
    with context.registry().change(member_id) as portal:
        portal.settings["template_ids"] = plan.ids
        if writes is not None:
            portal.template_version = NONPROFIT.version if not plan.missing else ""
            portal.status = "installed" if portal.status != "uninstalled" else portal.status
    status = {"at": time.time(), "writes": writes, "items": [asdict(i) for i in plan.items]}
    context.redis().set(
        portal_key(member_id, "template-status"), json.dumps(status, ensure_ascii=False)
    )


def template_status(member_id: str) -> dict | None:
    raw = context.redis().get(portal_key(member_id, "template-status"))
    return json.loads(raw) if raw else None


def forget(member_id: str, clean: bool) -> None:
    """Uninstall: with ``clean`` delete everything stored for the portal; else keep it, marked uninstalled
    (its tokens and its page tokens dead)."""
    registry = context.registry()
    if clean:
        registry.delete(member_id)
        forget_jobs(member_id)
        return
    with registry.lock(member_id, "record", timeout=10):
        portal = registry.get(member_id)
        if portal:
            portal.status, portal.access_token, portal.refresh_token = "uninstalled", "", ""
            portal.install_id = ""
            registry.save(portal, tokens=True)


def forget_jobs(member_id: str) -> None:
    """Remove the RQ records of the portal's jobs (their ids carry the member_id)."""
    from rq import get_current_job
    from rq.job import Job

    redis = context.redis()
    current = get_current_job()
    for key in redis.scan_iter(f"rq:job:*{member_id}*", count=500):
        job_id = key.decode().removeprefix("rq:job:")
        if current is not None and job_id == current.id:
            continue  # the uninstall job itself: RQ drops it when it ends (result_ttl=0)
        try:
            Job.fetch(job_id, connection=redis).delete()
        except Exception:  # a job record already half gone: drop the key itself
            redis.delete(key)
    for key in redis.scan_iter(f"rq:results:*{member_id}*", count=500):
        redis.delete(key)


PICKUP = 60  # seconds a queued template job may wait for a worker before the page says so


def template_progress(member_id: str, now: float | None = None) -> dict:
    """Where bringing the portal to the template stands, for the app page: ``phase`` is ``applying``
    (a job waits or runs), ``stalled`` (queued, no worker took it within PICKUP s), ``failed`` (the job
    failed: ``reason``), ``done`` or ``incomplete`` (applied, items missing); ``since`` the job's time."""
    from rq.job import Job

    now = time.time() if now is None else now
    redis = context.redis()
    status = template_status(member_id)
    job = None
    if redis.exists(f"rq:job:template-{member_id}"):
        job = Job.fetch(f"template-{member_id}", connection=redis)
    state = job.get_status(refresh=True) if job else None
    stamp = lambda t: t.timestamp() if t else now  # noqa: E731
    if state in ("started",):
        return {"phase": "applying", "since": stamp(job.started_at), "started": True}
    if state in ("queued", "scheduled", "deferred"):
        since = stamp(job.enqueued_at)
        if state == "queued" and now - since > PICKUP:
            return {"phase": "stalled", "since": since}
        return {"phase": "applying", "since": since, "started": False}
    if state == "failed":
        reason = next(
            (f["reason"] for f in jobs_failures(member_id) if "template" in f.get("job", "")), ""
        )
        return {
            "phase": "failed",
            "since": stamp(job.ended_at),
            "reason": reason or (job.exc_info or "")[-300:],
        }
    if status is None:
        return {
            "phase": "stalled",
            "since": now,
        }  # nothing queued and nothing applied: say so, offer a retry
    missing = [i for i in status["items"] if i["status"] == "missing"]
    return {"phase": "incomplete" if missing else "done", "since": status.get("at", now)}


def jobs_failures(member_id: str) -> list[dict]:
    from .jobs import failures

    return failures(member_id)


def missing_by_kind(status: dict | None, progress: dict) -> dict[str, list[dict]]:
    """The template's missing items grouped by kind, each with its reason (its detail, else the job's)."""
    grouped: dict[str, list[dict]] = {}
    for item in (status or {}).get("items", []):
        if item["status"] == "missing":
            reason = item.get("detail") or progress.get("reason", "")
            grouped.setdefault(item["kind"], []).append({**item, "reason": reason})
    return grouped


def retry_template(member_id: str) -> None:
    """«Повторить настройку»: a template job that waits unclaimed or failed is dropped and queued afresh
    (one that runs is left to run)."""
    from rq.job import Job

    redis = context.redis()
    if redis.exists(f"rq:job:template-{member_id}"):
        job = Job.fetch(f"template-{member_id}", connection=redis)
        if job.get_status(refresh=True) != "started":
            job.delete()
    queue_template(member_id)
    activity.record(redis, member_id, "retried")
