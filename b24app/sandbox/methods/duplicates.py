"""Sandbox REST methods: duplicates (to be filled in)."""

from ..call import Method

METHODS: list[Method] = []
