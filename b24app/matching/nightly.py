"""The nightly jobs: at night every installed portal's duplicate scan proposes its confident groups (or
merges them when the portal's ``dedup_auto_merge`` setting says so; off by default: a merge cannot be
undone), its donor totals are recomputed (segments move with the calendar, not only with gifts), its
CloudPayments payments of the last days reconciled and its recurring donors' cards, lapses and stale
«Начато» deals looked at (b24app/donations/daily.py); its lesson reminders re-planned (Bitrix24 never
repeats a lost ONCRMPRODUCTUPDATE, b24app/lessons.py); donor letters still due
are queued again (a letter whose job ran out of retries is never lost).

One job a night (its id is the night's date, so any number of workers schedule it once) starts each
installed portal's own scan job and schedules the next night; every worker schedules the coming night
when it starts, so the chain survives a lost Redis.
"""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from redis import Redis
from rq.job import Job

from .. import context
from ..donations.daily import donations_daily
from ..donations.recompute import start_recompute
from ..donations.reconcile import reconcile_recent
from ..lessons import reconcile_reminders
from ..letters import send as letters
from ..portals import Portal
from ..queue import BULK, enqueue_once
from .contacts import DEFAULT_REGION
from .scanrun import start_scan

NIGHT = time(3, 0)  # portal time: few people edit contacts then
MOSCOW = ZoneInfo("Europe/Moscow")  # the portals' time zone until they have their own setting
ONCE_TTL = 2 * 86400


def next_night(now: datetime) -> datetime:
    """The first NIGHT (Moscow time) after ``now`` (tz-aware)."""
    local = now.astimezone(MOSCOW)
    night = datetime.combine(local.date(), NIGHT, MOSCOW)
    return (
        night
        if night > local
        else datetime.combine(local.date() + timedelta(days=1), NIGHT, MOSCOW)
    )


def schedule_nightly(redis: Redis, now: datetime | None = None) -> Job:
    """Schedule the coming night's scans (once, whoever asks)."""
    night = next_night(now or datetime.now(UTC))
    job_id = f"dedup-nightly-{night:%Y%m%d}"
    return enqueue_once(
        redis, BULK, job_id, nightly_scans, night.date().isoformat(), at=night.timestamp()
    )


def nightly_scans(night: str) -> str:
    """RQ job: start the duplicate scan and the donor totals recompute of every installed portal (once per
    night), then schedule the next night."""
    redis = context.redis()
    scans = totals = 0
    if redis.set(f"b24:dedup:nightly:{night}", 1, nx=True, ex=ONCE_TTL):
        for portal in context.registry().all():
            if portal.status != "installed":
                continue
            scans += bool(start_scan(redis, portal.member_id, *scan_options(portal)))
            totals += bool(start_recompute(redis, portal.member_id))
            letters.sweep(redis, portal.member_id)
            start_donations_daily(redis, portal.member_id, night)
            enqueue_once(redis, BULK, f"lessons-reconcile-{portal.member_id}-{night}", reconcile_reminders,
                         portal.member_id)  # fmt: skip
    schedule_nightly(redis)
    return f"{scans} scans started, {totals} totals recomputes started"


def start_donations_daily(redis: Redis, member_id: str, night: str) -> None:
    """The portal's daily donations jobs: CloudPayments reconciled, then recurring donors and stale deals."""
    enqueue_once(
        redis, BULK, f"donations-reconcile-{member_id}-{night}", reconcile_recent, member_id, night
    )
    enqueue_once(
        redis, BULK, f"donations-daily-{member_id}-{night}", donations_daily, member_id, night
    )


def scan_options(portal: Portal) -> tuple[str, str]:
    """(mode, phone region) of a portal's unattended scan."""
    mode = "apply" if portal.settings.get("dedup_auto_merge") == "yes" else "propose"
    return mode, portal.settings.get("phone_region") or DEFAULT_REGION
