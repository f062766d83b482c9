"""Inbound webhook handlers, one module per source, listed in SOURCES."""

SOURCES: list = []
