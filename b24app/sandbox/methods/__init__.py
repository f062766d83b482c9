"""The sandbox portal's REST methods: one module per family, listed explicitly here."""

from ..call import Method
from . import (
    activities,
    app,
    bizproc,
    catalog,
    crm_entities,
    crm_items,
    crm_status,
    duplicates,
    events,
    lists,
    misc,
    userfieldconfig,
    userfields,
)

MODULES = [
    app,
    misc,
    crm_entities,
    userfields,
    userfieldconfig,
    crm_status,
    crm_items,
    duplicates,
    catalog,
    activities,
    lists,
    events,
    bizproc,
]

METHODS: dict[str, Method] = {m.name: m for module in MODULES for m in module.METHODS}
