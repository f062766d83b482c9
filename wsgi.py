"""WSGI entry point (gunicorn -c deploy/gunicorn.conf.py wsgi:app)."""

from b24app import context, create_app, logs

app = create_app()
if context.settings().json_logs:
    logs.use_json()
