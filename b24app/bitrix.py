"""The one Bitrix24 REST facade. fast-bitrix24 is its transport; nothing else imports fast-bitrix24.

fast-bitrix24 is used with ``raw=True`` calls over an aiohttp session we own (bitrix24-rest.md §9.1a),
so its known pitfalls stay out: errors keep the Bitrix code, description and HTTP status; parameters go
as JSON (True stays true, None stays null); records are not unwrapped or label-keyed. On top of it:
the shared per-portal rate limiter, one retry policy, refresh-on-expired, 302 domain moves, lists by
the ID fast pattern, and batches of any length with their references kept intact.

Errors (all carry ``code``, ``description``, ``status``, ``method``; ``retryable`` says what a job may retry)::

    BitrixError
    ├── BitrixAuthError          401/403: NO_AUTH_FOUND, invalid_token, insufficient_scope, ACCESS_DENIED…
    │   └── TokenExpired         401 expired_token (refreshed once and repeated)
    ├── MethodNotFound           404 ERROR_METHOD_NOT_FOUND
    ├── NotFound                 400 "Not found" / NOT_FOUND
    ├── RateLimited              503 QUERY_LIMIT_EXCEEDED                 (retryable)
    ├── OperationTimeLimited     429 OPERATION_TIME_LIMIT, ``retry_at``    (retryable)
    ├── BitrixUnavailable        5xx and network failures                  (retryable)
    └── BatchFailed              commands of a batch failed; ``errors`` maps key → BitrixError
"""

import asyncio
import concurrent.futures
import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import aiohttp
from fast_bitrix24 import BitrixAsync

from . import metrics
from .errors import Blago24Error
from .phpquery import build_query

log = logging.getLogger(__name__)
logging.getLogger("fast_bitrix24").setLevel(logging.WARNING)  # it logs request params at DEBUG/INFO

BATCH_MAX = 50
PAGE = 50
INLINE_WAIT_MAX = 20.0  # longer waits go back to the job queue instead of blocking a worker
TIMEOUT = 65.0  # seconds one HTTP request to a portal may take (a lost answer surfaces after this)


class BitrixError(Blago24Error):
    """An error answer from a portal."""

    retryable = False

    def __init__(self, code: Any, description: str = "", status: int = 0, method: str = ""):
        super().__init__(f"{method}: HTTP {status} {code}: {description}")
        self.code = code
        self.description = description
        self.status = status
        self.method = method


class BitrixAuthError(BitrixError):
    pass


class TokenExpired(BitrixAuthError):
    pass


class MethodNotFound(BitrixError):
    pass


class NotFound(BitrixError):
    pass


class RateLimited(BitrixError):
    retryable = True


class OperationTimeLimited(BitrixError):
    retryable = True
    retry_at: float = 0.0


class BitrixUnavailable(BitrixError):
    retryable = True


class BatchFailed(BitrixError):
    """Some commands of a batch failed; ``errors`` maps command key → BitrixError."""

    def __init__(self, errors: dict[str, BitrixError]):
        first = next(iter(errors.values()))
        super().__init__(
            first.code, f"{len(errors)} command(s) failed, first: {first}", first.status, "batch"
        )
        self.errors = errors


class PortalMoved(Blago24Error):
    """The portal answered 302: it has a new domain (``rest_url`` is the new REST endpoint)."""

    def __init__(self, rest_url: str):
        super().__init__(f"portal moved to {rest_url}")
        self.rest_url = rest_url


MULTIFIELDS = {"EMAIL", "PHONE", "WEB", "IM"}
NOT_RESENDABLE = (".add", ".set", "mergebatch", "bizproc.event.send", "im.notify", "tasks.task.add")


def resendable(method: str, params: Mapping | None = None) -> bool:
    """Whether a call whose answer was lost may be sent again: reads and updates may, a write that makes
    something (``*.add``, ``*.set``, a merge, a comment, an activity, a notification) may not; a batch
    only if every command may."""
    name = method.lower()
    if name == "batch":
        commands = (params or {}).get("cmd") or {}
        return all(resendable_command(str(c)) for c in commands.values())
    if name.endswith(".update") and MULTIFIELDS & set((params or {}).get("fields") or {}):
        return False  # e-mails and phones without an ID are appended: twice if sent twice
    return not any(name.endswith(w) or w in name for w in NOT_RESENDABLE)


def resendable_command(text: str) -> bool:
    """``resendable`` for a batch command as its query string says it."""
    name, _, query = text.partition("?")
    if name.lower().endswith(".update") and any(
        f"fields[{m}]" in unquote(query) for m in MULTIFIELDS
    ):
        return False
    return resendable(name)


def error_for(status: int, body: Any, method: str) -> BitrixError:
    """The typed error for an error answer (bitrix24-rest.md §2.3)."""
    body = body if isinstance(body, dict) else {}
    code = body.get("error", status)
    description = str(body.get("error_description", ""))
    if code == "expired_token":
        cls: type[BitrixError] = TokenExpired
    elif status in (401, 403):
        cls = BitrixAuthError
    elif code == "ERROR_METHOD_NOT_FOUND" or status == 404:
        cls = MethodNotFound
    elif code == "QUERY_LIMIT_EXCEEDED":
        cls = RateLimited
    elif code == "OPERATION_TIME_LIMIT":
        cls = OperationTimeLimited
    elif status >= 500:
        cls = BitrixUnavailable
    elif code == "NOT_FOUND" or description.lower().startswith("not found"):
        cls = NotFound
    else:
        cls = BitrixError
    return cls(code, description, status, method)


def retry_delay(
    error: BitrixError, attempt: int, reset_at: float | None, attempts: int = 6
) -> float | None:
    """The one retry policy: seconds to wait before repeating, or None to give up (and let the job retry)."""
    if isinstance(error, OperationTimeLimited):
        wait = (reset_at or time.time() + 60) - time.time()
        error.retry_at = time.time() + max(wait, 0)
        return max(wait, 0.5) if wait <= INLINE_WAIT_MAX else None
    if isinstance(error, RateLimited | BitrixUnavailable) and attempt < attempts - 1:
        return min(0.5 * 2**attempt, 8.0) * random.uniform(0.8, 1.2)
    return None


@dataclass
class BatchResult:
    """The five result maps of a batch, keyed by command key; ``errors`` hold typed errors."""

    result: dict = field(default_factory=dict)
    errors: dict[str, BitrixError] = field(default_factory=dict)
    total: dict = field(default_factory=dict)
    next: dict = field(default_factory=dict)

    def raise_errors(self) -> "BatchResult":
        if self.errors:
            raise BatchFailed(self.errors)
        return self


@dataclass
class ListChunk:
    """What one request of a list returned, and where the next one starts."""

    rows: list[dict]
    total: int | None
    pages_left: int
    done: bool
    id_field: str = "ID"
    previous: Any = 0

    @property
    def after(self) -> Any:
        """The id the next chunk starts after."""
        return last_id(self.rows, self.id_field) if self.rows else self.previous


class TokenSource:
    """Where the client gets its access token, and how it refreshes a stale one."""

    def __init__(self, token: Callable[[], str], refresh: Callable[[str], str] | None = None):
        self.token = token
        self.refresh = refresh


class BitrixClient:
    """REST calls to one portal: rate-limited, retried, refreshed, typed."""

    def __init__(self, rest_url: str, tokens: TokenSource | None = None, limiter=None, limiter_key: str = "",
                 rate: tuple[float, int] = (2.0, 50), on_moved: Callable[[str], str] | None = None,
                 attempts: int = 6):  # fmt: skip
        self.attempts = (
            attempts  # tries per call for 503 and network failures (handlers use fewer than jobs)
        )
        self.rest_url = rest_url if rest_url.endswith("/") else rest_url + "/"
        self.tokens = tokens
        self.limiter = limiter
        self.limiter_key = limiter_key
        self.metrics = getattr(
            limiter, "redis", None
        )  # the deployment's Redis, where metrics add up
        self.rate = rate
        self.on_moved = on_moved
        self.reset_at: dict[str, float] = {}  # method → operating_reset_at of its last answer
        self.reserved = 0  # requests already admitted by the limiter (see reserve)
        self.max_wait = 60.0  # the longest a request waits at the limiter before PortalBusy

    def reserve(self, patience: float) -> None:
        """Admit the next request now, waiting at most ``patience`` seconds; else raise PortalBusy.

        Long jobs call this before each step, so they give their worker back instead of sleeping on
        one portal's limit while other portals' work waits (product.md §3, fairness).
        """
        if self.limiter is not None:
            self.waited(self.limiter.acquire(self.limiter_key, *self.rate, max_wait=patience))
            self.reserved += 1

    # --- single calls -------------------------------------------------------------------------

    def call(
        self, method: str, params: Mapping | None = None, idempotent: bool | None = None
    ) -> Any:
        """The method's ``result`` (a record for ``get``, an id for ``add``, ``True`` for update)."""
        return self.call_raw(method, params, idempotent)["result"]

    def call_raw(
        self, method: str, params: Mapping | None = None, idempotent: bool | None = None
    ) -> dict:
        """The whole answer (``result``, ``total``, ``next``, ``time``) after the retry policy. A call that
        is not ``idempotent`` (by default: decided from the method, ``resendable``) is not repeated after a
        5xx or a lost answer (the portal may have done it): the caller re-reads and decides."""
        if idempotent is None:
            idempotent = resendable(method, params)
        refreshed = moved = False
        attempt = 0
        while True:
            token = self.tokens.token() if self.tokens else None
            try:
                return self._send(method, dict(params or {}), token)
            except TokenExpired:
                if refreshed or not (self.tokens and self.tokens.refresh):
                    raise
                self.tokens.refresh(token)
                refreshed = True
            except PortalMoved as exc:
                if moved or not self.on_moved:
                    raise BitrixUnavailable("PORTAL_MOVED", str(exc), 503, method) from None
                # the new address is the one the OAuth server confirms, never the Location as such
                self.rest_url, moved = self.on_moved(exc.rest_url), True
            except BitrixError as exc:
                if not idempotent and isinstance(exc, BitrixUnavailable):
                    raise
                delay = retry_delay(exc, attempt, self.reset_at.get(method), self.attempts)
                if delay is None:
                    raise
                log.info("%s: %s; retrying in %.1f s", method, exc.code, delay)
                time.sleep(delay)
                attempt += 1

    def _send(self, method: str, params: dict, token: str | None) -> dict:
        """One HTTP request through the limiter and fast-bitrix24."""
        if self.reserved:
            self.reserved -= 1
        elif self.limiter is not None:
            self.waited(self.limiter.acquire(self.limiter_key, *self.rate, max_wait=self.max_wait))
        self.count(metrics.REST_CALLS, 1, method=method)
        log.info("portal %s: %s", self.limiter_key or self.rest_url, method)
        answer = run_sync(self._post(method, params, token))
        reset_at = (answer.get("time") or {}).get("operating_reset_at")
        if reset_at:
            self.reset_at[method] = float(reset_at)
        return answer

    def count(self, counter: metrics.Counter, amount: float, **labels: str) -> None:
        """Add to a deployment metric for this portal."""
        if self.metrics is not None:
            metrics.add(self.metrics, counter, amount, portal=self.limiter_key, **labels)

    def waited(self, seconds: float) -> None:
        """Count a wait at the portal's rate limiter."""
        if seconds > 0:
            self.count(metrics.LIMITER_WAITS, 1)
            self.count(metrics.LIMITER_WAIT_SECONDS, seconds)

    async def _post(self, method: str, params: dict, token: str | None) -> dict:
        moved: list[str] = []

        async def on_redirect(session, ctx, event) -> None:
            moved.append(event.response.headers.get("Location", ""))

        async def check(response: aiohttp.ClientResponse) -> None:
            if response.status >= 400:
                try:
                    body = await response.json(content_type=None)
                except (ValueError, aiohttp.ContentTypeError):
                    body = {}
                if moved:
                    raise PortalMoved(rest_base(moved[0]))
                raise error_for(response.status, body, method)

        trace = aiohttp.TraceConfig()
        trace.on_request_redirect.append(on_redirect)
        timeout = aiohttp.ClientTimeout(total=TIMEOUT)
        async with aiohttp.ClientSession(
            raise_for_status=check, trace_configs=[trace], timeout=timeout
        ) as session:
            fail_fast(session, method)
            token_func = _const(token) if token else None
            bx = BitrixAsync(self.rest_url, token_func=token_func, client=session, verbose=False,
                             request_pool_size=10_000, requests_per_second=10_000.0, ssl=False)  # fmt: skip
            try:
                answer = await bx.call(method, params, raw=True)
            except RuntimeError as exc:  # fast-bitrix24 gave up after its own transport retries
                raise BitrixUnavailable("NETWORK", str(exc.__cause__ or exc), 0, method) from exc
        if moved:
            raise PortalMoved(rest_base(moved[0]))
        if isinstance(answer, dict) and "error" in answer and "result" not in answer:
            raise error_for(200, answer, method)
        return answer

    # --- batches ------------------------------------------------------------------------------

    def batch(self, commands: Mapping[str, tuple[str, Mapping]], halt: bool = False,
              idempotent: bool | None = None) -> BatchResult:  # fmt: skip
        """Run any number of (method, params) commands in order, 50 per request, references intact
        (``idempotent``: see call_raw)."""
        out = BatchResult()
        keys = list(commands)
        for start in range(0, len(keys), BATCH_MAX):
            chunk = keys[start : start + BATCH_MAX]
            cmd = {k: command_text(*commands[k], done=out) for k in chunk}
            answer = self.call("batch", {"halt": 1 if halt else 0, "cmd": cmd}, idempotent)
            absorb(out, answer, "batch")
            if halt and out.errors:
                break
        return out

    # --- lists --------------------------------------------------------------------------------

    def list_all(self, method: str, params: Mapping | None = None, id_field: str = "ID",
                 items_key: str | None = None) -> list[dict]:  # fmt: skip
        """Every record of a list method: one counted first page, then ID-fast pages (``start=-1``) batched."""
        out: list[dict] = []
        chunk = self.list_chunk(method, params, id_field, items_key)
        while True:
            check_ascending(out, chunk.rows, id_field, method)
            out.extend(chunk.rows)
            if chunk.done:
                return out
            chunk = self.list_chunk(
                method, params, id_field, items_key, chunk.after, chunk.pages_left
            )

    def list_chunk(self, method: str, params: Mapping | None = None, id_field: str = "ID",
                   items_key: str | None = None, after: Any = None, pages_left: int = 0) -> ListChunk:  # fmt: skip
        """One HTTP request of a list by ID: the counted first page (``after`` None), else up to 50 chained
        ID-fast pages after ``after``. Pass the chunk's ``after`` and ``pages_left`` on to resume anywhere."""
        base = dict(params or {})
        if "order" in base and base["order"] != {id_field: "ASC"}:
            raise ValueError(
                f"list_all orders by {id_field} ascending; drop 'order' from the params"
            )
        base["order"] = {id_field: "ASC"}
        flt = dict(base.pop("filter", None) or {})
        if after is None:
            first = self.call_raw(
                method, {**base, "filter": {**flt, f">{id_field}": 0}, "start": 0}
            )
            rows = page_rows(first["result"], items_key)
            total = int(first.get("total") or 0)
            return ListChunk(rows, total, -(-total // PAGE) - 1, len(rows) < PAGE, id_field)
        n = min(BATCH_MAX, max(pages_left, 1))
        base["start"] = -1
        rows = self._chained_pages(method, base, flt, id_field, items_key, after, n)
        return ListChunk(rows, None, pages_left - n, len(rows) < PAGE * n, id_field, after)

    def _chained_pages(self, method: str, base: dict, flt: dict, id_field: str, items_key: str | None,
                       after: Any, n: int) -> list[dict]:  # fmt: skip
        """``n`` pages in one batch, each page's filter referencing the previous page's last id."""
        path = f"[{items_key}]" if items_key else ""
        commands = {}
        for i in range(n):
            bound = after if i == 0 else f"$result[p{i - 1}]{path}[{PAGE - 1}][{id_field}]"
            commands[f"p{i}"] = (method, {**base, "filter": {**flt, f">{id_field}": bound}})
        answer = self.call(
            "batch", {"halt": 0, "cmd": {k: command_text(m, p) for k, (m, p) in commands.items()}}
        )
        rows: list[dict] = []
        for i in range(n):
            key = f"p{i}"
            if key in (answer.get("result_error") or {}):
                raise error_from_map(answer["result_error"][key], method)
            page = page_rows((answer.get("result") or {}).get(key, []), items_key)
            rows.extend(page)
            if len(page) < PAGE:
                break
        return rows


class _FailFast:
    """Turns connection errors and timeouts into BitrixUnavailable before fast-bitrix24 sees them.

    fast-bitrix24 retries those up to 10 times with its own back-off (measured: 20 s for a refused
    connection, and up to 10 × the timeout for a hung portal); the one retry policy here decides instead.
    """

    def __init__(self, request, method: str):
        self.request = request
        self.method = method

    async def __aenter__(self):
        try:
            return await self.request.__aenter__()
        except (TimeoutError, aiohttp.ClientConnectionError) as exc:
            raise BitrixUnavailable(
                "NETWORK", f"{type(exc).__name__}: {exc}", 0, self.method
            ) from exc

    async def __aexit__(self, *exc_info):
        return await self.request.__aexit__(*exc_info)


def fail_fast(session: aiohttp.ClientSession, method: str) -> None:
    """Make ``session.post`` raise BitrixUnavailable on network failures (see _FailFast)."""
    post = session.post
    session.post = lambda *args, **kwargs: _FailFast(post(*args, **kwargs), method)


def run_sync(coro):
    """Run a coroutine to completion, also from a thread whose event loop is already running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _const(token: str):
    async def token_func() -> str:
        return token

    return token_func


def rest_base(location: str) -> str:
    """The REST endpoint of a redirect target: everything up to and including ``/rest/``."""
    head, sep, _ = location.partition("/rest/")
    return head + sep if sep else location


REF_RE = re.compile(r"\$(result|next|total|time|error)\[([^\]]*)\]((?:\[[^\]]*\])*)")


def command_text(method: str, params: Mapping, done: BatchResult | None = None) -> str:
    """``method?query`` for a batch; references to commands of earlier requests are resolved here."""
    if done is not None and (done.result or done.total or done.next):
        params = resolve_earlier(params, done)
    query = build_query(params)
    return f"{method}?{query}" if query else method


def resolve_earlier(value: Any, done: BatchResult) -> Any:
    """Replace references to already-answered commands the way the portal would (bitrix24-rest.md §2.5)."""
    if isinstance(value, Mapping):
        return {k: resolve_earlier(v, done) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_earlier(v, done) for v in value]
    if not isinstance(value, str) or "$" not in value:
        return value
    maps = {"result": done.result, "total": done.total, "next": done.next}
    whole = REF_RE.fullmatch(value)
    if whole and whole.group(2) in maps.get(whole.group(1), {}):
        return walk(maps[whole.group(1)][whole.group(2)], whole.group(3))

    def embed(m: re.Match) -> str:
        source = maps.get(m.group(1), {})
        if m.group(2) not in source:
            return m.group(0)
        found = walk(source[m.group(2)], m.group(3))
        return (
            str(found)
            if isinstance(found, str | int | float) and not isinstance(found, bool)
            else m.group(0)
        )

    return REF_RE.sub(embed, value)


def walk(node: Any, path: str) -> Any:
    """Follow ``[a][0][ID]`` while it exists; stop at the deepest existing value."""
    for segment in re.findall(r"\[([^\]]*)\]", path):
        if isinstance(node, dict) and segment in node:
            node = node[segment]
        elif isinstance(node, list) and segment.isdigit() and int(segment) < len(node):
            node = node[int(segment)]
        else:
            break
    return node


def absorb(out: BatchResult, answer: Mapping, method: str) -> None:
    """Merge one batch answer's maps into ``out`` (PHP prints empty maps as lists)."""
    for name, target in (
        ("result", out.result),
        ("result_total", out.total),
        ("result_next", out.next),
    ):
        values = answer.get(name) or {}
        target.update(values if isinstance(values, dict) else dict(enumerate(values)))
    errors = answer.get("result_error") or {}
    for key, body in errors.items() if isinstance(errors, dict) else enumerate(errors):
        out.errors[str(key)] = error_from_map(body, method)


def error_from_map(body: Any, method: str) -> BitrixError:
    code = body.get("error", "") if isinstance(body, dict) else ""
    status = {
        "ERROR_METHOD_NOT_FOUND": 404,
        "OPERATION_TIME_LIMIT": 429,
        "QUERY_LIMIT_EXCEEDED": 503,
    }.get(code, 400)
    return error_for(status, body, method)


def page_rows(result: Any, items_key: str | None) -> list[dict]:
    if items_key and isinstance(result, dict):
        result = result.get(items_key, [])
    return list(result or [])


def last_id(rows: list[dict], id_field: str) -> int:
    return int(rows[-1][id_field])


def check_ascending(before: list[dict], rows: list[dict], id_field: str, method: str) -> None:
    """Refuse to return a silently broken listing: ids must keep rising from page to page."""
    ids = [int(r[id_field]) for r in rows]
    previous = last_id(before, id_field) if before else 0
    if any(b <= a for a, b in zip([previous, *ids], ids, strict=False)):
        raise BitrixError(
            "LIST_ORDER", f"{method}: ids did not rise after {previous}; listing aborted", 0, method
        )


def for_portal(registry, member_id: str, client_id: str, client_secret: str, limiter=None,
               oauth_servers=()) -> BitrixClient:  # fmt: skip
    """A client for an installed portal: its tokens from the registry, refreshed under the portal's lock
    and only at a trusted OAuth server (``oauth_servers``)."""
    from .oauth import RefreshFailed, RefreshUnavailable, refresh_tokens

    portal = registry.require(member_id)
    allowed = list(oauth_servers)

    def token() -> str:
        return registry.require(member_id).access_token

    def refresh(stale: str) -> str:
        try:
            return refresh_tokens(
                registry, member_id, stale, client_id, client_secret, allowed
            ).access_token
        except RefreshUnavailable as exc:
            raise BitrixUnavailable("OAUTH_UNAVAILABLE", str(exc), 503, "oauth.token") from None
        except RefreshFailed as exc:
            raise BitrixAuthError(exc.error, str(exc), 401, "oauth.token") from None

    def moved(location: str) -> str:
        info = confirmed_install(registry.require(member_id), allowed)
        if info is None or info.member_id != member_id:
            raise BitrixUnavailable("PORTAL_MOVED", f"moved to {location}, not confirmed by the OAuth server",
                                    503, "")  # fmt: skip
        with registry.change(member_id) as current:
            current.client_endpoint, current.domain = info.client_endpoint, info.domain
        return info.client_endpoint

    return BitrixClient(
        portal.client_endpoint, TokenSource(token, refresh), limiter, member_id, portal.rate, moved
    )


def confirmed_install(portal, allowed):
    """The portal's install as its OAuth server now reports it (after a 302 move), or None."""
    from .errors import InboundError
    from .trust import app_info, server_for

    server = server_for(portal.server_endpoint, allowed)
    try:
        return app_info(server, portal.access_token) if server else None
    except InboundError:
        return None
