"""The sandbox world: a Bitrix24 portal and OAuth server that behave as bitrix24-rest.md documents."""

from .server import SandboxServer, create_sandbox_app
from .world import World

__all__ = ["SandboxServer", "World", "create_sandbox_app"]
