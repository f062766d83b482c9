"""Sandbox REST methods: activities (to be filled in)."""

from ..call import Method

METHODS: list[Method] = []
