"""Sandbox REST methods ``crm.*.userfield.*`` (bitrix24-rest.md §4.7) — to be filled in."""

from ..call import Method
from ..world import Portal


def definitions(portal: Portal, entity: str) -> list[dict]:
    """User field definitions of an entity ("deal", "contact", ...)."""
    return list(portal.bucket("userfields").get(entity, {}).values())


METHODS: list[Method] = []
