"""Sandbox REST methods ``crm.status.*`` and deal stages (bitrix24-rest.md §4.6) — stage helpers only so far."""

from ..call import Method
from ..world import Portal

DEFAULT_DEAL_STAGES = [("NEW", "P"), ("PREPARATION", "P"), ("PREPAYMENT_INVOICE", "P"),
                       ("EXECUTING", "P"), ("FINAL_INVOICE", "P"), ("WON", "S"), ("LOSE", "F"),
                       ("APOLOGY", "F")]  # fmt: skip


def first_stage(portal: Portal, category_id: str) -> str:
    """The first stage of a deal pipeline (the default stage of a new deal)."""
    prefix = "" if str(category_id) in ("", "0") else f"C{category_id}:"
    return prefix + DEFAULT_DEAL_STAGES[0][0]


def stage_semantic(portal: Portal, stage_id: str, category_id: str) -> str | None:
    """ "P" / "S" / "F" for a stage of a pipeline, or None when the pipeline has no such stage."""
    prefix = "" if str(category_id) in ("", "0") else f"C{category_id}:"
    for status, semantic in DEFAULT_DEAL_STAGES:
        if prefix + status == stage_id:
            return semantic
    return None


METHODS: list[Method] = []
