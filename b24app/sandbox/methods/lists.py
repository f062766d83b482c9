"""Sandbox REST methods: lists (to be filled in)."""

from ..call import Method

METHODS: list[Method] = []
