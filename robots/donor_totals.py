"""Robot «Пересчитать итоги донора» (product.md C4): the donor totals of the document's contact."""

from b24app import context
from b24app.donations.rollup import (
    base_currency,
    owners_with_gifts,
    portal_today,
    portal_zone,
    refresh_donors,
    subscription_of,
)
from b24app.donations.totals import donor_totals
from b24app.robots import Property, Robot, RobotCall, robot_job
from b24app.template.items import Label
from b24app.template.nonprofit import SEGMENTS
from b24app.template.resolved import resolve

CODE = "blago24_donor_totals"


def contact_of(client, call: RobotCall) -> int:
    """The contact the robot runs on, or the deal's contact (0: none)."""
    kind, number = call.entity
    if kind == "contact":
        return number
    if kind == "deal":
        return int((client.call("crm.deal.get", {"id": number}) or {}).get("CONTACT_ID") or 0)
    return 0


@robot_job(CODE)
def recompute_donor(member_id: str, call: RobotCall) -> dict:
    """The donor's totals written (only what differs); returns total and segment (its Russian name)."""
    client, redis = context.client(member_id), context.redis()
    contact_id = contact_of(client, call)
    if not contact_id:
        return {"total": "", "segment": ""}
    refresh_donors(client, redis, member_id, [contact_id])
    portal = context.registry().require(member_id)
    resolved = resolve(portal, client, redis)
    gifts, contacts = owners_with_gifts(
        client, resolved, portal_zone(portal), "contact", [contact_id]
    )
    if not contacts:
        return {"total": "", "segment": ""}
    values = donor_totals(gifts[contact_id], portal_today(portal), base_currency(client, redis, member_id),
                          subscription_of(contacts[0], resolved))  # fmt: skip
    names = {c.code: c.name.ru for c in SEGMENTS}
    return {
        "total": f"{values['GIFTS_SUM'] or 0:f}",
        "segment": names.get(values["SEGMENT"] or "", ""),
    }


ROBOT = Robot(
    code=CODE,
    name=Label("Пересчитать итоги донора", "Recompute donor totals"),
    description=Label("Итоги и сегмент донора по его пожертвованиям (Благо24)",
                      "The donor's totals and segment from their gifts (Blago24)"),
    properties=(),
    returns=(
        ("total", Property(Label("Сумма пожертвований", "Total given"), "double")),
        ("segment", Property(Label("Статус донорства", "Donor segment"), "string")),
    ),
    job=recompute_donor,
    pipeline="B24_ONLINE",
    stage="WON",
    documents=("CCrmDocumentDeal", "CCrmDocumentContact"),
)  # fmt: skip
