"""The sandbox portal's small web UI and the BX24.js stand-in (to be filled in)."""

from flask import Blueprint

bp = Blueprint("sandbox_ui", __name__)
