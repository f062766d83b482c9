"""Inbound webhooks: one module per source, listed in SOURCES, served by one route.

``/hooks/<portal key>/<source>[/<kind>]``: the portal by its key (404) → the source (404) → the signature
over the raw bytes (401) → the body parsed into the source's frozen model (400 naming the field) → first
time? → the job queued under the sender's id → the sender's reply. A verified sender's unknown kind is
answered like a known one and logged; nothing is queued from a refused request, and a delivery is
acknowledged only once its job is queued.
"""

import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, g, has_request_context, jsonify, request
from redis.exceptions import RedisError

from b24app import activity, context, metrics
from b24app.errors import NotFound, Unauthorized, Unavailable
from b24app.portals import portal_key
from b24app.queue import DEFAULT, enqueue

log = logging.getLogger(__name__)
SEEN_TTL = 30 * 86400  # CloudPayments re-sends for hours; a month is plenty
CLAIMED = b"claimed"  # the seen key's value while its delivery is being queued
CLAIM_TTL = 30  # seconds a claim outlives a process that died holding it
CLAIM_WAIT = 2.0  # seconds a repeat waits for the first copy to be queued


@dataclass(frozen=True)
class Work:
    """What one verified delivery asks for: its idempotency id, the job and its payload."""

    delivery: str  # the sender's own id of this notification
    job: Callable
    payload: dict
    record: Callable[[str, dict, Any], None] | None = (
        None  # the record step (member_id, payload, pipeline)
    )


@dataclass(frozen=True)
class Source:
    """An inbound source: its secret setting, signature check, parser, kinds and reply."""

    name: str
    secret_setting: str
    kinds: tuple[str, ...]  # () when the URL carries no kind
    verify: Callable[[bytes, Mapping[str, str], str], bool]  # raw body, headers, secret
    parse: Callable[[bytes, Mapping[str, str], str], Work | None]  # None: genuine but nothing to do
    reply: Callable[[], Any]
    guide: tuple[str, str] = ("", "")  # how to connect it, in Russian and English, for the app page
    download: str = ""  # the app's path of a file the connector needs (the Leyka bridge plugin)

    def paths(self) -> list[str]:
        """The URL tails this source is served at, one per kind."""
        return [f"{self.name}/{kind}" for kind in self.kinds] or [self.name]


from . import cloudpayments, leyka, timepad  # noqa: E402  (a source module needs Source and Work above)

SOURCES: list[Source] = [cloudpayments.SOURCE, leyka.SOURCE, timepad.SOURCE]
BY_NAME = {s.name: s for s in SOURCES}

bp = Blueprint("hooks", __name__)


@bp.post("/hooks/<key>/<source>")
@bp.post("/hooks/<key>/<source>/<kind>")
def receive(key: str, source: str, kind: str = "") -> Response:
    """Verify → parse → first time? → queue → the sender's reply."""
    portal = context.registry().by_key(key) if len(key) < 100 else None
    spec = BY_NAME.get(source)
    if portal is None or spec is None:
        raise NotFound("no such webhook URL (portal key or source unknown)")
    raw = request.get_data(cache=True)
    secret = portal.settings.get(spec.secret_setting, "")
    if not secret:
        refuse(portal.member_id, spec.name, f"{spec.secret_setting} not set on the app page")
    if not spec.verify(raw, request.headers, secret):
        refuse(portal.member_id, spec.name, "signature does not match")
    kind = kind.lower()
    if spec.kinds and not kind:
        raise NotFound(
            f"{spec.name} needs the notification kind in the URL: /{spec.name}/<{'|'.join(spec.kinds)}>"
        )
    if spec.kinds and kind not in spec.kinds:
        log.info("portal %s: %s kind %r not handled", portal.member_id, spec.name, kind)
        return jsonify(spec.reply())
    work = spec.parse(raw, request.headers, kind)
    if portal.status == "uninstalled":
        log.info("portal %s is uninstalled: %s delivery dropped", portal.member_id, spec.name)
    elif work is not None:
        queue_once(portal.member_id, spec.name, work)
    return jsonify(spec.reply())


def refuse(member_id: str, source: str, reason: str):
    """Refuse a delivery the portal's admin should hear about (their recent activity); Unauthorized."""
    activity.record(context.redis(), member_id, "refused", source=source, reason=reason)
    raise Unauthorized(f"{source}: {reason}")


def queue_once(member_id: str, source: str, work: Work) -> None:
    """Queue the delivery's job unless this very delivery was queued before (its sender's id).

    Two round trips for a new delivery: the delivery is claimed (SET NX, CLAIM_TTL), then recorded, queued
    and marked seen in one transaction. A repeat that meets a claim waits for it to resolve (a claim whose
    process died frees itself after CLAIM_TTL, so the sender's next retry is queued)."""
    redis = context.redis()
    seen = portal_key(member_id, "seen", source, work.delivery)
    if redis.set(seen, CLAIMED, nx=True, ex=CLAIM_TTL):
        try:
            pipe = redis.pipeline(
                transaction=True
            )  # RQ opens its MULTI first, so the job goes in first
            enqueue(redis, DEFAULT, f"{source}-{member_id}-{work.delivery}", work.job, member_id,
                    work.payload, pipeline=pipe)  # fmt: skip
            if work.record is not None:
                work.record(member_id, work.payload, pipe)
            pipe.set(seen, 1, ex=SEEN_TTL)
            count_request(pipe)
            activity.received(pipe, member_id, source)
            activity.add(pipe, member_id, "delivery", source=source)
            pipe.execute()
        except BaseException:
            with contextlib.suppress(RedisError):
                redis.delete(seen)
            raise
    else:
        wait_for_claim(redis, seen)
        activity.received(
            redis, member_id, source
        )  # a repeat is a receipt, not news for the activity list
    context.replicated(
        redis
    )  # acknowledged only once the replicas hold it (a repeat too: see docs)


def count_request(pipe) -> None:
    """The request's metric rides the delivery's transaction (its answer is 200 from here on); a delivery
    fed by a job (the CloudPayments reconcile) is no request and counts none."""
    if not has_request_context():
        return
    metrics.add(pipe, metrics.REQUESTS, route=request.url_rule.rule, status="200")
    g.request_counted = True


def wait_for_claim(redis, seen: str) -> None:
    """Return once the delivery's first copy is queued; Unavailable (503: retry) if that takes too long."""
    deadline = time.monotonic() + CLAIM_WAIT
    while redis.get(seen) == CLAIMED:
        if time.monotonic() > deadline:
            raise Unavailable("the same delivery is being queued right now; try again")
        time.sleep(0.01)
