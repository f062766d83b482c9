"""Sandbox REST methods: bizproc (to be filled in)."""

from ..call import Method

METHODS: list[Method] = []
