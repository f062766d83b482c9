"""JSON logs, one line per event, each carrying the id of the request or job that caused it.

A webhook's request id travels with the job it queues (the job's meta), so the lines of the REST calls
the job makes name the request that started it. The CLI's messages to a person stay plain lines.
"""

import contextvars
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from pythonjsonlogger.json import JsonFormatter

REQUEST_ID = contextvars.ContextVar("b24_request_id", default="")
JOB_ID = contextvars.ContextVar("b24_job_id", default="")
GIVEN_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")  # a load balancer's X-Request-Id we keep as it is


class TraceFilter(logging.Filter):
    """Put the current request and job ids on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        record.job_id = JOB_ID.get()
        return True


def use_json(level: int = logging.INFO) -> None:
    """Log JSON lines to stderr from every logger (the web app and the workers)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(job_id)s",
                                       rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                                       datefmt="%Y-%m-%dT%H:%M:%S%z"))  # fmt: skip
    handler.addFilter(TraceFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("rq.worker", "rq.scheduler"):  # RQ adds its own plain handler to these
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True


def request_id(given: str | None) -> str:
    """The load balancer's request id when it looks like one, else a new one."""
    return given if given and GIVEN_ID.fullmatch(given) else uuid.uuid4().hex[:16]


@contextmanager
def traced(request: str = "", job: str = "") -> Iterator[None]:
    """Within the block, log lines carry these ids."""
    tokens = (REQUEST_ID.set(request), JOB_ID.set(job))
    try:
        yield
    finally:
        REQUEST_ID.reset(tokens[0])
        JOB_ID.reset(tokens[1])
