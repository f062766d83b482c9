"""gunicorn settings for the web app: ``gunicorn -c deploy/gunicorn.conf.py wsgi:app``.

Handlers are thin (verify → record → enqueue), so sync workers with a few threads each suffice; the
numbers can be overridden with GUNICORN_* style flags or the environment variables below.
"""

import os

bind = os.environ.get("B24APP_BIND", "127.0.0.1:5000")
workers = int(os.environ.get("B24APP_WEB_PROCESSES", "2"))
worker_class = "gthread"
threads = int(os.environ.get("B24APP_WEB_THREADS", "8"))
timeout = 60  # an install applies the template in its own job; no request should come near this
graceful_timeout = 30
keepalive = 5
max_requests = 5000  # recycle processes now and then
max_requests_jitter = 500
accesslog = None  # the app logs each request as JSON with its request id; no second access log
errorlog = "-"
forwarded_allow_ips = os.environ.get("B24APP_FORWARDED_ALLOW_IPS", "127.0.0.1")
preload_app = False  # each process builds its own Redis connections after the fork
