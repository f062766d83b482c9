"""Ingress load: the webhook routes under gunicorn (deploy/gunicorn.conf.py: 2 processes) driven from this
process over loopback by an asyncio client, next to a bare Flask "return 200" app (bench/bare_app.py)
under the same config in the same run.

Each round posts fresh, correctly signed deliveries (a CloudPayments Pay, a Leyka post, a Timepad order
hook; every one new, so each is recorded and queued) with CONCURRENCY requests in flight for SECONDS; the
figures are the medians over ROUNDS rounds (interleaved with the bare app's). Afterwards every accepted
delivery's job must be in Redis. Targets (issue 21): ≥ 50 % of the bare app's rate and p99 < 50 ms.

    .venv/bin/python bench/ingress_bench.py [--seconds 6] [--rounds 3] [--concurrency 16]
"""

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import aiohttp
from redis import Redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CP_SECRET, LEYKA_SECRET, TIMEPAD_SECRET = (
    "cp-bench-secret",
    "leyka-bench-secret",
    "timepad-bench-secret",
)
SECRET_KEY = "bench-secret-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def start_redis(workdir: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", workdir], stdout=subprocess.DEVNULL)  # fmt: skip
    wait_port(port)
    return proc, f"redis://127.0.0.1:{port}/0"


def start_gunicorn(app: str, redis_url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, B24APP_BIND=f"127.0.0.1:{port}", B24APP_REDIS_URL=redis_url,
               B24APP_SECRET_KEY=SECRET_KEY, B24APP_PUBLIC_URL=f"http://127.0.0.1:{port}",
               B24APP_CLIENT_ID="local.bench", B24APP_CLIENT_SECRET="bench")  # fmt: skip
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    proc = subprocess.Popen([gunicorn, "-c", "deploy/gunicorn.conf.py", app], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    wait_port(port)
    return proc, f"http://127.0.0.1:{port}"


def install_portal(redis: Redis) -> tuple[str, str]:
    """A portal record with the three connectors' secrets, as the app page would leave it."""
    from b24app.portals import Portal, PortalRegistry

    portal = Portal("bench" + "0" * 27, "bench.bitrix24.test", "https://bench.bitrix24.test/rest/",
                    "https://oauth.bitrix.info/rest/", "app-token", "access", "refresh", time.time() + 3600,
                    ["crm"], status="installed", template_version="1",
                    settings={"cloudpayments_secret": CP_SECRET, "leyka_secret": LEYKA_SECRET,
                              "timepad_secret": TIMEPAD_SECRET})  # fmt: skip
    PortalRegistry(redis, SECRET_KEY).save(portal, tokens=True)
    return portal.member_id, portal.key


# --- the deliveries ---------------------------------------------------------------------------------


def cloudpayments(n: int) -> tuple[str, bytes, dict]:
    from handlers.cloudpayments import sign

    fields = {"TransactionId": str(10**9 + n), "Amount": "500.00", "Currency": "RUB", "InvoiceId": str(n),
              "AccountId": f"donor{n}@example.org", "Email": f"donor{n}@example.org",
              "DateTime": "2024-03-14 09:41:05", "TestMode": "0", "Status": "Completed",
              "OperationType": "Payment", "CardFirstSix": "220220", "CardLastFour": "4242",
              "Data": '{"name": "Анна Иванова"}'}  # fmt: skip
    raw = "&".join(f"{k}={quote(v, safe='')}" for k, v in fields.items()).encode()
    return (
        "cloudpayments/pay",
        raw,
        {"Content-Type": "application/x-www-form-urlencoded", **sign(raw, CP_SECRET)},
    )


def leyka(n: int) -> tuple[str, bytes, dict]:
    from handlers.leyka import sign

    body = {"event": "donation.status_changed", "site": "https://fond.example", "delivery_id": f"bench-{n}",
            "changed_at": "2026-03-14T12:41:09+03:00",
            "donation": {"id": n, "status": "funded", "amount": "500.00", "currency": "RUB",
                         "payment_type": "single", "init_recurring_donation_id": 0, "recurring_active": False,
                         "gateway_id": "other", "pm_id": "card", "campaign_id": 1, "campaign_title": "Уставная",
                         "donor_name": "Мария Соколова", "donor_email": f"m{n}@example.org", "donor_phone": "",
                         "date_created": "2026-03-14T12:41:05+03:00", "cp_transaction_id": "",
                         "cp_recurring_id": "", "error_id": ""}}  # fmt: skip
    raw = json.dumps(body, ensure_ascii=False).encode()
    return "leyka", raw, {"Content-Type": "application/json", **sign(raw, LEYKA_SECRET)}


def timepad(n: int) -> tuple[str, bytes, dict]:
    import hashlib
    import hmac

    body = {"id": n, "status": {"name": "paid"}, "mail": f"t{n}@example.org", "event": {"id": 215813},
            "tickets": [{"id": n, "answers": {"mail": f"t{n}@example.org", "name": "Анна", "surname": "Иванова"}}]}  # fmt: skip
    raw = json.dumps(body, ensure_ascii=False).encode()
    signature = "sha1=" + hmac.new(TIMEPAD_SECRET.encode(), raw, hashlib.sha1).hexdigest()
    return "timepad", raw, {"Content-Type": "application/json", "X-Hub-Signature": signature}


SOURCES = {"cloudpayments": cloudpayments, "leyka": leyka, "timepad": timepad}


# --- the load -----------------------------------------------------------------------------------------


async def drive(base: str, key: str, make, start: int, seconds: float, concurrency: int) -> dict:
    """CONCURRENCY loops posting fresh deliveries for ``seconds``; latencies of answered requests."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(start, start + 10**7))
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def loop() -> None:
            while time.perf_counter() < deadline:
                path, raw, headers = make(next(counter))
                began = time.perf_counter()
                async with session.post(
                    f"{base}/hooks/{key}/{path}", data=raw, headers=headers
                ) as resp:
                    await resp.read()
                latencies.append(time.perf_counter() - began)
                statuses[resp.status] = statuses.get(resp.status, 0) + 1

        began = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {"rate": len(latencies) / elapsed, "p50": pct(latencies, 50), "p99": pct(latencies, 99),
            "statuses": statuses, "sent": len(latencies)}  # fmt: skip


def pct(values: list[float], p: float) -> float:
    return (
        values[min(len(values) - 1, int(len(values) * p / 100))] * 1000 if values else float("nan")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="ingress-bench-")
    redis_proc, redis_url = start_redis(workdir)
    procs = [redis_proc]
    try:
        redis = Redis.from_url(redis_url)
        member_id, key = install_portal(redis)
        app_proc, app_url = start_gunicorn("wsgi:app", redis_url)
        bare_proc, bare_url = start_gunicorn("bench.bare_app:app", redis_url)
        procs += [app_proc, bare_proc]
        runs: dict[str, list[dict]] = {name: [] for name in ("bare", *SOURCES)}
        sent: dict[str, int] = {name: 0 for name in SOURCES}
        for warm in ("bare", *SOURCES):  # one short warm-up each (imports, connections)
            base = bare_url if warm == "bare" else app_url
            asyncio.run(
                drive(base, key, SOURCES.get(warm, cloudpayments), 9 * 10**8, 1.0, args.concurrency)
            )
        redis.delete("rq:queue:default")
        for _ in range(args.rounds):
            for name in ("bare", *SOURCES):
                base = bare_url if name == "bare" else app_url
                start = (1 + len(runs[name])) * 10**7
                run = asyncio.run(drive(base, key, SOURCES.get(name, cloudpayments), start, args.seconds,
                                        args.concurrency))  # fmt: skip
                runs[name].append(run)
                if name != "bare":
                    sent[name] += run["statuses"].get(200, 0)
        report(runs)
        return verify(redis, member_id, sent, runs)
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(15)
        shutil.rmtree(workdir, ignore_errors=True)


def report(runs: dict[str, list[dict]]) -> None:
    bare = statistics.median(r["rate"] for r in runs["bare"])
    print(f"{'route':<16}{'req/s':>9}{'× bare':>9}{'p50 ms':>9}{'p99 ms':>9}  statuses")
    for name, rounds in runs.items():
        rate = statistics.median(r["rate"] for r in rounds)
        p50 = statistics.median(r["p50"] for r in rounds)
        p99 = statistics.median(r["p99"] for r in rounds)
        statuses = {
            s: sum(r["statuses"].get(s, 0) for r in rounds)
            for s in {s for r in rounds for s in r["statuses"]}
        }
        print(f"{name:<16}{rate:>9.0f}{rate / bare:>9.2f}{p50:>9.1f}{p99:>9.1f}  {statuses}")
    print("targets: ≥ 0.50 × bare, p99 < 50 ms (medians of rounds)")


def verify(redis: Redis, member_id: str, sent: dict[str, int], runs: dict[str, list[dict]]) -> int:
    """Every accepted delivery's job is queued (the queue's ids by source); non-200 answers fail."""
    ids = [i.decode() for i in redis.lrange("rq:queue:default", 0, -1)]
    ok = True
    for source, accepted in sent.items():
        queued = sum(i.startswith(f"{source}-{member_id}-") for i in ids)
        jobs = sum(1 for i in ids if i.startswith(f"{source}-") and redis.exists(f"rq:job:{i}"))
        print(f"{source}: {accepted} accepted, {queued} jobs queued, {jobs} job records")
        ok &= accepted == queued == jobs
        ok &= all(set(r["statuses"]) == {200} for r in runs[source])
    print("every accepted request's job is in Redis" if ok else "MISSING JOBS or non-200 answers")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
