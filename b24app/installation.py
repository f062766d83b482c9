"""Install, update and uninstall of the app in a portal (bitrix24-rest.md §1), without Flask.

Handlers verify and parse what Bitrix24 posts, then call ``register`` and queue ``apply_template`` or
``forget``; the worker runs those jobs.
"""

import json
import logging
import time
from dataclasses import asdict

from . import context
from .bitrix import BitrixClient, BitrixError, TokenSource
from .errors import Unauthorized, Unavailable
from .portals import Portal, portal_key
from .queue import DEFAULT, enqueue_once
from .template import NONPROFIT
from .template.reconcile import Plan, Reconciler

log = logging.getLogger(__name__)


def user_client(rest_url: str, access_token: str, member_id: str) -> BitrixClient:
    """A client with a token the portal just sent (a user's, or an install's), behind the portal's limiter."""
    return BitrixClient(
        rest_url, TokenSource(lambda: access_token), context.limiter(), member_id, attempts=2
    )


def verify_token(rest_url: str, access_token: str, member_id: str) -> dict:
    """``app.info`` with the token the portal just gave us: a forged install cannot pass (§1.2)."""
    try:
        info = user_client(rest_url, access_token, member_id).call("app.info")
    except BitrixError as exc:
        if exc.retryable:
            raise Unavailable(
                f"the portal could not be asked to confirm the token ({exc.code}); try again"
            ) from exc
        raise Unauthorized(f"the portal did not confirm the token: {exc.code}") from exc
    client_id = context.settings().client_id
    if client_id and info.get("client_id") not in (None, client_id):
        raise Unauthorized("the token belongs to another application")
    return info


def register(member_id: str, domain: str, client_endpoint: str, server_endpoint: str, application_token: str,
             access_token: str, refresh_token: str, expires_in: int, scope: str) -> Portal:  # fmt: skip
    """Store (or renew) the portal's record; its key, settings and template ids survive a reinstall."""
    registry = context.registry()
    portal = registry.get(member_id) or Portal(
        member_id, domain, client_endpoint, server_endpoint, application_token
    )
    portal.domain, portal.client_endpoint, portal.server_endpoint = (
        domain,
        client_endpoint,
        server_endpoint,
    )
    portal.application_token = application_token
    portal.access_token, portal.refresh_token = access_token, refresh_token
    portal.expires_at = time.time() + int(expires_in or 3600)
    portal.scope = [s for s in scope.split(",") if s]
    registry.save(portal)
    return portal


def queue_template(member_id: str) -> None:
    """Queue (once) the job that brings the portal to the template."""
    enqueue_once(context.redis(), DEFAULT, f"template-{member_id}", apply_template, member_id)


def reconciler(member_id: str) -> Reconciler:
    portal = context.registry().require(member_id)
    from_ids = portal.settings.get("template_ids")
    return Reconciler(
        context.client(member_id), NONPROFIT, from_ids, context.settings().public_url, robots=()
    )


def apply_template(member_id: str) -> dict:
    """Job: create what the template lacks in the portal; record ids, version and item statuses."""
    rec = reconciler(member_id)
    plan = rec.apply()
    save_plan(member_id, plan, writes=rec.writes)
    log.info("portal %s: template applied with %d write commands", member_id, rec.writes)
    return {"writes": rec.writes, "missing": len(plan.missing)}


def plan_template(member_id: str) -> Plan:
    """The portal measured against the template (reads only); the status is stored for the app page."""
    plan = reconciler(member_id).plan()
    save_plan(member_id, plan, writes=None)
    return plan


def save_plan(member_id: str, plan: Plan, writes: int | None) -> None:
    registry = context.registry()
    portal = registry.require(member_id)
    portal.settings["template_ids"] = plan.ids
    if writes is not None:
        portal.template_version = NONPROFIT.version if not plan.missing else ""
        portal.status = "installed"
    registry.save(portal)
    status = {"at": time.time(), "writes": writes, "items": [asdict(i) for i in plan.items]}
    context.redis().set(
        portal_key(member_id, "template-status"), json.dumps(status, ensure_ascii=False)
    )


def template_status(member_id: str) -> dict | None:
    raw = context.redis().get(portal_key(member_id, "template-status"))
    return json.loads(raw) if raw else None


def forget(member_id: str, clean: bool) -> None:
    """Uninstall: with ``clean`` delete everything stored for the portal; else keep it, marked uninstalled."""
    registry = context.registry()
    if clean:
        registry.delete(member_id)
        forget_jobs(member_id)
        return
    portal = registry.get(member_id)
    if portal:
        portal.status, portal.access_token, portal.refresh_token = "uninstalled", "", ""
        registry.save(portal)


def forget_jobs(member_id: str) -> None:
    """Remove the RQ records of the portal's jobs (their ids carry the member_id)."""
    from rq.job import Job

    redis = context.redis()
    for key in redis.scan_iter(f"rq:job:*{member_id}*", count=500):
        job_id = key.decode().removeprefix("rq:job:")
        try:
            Job.fetch(job_id, connection=redis).delete()
        except Exception:  # a job record already half gone: drop the key itself
            redis.delete(key)
    for key in redis.scan_iter(f"rq:results:*{member_id}*", count=500):
        redis.delete(key)
