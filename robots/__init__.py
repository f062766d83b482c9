"""Robots (automation rules), one module per robot, listed in ROBOTS."""

ROBOTS: list = []
