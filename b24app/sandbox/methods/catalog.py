"""Sandbox REST methods: catalog (to be filled in)."""

from ..call import Method

METHODS: list[Method] = []
