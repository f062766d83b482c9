"""Sandbox REST methods: crm_items (to be filled in)."""

from ..call import Method

METHODS: list[Method] = []
