"""The ingress bench's baseline: a bare Flask app that answers 200 to every webhook path
(``gunicorn -c deploy/gunicorn.conf.py bench.bare_app:app``)."""

from flask import Flask

app = Flask(__name__)


@app.post("/hooks/<path:rest>")
def hook(rest: str):
    return "ok", 200
