"""Sandbox REST methods: events (to be filled in)."""

from ..call import Method

METHODS: list[Method] = []
