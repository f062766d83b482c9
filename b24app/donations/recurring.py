"""Recurring donors (product.md C2): a subscription's state kept on its donor and its deal.

A subscription is found by its id on the deals («ID подписки»). A first recurring payment carries no
subscription id (external-services.md §3.5), so a subscription no deal names yet is linked by what its
notification carries: the donor by e-mail (``Email``, or an ``AccountId`` that is one), then that donor's
one recurring gift of the same amount without a subscription id, which gets the id. Where that is
ambiguous the case is kept for the app page, and the state goes on the donor alone only when that one
donor has several such gifts: an e-mail by itself (no donor, several, or one without such a gift) proves
too little to write on anyone.
"""

import json
import time
from decimal import Decimal

from redis import Redis

from ..bitrix import BitrixClient
from ..portals import portal_key
from ..template.resolved import Resolved, TemplateNotReady, field
from . import SubscriptionChange

PIPELINE = "B24_ONLINE"
STATES = {"Active": "ACTIVE", "PastDue": "PAST_DUE", "Cancelled": "CANCELLED", "Rejected": "REJECTED",
          "Expired": "EXPIRED"}  # fmt: skip
ENDED = {"Cancelled", "Rejected", "Expired"}
SELECT = ["ID", "CONTACT_ID", "BEGINDATE", "STAGE_ID", "OPPORTUNITY", "TYPE_ID",
          field("B24_SUBSCRIPTION_ID"), field("B24_CARD_EXPIRES"), field("B24_SUBSCRIPTION")]  # fmt: skip
CASES_KEPT = 50
KEEP = 400 * 86400


def cases_key(member_id: str) -> str:
    return portal_key(member_id, "subscription-cases")


def subscription_deals(client: BitrixClient, resolved: Resolved, subscription: str) -> list[dict]:
    """The subscription's deals in «Электронные пожертвования», oldest first."""
    flt = {
        "=" + field("B24_SUBSCRIPTION_ID"): subscription,
        "CATEGORY_ID": resolved.pipeline(PIPELINE),
    }
    return (
        client.call("crm.deal.list", {"filter": flt, "select": SELECT, "order": {"ID": "ASC"}})
        or []
    )


def donors_by_email(client: BitrixClient, email: str) -> list[int]:
    """Contacts holding the e-mail (crm.duplicate.findbycomm, bitrix24-rest.md §4.3)."""
    if not email:
        return []
    found = client.call(
        "crm.duplicate.findbycomm", {"entity_type": "CONTACT", "type": "EMAIL", "values": [email]}
    )
    return (
        sorted({int(i) for i in (found or {}).get("CONTACT", [])})
        if isinstance(found, dict)
        else []
    )


def first_gifts(
    client: BitrixClient, resolved: Resolved, contact_id: int, amount: Decimal
) -> list[dict]:
    """The donor's recurring gifts of ``amount`` that no subscription names yet."""
    flt = {
        "CONTACT_ID": contact_id,
        "CATEGORY_ID": resolved.pipeline(PIPELINE),
        "TYPE_ID": "B24_RECURRING",
    }
    rows = (
        client.call("crm.deal.list", {"filter": flt, "select": SELECT, "order": {"ID": "ASC"}})
        or []
    )
    return [r for r in rows if not r.get(field("B24_SUBSCRIPTION_ID"))
            and (not amount or Decimal(str(r.get("OPPORTUNITY") or 0)) == amount)]  # fmt: skip


def keep_subscription(client: BitrixClient, redis: Redis, member_id: str, resolved: Resolved,
                      change: SubscriptionChange) -> list[int]:  # fmt: skip
    """The new state on the subscription's donors and on its latest deal (linked first when no deal names
    it); returns the donors written."""
    deals = subscription_deals(client, resolved, change.subscription_id)
    link = False
    if deals:
        contacts = sorted({int(d["CONTACT_ID"]) for d in deals if d.get("CONTACT_ID")})
        redis.hdel(cases_key(member_id), change.subscription_id)
    else:
        contacts = donors_by_email(client, change.email)
        gifts = (
            first_gifts(client, resolved, contacts[0], change.amount) if len(contacts) == 1 else []
        )
        if len(gifts) == 1:
            deals, link = gifts, True
        else:
            note_case(redis, member_id, change, contacts, len(gifts))
            contacts = contacts if len(contacts) == 1 and gifts else []
    state = STATES.get(change.status, "ACTIVE")
    commands: dict[str, tuple[str, dict]] = {}
    expiry = next(
        (d[field("B24_CARD_EXPIRES")] for d in reversed(deals) if d.get(field("B24_CARD_EXPIRES"))),
        "",
    )
    for contact_id in contacts:
        values = {field("B24_SUBSCRIPTION"): resolved.enum("contact", "B24_SUBSCRIPTION", state)}
        values |= {field("B24_CARD_EXPIRES"): expiry} if expiry else {}
        commands[f"c{contact_id}"] = ("crm.contact.update", {"id": contact_id, "fields": values})
    if deals and (values := deal_values(resolved, state, change.subscription_id if link else "")):
        commands["deal"] = ("crm.deal.update", {"id": int(deals[-1]["ID"]), "fields": values})
    if commands:
        client.batch(commands).raise_errors()
    return contacts


def deal_values(resolved: Resolved, state: str, link: str) -> dict:
    """The deal's «Статус подписки» (left out on a portal whose template predates it) and the link."""
    try:
        values = {field("B24_SUBSCRIPTION"): resolved.enum("deal", "B24_SUBSCRIPTION", state)}
    except TemplateNotReady:
        values = {}
    return values | ({field("B24_SUBSCRIPTION_ID"): link} if link else {})


def note_case(
    redis: Redis, member_id: str, change: SubscriptionChange, contacts: list[int], gifts: int
) -> None:
    """An ambiguous subscription, for the app page (the latest first, one entry per subscription)."""
    why = ("no donor with this e-mail" if not contacts else "several donors with this e-mail" if len(contacts) > 1
           else "no recurring gift of this amount" if not gifts else "several recurring gifts of this amount")  # fmt: skip
    entry = {"subscription": change.subscription_id, "status": change.status, "email": change.email,
             "amount": f"{change.amount:f}", "contacts": contacts, "why": why, "at": time.time()}  # fmt: skip
    key = cases_key(member_id)
    redis.pipeline().hset(key, change.subscription_id, json.dumps(entry)).expire(
        key, KEEP
    ).execute()


def cases(redis: Redis, member_id: str) -> list[dict]:
    """Ambiguous subscriptions, the latest first."""
    rows = [json.loads(v) for v in redis.hvals(cases_key(member_id))]
    return sorted(rows, key=lambda r: -r["at"])[:CASES_KEPT]
