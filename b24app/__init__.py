"""Blago24: a Bitrix24 app that turns a portal into a nonprofit fundraising and programme CRM."""

import logging

from flask import Flask, jsonify

from . import context
from .config import Settings
from .errors import InboundError

log = logging.getLogger(__name__)


def create_app(overrides: dict | None = None) -> Flask:
    """The web app: settings read once, Redis, blueprints, and 4xx JSON for refused input."""
    settings = context.configure(Settings(**(overrides or {})))
    app = Flask(__name__)
    app.config["SETTINGS"] = settings
    app.extensions["redis"] = context.redis()

    from installers import events, install, pages, review
    from robots import bp as robots_bp

    for blueprint in (install.bp, events.bp, pages.bp, review.bp, robots_bp):
        app.register_blueprint(blueprint)

    @app.get("/healthz")
    def healthz():
        app.extensions["redis"].ping()
        return jsonify(ok=True)

    @app.errorhandler(InboundError)
    def refused(err: InboundError):
        log.info("refused inbound call: %s", err)
        return jsonify(error=type(err).__name__, message=str(err)), err.status

    return app
