"""The ids of the applied template in one portal: pipelines, stages, fields and enumeration values.

Built from what the reconciler recorded (``portal.settings["template_ids"]``) and, for enumeration
values, one batch read cached per portal; every feature asks here instead of formatting ``C{n}:`` or
``UF_CRM_…`` inline.
"""

import json
from dataclasses import dataclass

from redis import Redis

from ..bitrix import BitrixClient
from ..errors import Blago24Error
from ..portals import Portal, portal_key

ENUM_TTL = 24 * 3600
ENUM_ENTITIES = ("deal", "contact")


class TemplateNotReady(Blago24Error):
    """The portal's template is not applied (yet): the work waits and is retried."""


def field(code: str) -> str:
    """The CRM name of a template field: ``B24_PAYMENT_ID`` → ``UF_CRM_B24_PAYMENT_ID``."""
    return f"UF_CRM_{code}"


@dataclass(frozen=True)
class Resolved:
    pipelines: dict[str, int]
    enums: dict[str, dict[str, int]]  # "deal.UF_CRM_B24_GATEWAY" → {XML_ID: ID}

    def pipeline(self, code: str) -> int:
        if code not in self.pipelines:
            raise TemplateNotReady(f"pipeline {code} is not in the portal yet")
        return self.pipelines[code]

    def stage(self, pipeline_code: str, stage_code: str) -> str:
        """A deal stage's STATUS_ID: ``C<category>:<code>``."""
        return f"C{self.pipeline(pipeline_code)}:{stage_code}"

    def enum(self, entity: str, code: str, choice: str) -> int:
        """The id of an enumeration field's value by its code (XML_ID)."""
        try:
            return self.enums[f"{entity}.{field(code)}"][choice]
        except KeyError:
            raise TemplateNotReady(f"{entity} field {code} has no value {choice} yet") from None


def resolve(portal: Portal, client: BitrixClient, redis: Redis) -> Resolved:
    """The portal's template ids; TemplateNotReady while the template is not applied."""
    ids = portal.settings.get("template_ids") or {}
    if not portal.template_version or not ids.get("pipelines"):
        raise TemplateNotReady(f"portal {portal.member_id}: the CRM template is not applied yet")
    return Resolved(dict(ids["pipelines"]), enums_of(portal.member_id, client, redis))


def enums_of(
    member_id: str, client: BitrixClient, redis: Redis, fresh: bool = False
) -> dict[str, dict[str, int]]:
    """The ids of the template's enumeration values, cached a day (``fresh``: read them now)."""
    key = portal_key(member_id, "template-enums")
    if not fresh and (cached := redis.get(key)):
        return json.loads(cached)
    commands = {
        e: (f"crm.{e}.userfield.list", {"filter": {"USER_TYPE_ID": "enumeration"}})
        for e in ENUM_ENTITIES
    }
    out = client.batch(commands).raise_errors().result
    enums = {f"{entity}.{row['FIELD_NAME']}": {item["XML_ID"]: int(item["ID"]) for item in row.get("LIST") or []}
             for entity in ENUM_ENTITIES for row in out.get(entity) or []}  # fmt: skip
    redis.set(key, json.dumps(enums), ex=ENUM_TTL)
    return enums
