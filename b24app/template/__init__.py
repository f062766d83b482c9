"""The nonprofit CRM template as data, and the reconciler that brings a portal to it."""

from .nonprofit import NONPROFIT

__all__ = ["NONPROFIT"]
