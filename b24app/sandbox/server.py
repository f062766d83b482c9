"""The sandbox as a Flask app and as a real HTTP server on 127.0.0.1 (in a thread, or blocking)."""

import threading

from flask import Flask, Response, request
from werkzeug.serving import WSGIRequestHandler, make_server

from . import automation, control, oauth, rest, timepad, ui
from .world import World

CORS_PREFIXES = ("/rest/", "/p/", "/_sandbox/sessions/")


def create_sandbox_app(world: World) -> Flask:
    """The portal, OAuth server, control API, portal UI and BX24.js stand-in of one world."""
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.config["WORLD"] = world
    app.json.ensure_ascii = False
    for blueprint in (
        rest.bp,
        oauth.bp,
        control.bp,
        automation.bp,
        ui.bp,
        timepad.api,
        timepad.control,
    ):
        app.register_blueprint(blueprint)

    @app.after_request
    def cors(resp: Response) -> Response:
        if request.path.startswith(CORS_PREFIXES):
            resp.headers["Access-Control-Allow-Origin"] = "*"
            resp.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
            resp.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        return resp

    return app


class QuietHandler(WSGIRequestHandler):
    """No per-request access log lines (the portal's counters and logs say what happened)."""

    def log_request(self, *args, **kwargs) -> None:
        pass


class SandboxServer:
    """A sandbox world served on 127.0.0.1:port by a threaded werkzeug server."""

    def __init__(
        self, port: int = 0, host: str = "127.0.0.1", save_path: str | None = None, **world_kw
    ):
        self.world = World(save_path=save_path, **world_kw)
        self.app = create_sandbox_app(self.world)
        self.httpd = make_server(host, port, self.app, threaded=True, request_handler=QuietHandler)
        self.port = self.httpd.server_port
        self.url = f"http://{host}:{self.port}"
        self.world.base_url = self.url
        self.thread: threading.Thread | None = None

    def start(self) -> "SandboxServer":
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name="sandbox-http", daemon=True
        )
        self.thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.world.save()
