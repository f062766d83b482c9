"""rq-dashboard (queues, jobs, workers) as its own small app, behind HTTP basic auth with
``B24APP_OPS_PASSWORD`` (any user name), compared in constant time."""

import hmac

from flask import Flask, Response, request

from .config import Settings


def redis_url(settings: Settings) -> str:
    """The dashboard's Redis URL: the primary through Sentinel when sentinels are configured."""
    if not settings.redis_sentinels:
        return settings.redis_url
    db = settings.redis_url.rstrip("/").rpartition("/")[2]
    db = db if db.isdigit() else "0"
    return f"redis+sentinel://{settings.redis_sentinels}/{settings.redis_sentinel_master}/{db}"


def create_dashboard(settings: Settings, prefix: str = "/rq") -> Flask:
    """The dashboard app; refuses to be built without a password."""
    import rq_dashboard
    from rq_dashboard.web import setup_rq_connection

    password = settings.ops_password.get_secret_value()
    if not password:
        raise SystemExit(
            "the RQ dashboard needs B24APP_OPS_PASSWORD (it shows every job's arguments)"
        )
    app = Flask("blago24-dashboard")
    app.config["RQ_DASHBOARD_REDIS_URL"] = redis_url(settings)

    @app.before_request
    def basic_auth():
        auth = request.authorization
        given = (auth.password or "") if auth else ""
        if not hmac.compare_digest(given.encode(), password.encode()):
            return Response(
                "login required", 401, {"WWW-Authenticate": 'Basic realm="Blago24 jobs"'}
            )
        return None

    app.register_blueprint(rq_dashboard.blueprint, url_prefix=prefix)
    with app.app_context():
        setup_rq_connection(app)
    return app
