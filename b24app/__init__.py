"""Blago24: a Bitrix24 app that turns a portal into a nonprofit fundraising and programme CRM."""

import logging
import uuid

from flask import Flask, jsonify, request
from redis.exceptions import LockError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from . import context
from .config import Settings
from .errors import InboundError
from .inbound import MAX_BODY, MAX_KEYS
from .portals import PortalNotFound

log = logging.getLogger(__name__)


def create_app(overrides: dict | None = None) -> Flask:
    """The web app: settings read once, Redis, blueprints, and 4xx JSON for refused input."""
    settings = context.configure(Settings(**(overrides or {})))
    app = Flask(__name__)
    app.config["SETTINGS"] = settings
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_BODY, MAX_FORM_MEMORY_SIZE=MAX_BODY, MAX_FORM_PARTS=MAX_KEYS
    )
    app.extensions["redis"] = context.redis()

    from handlers import bp as hooks_bp
    from installers import events, install, pages, review, timepad
    from robots import bp as robots_bp

    for blueprint in (install.bp, events.bp, pages.bp, review.bp, timepad.bp, robots_bp, hooks_bp):
        app.register_blueprint(blueprint)

    @app.get("/healthz")
    def healthz():
        app.extensions["redis"].ping()
        return jsonify(ok=True)

    register_error_handlers(app)
    return app


def register_error_handlers(app: Flask) -> None:
    """Refused input → a 4xx that names the problem; anything unforeseen → a logged 500 page with a
    request id and nothing else."""

    @app.errorhandler(InboundError)
    def refused(err: InboundError):
        log.info("refused inbound call to %s: %s", request.path, err)
        return jsonify(error=type(err).__name__, message=str(err)), err.status

    @app.errorhandler(PortalNotFound)
    def gone(err: PortalNotFound):
        log.info("call to %s for a portal not installed: %s", request.path, err)
        return jsonify(error="Unauthorized", message="the portal is not installed"), 401

    @app.errorhandler(LockError)
    def busy(err: LockError):
        log.warning("request to %s waited too long for a lock: %s", request.path, err)
        return jsonify(
            error="Unavailable", message="busy with the same portal; try again in a moment"
        ), 503

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(err: RequestEntityTooLarge):
        message = f"request body over {MAX_BODY // (1024 * 1024)} MiB or {MAX_KEYS} form parts"
        return jsonify(error="BadRequest", message=message), 400

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        return jsonify(error=type(err).__name__, message=err.description), err.code or 500

    @app.errorhandler(Exception)
    def unforeseen(err: Exception):
        request_id = uuid.uuid4().hex[:12]
        log.exception("request %s to %s failed", request_id, request.path)
        html, headers = error_page(request_id)
        return html, 500, headers


ERROR_PAGE = {
    "ru": (
        "Что-то пошло не так",
        "Мы уже знаем об ошибке. Попробуйте ещё раз чуть позже.",
        "Номер запроса",
    ),
    "en": (
        "Something went wrong",
        "We have logged the error. Please try again a little later.",
        "Request id",
    ),
}


def error_page(request_id: str) -> tuple[str, dict]:
    """The 500 page in the user's language (Bitrix24's LANG, else the browser's): no detail but the id."""
    lang = str(
        request.args.get("LANG") or request.accept_languages.best_match(["ru", "en"]) or "ru"
    )
    title, text, label = ERROR_PAGE.get(lang.lower()[:2], ERROR_PAGE["ru"])
    html = (f'<!doctype html><html lang="{"en" if title == ERROR_PAGE["en"][0] else "ru"}"><meta charset="utf-8">'
            f"<title>{title}</title><h1>{title}</h1><p>{text}</p><p>{label}: <code>{request_id}</code></p></html>")  # fmt: skip
    return html, {"Content-Type": "text/html; charset=utf-8", "X-Request-Id": request_id}
