"""Blago24: a Bitrix24 app that turns a portal into a nonprofit fundraising and programme CRM."""

import hmac
import logging
import time
import uuid

from flask import Flask, Response, g, jsonify, request
from redis.exceptions import LockError, RedisError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from . import context, i18n, logs, metrics, webpages
from .config import Settings
from .errors import InboundError
from .health import health
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
    from installers import events, install, letters, pages, review, subscriptions, timepad
    from robots import bp as robots_bp

    for blueprint in (
        install.bp,
        events.bp,
        pages.bp,
        review.bp,
        subscriptions.bp,
        letters.bp,
        timepad.bp,
        robots_bp,
        hooks_bp,
    ):
        app.register_blueprint(blueprint)

    register_operations(app, settings)
    register_error_handlers(app)
    i18n.init_app(app)
    app.add_url_rule("/", "about", webpages.about)
    return app


def register_operations(app: Flask, settings: Settings) -> None:
    """Request ids on every log line, request counts, ``/healthz`` and ``/metrics``."""

    @app.before_request
    def trace():
        g.request_id = logs.request_id(request.headers.get("X-Request-Id"))
        g.trace = logs.REQUEST_ID.set(g.request_id)

    @app.after_request
    def count(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "unmatched"
        if not g.get("request_counted"):  # a webhook's new delivery counted itself (handlers)
            metrics.add(
                context.redis(), metrics.REQUESTS, route=route, status=str(response.status_code)
            )
        response.headers["X-Request-Id"] = g.get("request_id", "")
        return response

    @app.teardown_request
    def untrace(_exc):
        if "trace" in g:
            logs.REQUEST_ID.reset(g.trace)

    @app.get("/healthz")
    def healthz():
        healthy, report = health(context.redis(), time.time())
        return jsonify(report), 200 if healthy else 503

    @app.get("/metrics")
    def prometheus():
        expected = settings.ops_password.get_secret_value()
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not expected:
            return jsonify(
                error="NotFound", message="metrics are off: set B24APP_OPS_PASSWORD"
            ), 404
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return jsonify(
                error="Unauthorized",
                message="metrics need Authorization: Bearer <B24APP_OPS_PASSWORD>",
            ), 401
        return Response(
            metrics.exposition(context.redis()), content_type="text/plain; version=0.0.4"
        )


def register_error_handlers(app: Flask) -> None:
    """Refused input → a 4xx that names the problem; anything unforeseen → a logged 500 with a request id.
    A person's browser on a page route gets a page in their language saying what to do next (``pages``);
    webhooks, events, robots and scripts get JSON."""
    from b24app.bitrix import BitrixError

    @app.errorhandler(InboundError)
    def refused(err: InboundError):
        log.info("refused inbound call to %s: %s", request.path, err)
        if request.path.startswith("/hooks/"):
            from handlers import BY_NAME

            source = str((request.view_args or {}).get("source", ""))
            source = (
                source if source in BY_NAME else "unknown"
            )  # a label per URL would be unbounded
            metrics.add(context.redis(), metrics.REFUSED, source=source, reason=type(err).__name__)
        return answer(err.status, type(err).__name__, str(err))

    @app.errorhandler(PortalNotFound)
    def gone(err: PortalNotFound):
        log.info("call to %s for a portal not installed: %s", request.path, err)
        return answer(401, "Unauthorized", "the portal is not installed")

    @app.errorhandler(RedisError)
    def storage_away(err: RedisError):
        log.warning("request to %s: Redis unavailable (%s)", request.path, type(err).__name__)
        return answer(503, "Unavailable", "storage unavailable for a moment; try again")

    @app.errorhandler(LockError)
    def busy(err: LockError):
        log.warning("request to %s waited too long for a lock: %s", request.path, err)
        return answer(503, "Unavailable", "busy with the same portal; try again in a moment")

    @app.errorhandler(BitrixError)
    def portal_away(err: BitrixError):
        log.warning("request to %s: the portal answered %s", request.path, err)
        return answer(503, "Unavailable", "the portal did not answer as expected; try again")

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(err: RequestEntityTooLarge):
        message = f"request body over {MAX_BODY // (1024 * 1024)} MiB or {MAX_KEYS} form parts"
        return answer(400, "BadRequest", message)

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        return answer(err.code or 500, type(err).__name__, err.description or "")

    @app.errorhandler(Exception)
    def unforeseen(err: Exception):
        request_id = g.get("request_id") or uuid.uuid4().hex[:12]
        log.exception("request %s to %s failed", request_id, request.path)
        return webpages.error_page(500, "", request_id)


MACHINE_PATHS = ("/hooks/", "/bitrix/", "/robots/", "/healthz", "/metrics")


def wants_page(req) -> bool:
    """The one rule: a person's browser (it prefers HTML) on a route that is not a machine's gets a page."""
    if req.path.startswith(MACHINE_PATHS):
        return False
    return req.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def answer(status: int, error: str, message: str):
    """An error as a page (``wants_page``) or as JSON naming the problem."""
    if wants_page(request):
        return webpages.error_page(status, message, g.get("request_id") or uuid.uuid4().hex[:12])
    return jsonify(error=error, message=message), status
