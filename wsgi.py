"""WSGI entry point (gunicorn -c deploy/gunicorn.conf.py wsgi:app); refuses to start on the default secret key."""

import os

from b24app import context, create_app, logs
from b24app.config import unsafe_secret_key

refused = unsafe_secret_key(context.Settings(), os.environ.get("LANG", "").startswith("en"))
if refused:
    raise SystemExit(refused)
app = create_app()
if context.settings().json_logs:
    logs.use_json()
