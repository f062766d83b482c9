"""The demo: Redis, the sandbox, the web app and a worker, with the app installed into a sandbox portal."""

import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import requests

MOSCOW = ZoneInfo("Europe/Moscow")  # the demo portal's time zone (the `timezone` setting's default)
SCOPES = [
    "crm",
    "user",
    "bizproc",
    "placement",
    "im",
    "task",
    "lists",
    "catalog",
    "entity",
    "userfieldconfig",
]


def pick_port(preferred: int) -> int:
    """The preferred port when it is free on 127.0.0.1, else any free one."""
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def wait_for(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            resp = requests.get(url, timeout=1)
            if resp.status_code < 500 or url.endswith("/healthz"):  # 503: up, its workers not yet
                return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up in {timeout} s")


class Children:
    """Child processes started by the demo: a dead one is restarted (and said so); all stopped together."""

    RESTARTS_MAX = 5  # per child: a child that keeps dying is a fault to show, not to hide

    def __init__(self):
        self.procs: list[subprocess.Popen] = []
        self.recipes: dict[int, tuple[list[str], dict]] = {}
        self.restarts: dict[str, int] = {}

    def start(self, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        proc = subprocess.Popen(argv, env={**os.environ, **(env or {})})
        self.procs.append(proc)
        self.recipes[proc.pid] = (argv, env or {})
        return proc

    def revive(self) -> bool:
        """Restart every child that died; False once one has died more than RESTARTS_MAX times."""
        for i, proc in enumerate(self.procs):
            if proc.poll() is None:
                continue
            argv, env = self.recipes.pop(proc.pid)
            name = " ".join(argv[:4])
            self.restarts[name] = self.restarts.get(name, 0) + 1
            if self.restarts[name] > self.RESTARTS_MAX:
                print(
                    f"demo: {name} keeps exiting (code {proc.returncode}); stopping",
                    file=sys.stderr,
                )
                return False
            print(
                f"demo: {name} exited with code {proc.returncode}; restarting it",
                file=sys.stderr,
                flush=True,
            )
            self.procs.pop(i)
            self.start(argv, env)
            return True
        return True

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run_demo(sandbox_port: int, web_port: int) -> int:
    """Start everything, install the app by the UI flow, print the URLs, wait for Ctrl-C."""
    children = Children()
    stop = {"now": False}

    def on_signal(signum, frame):
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        urls = start_all(children, pick_port(sandbox_port), pick_port(web_port))
        print_urls(urls)
        print_first_use(urls)
        while not stop["now"]:
            if not children.revive():
                return 1
            time.sleep(0.3)
        return 0
    finally:
        children.stop()
        print("demo stopped", flush=True)


def start_all(children: Children, sandbox_port: int, web_port: int) -> dict:
    redis_port = pick_port(6390)
    redis_bin = shutil.which("redis-server")
    if not redis_bin:
        raise RuntimeError("redis-server is not installed (the README's demo command installs it)")
    data = tempfile.mkdtemp(prefix="blago24-demo-redis-")  # AOF: a restarted Redis keeps the queues
    children.start([redis_bin, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "yes", "--dir", data])  # fmt: skip
    sandbox = f"http://127.0.0.1:{sandbox_port}"
    web = f"http://127.0.0.1:{web_port}"
    py = sys.executable
    children.start([py, "-m", "b24app", "sandbox", "--port", str(sandbox_port)])
    wait_for(f"{sandbox}/_sandbox/portals")
    app = requests.post(f"{sandbox}/_sandbox/apps", json={"handler": f"{web}/app",
                        "install_url": f"{web}/install", "scopes": SCOPES}, timeout=10).json()  # fmt: skip
    portal = requests.post(
        f"{sandbox}/_sandbox/portals",
        json={"domain": "blago-demo.bitrix24.test", "limits": True},
        timeout=10,
    ).json()
    env = {
        "B24APP_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "B24APP_PUBLIC_URL": web,
        "B24APP_CLIENT_ID": app["client_id"],
        "B24APP_CLIENT_SECRET": app["client_secret"],
        "B24APP_BX24_JS_URL": f"{sandbox}/bx24.js",
        "B24APP_OAUTH_SERVERS": f"{sandbox}/oauth-server",
        "B24APP_SECRET_KEY": secrets.token_urlsafe(32),
        "B24APP_OPS_PASSWORD": secrets.token_urlsafe(18),
        "B24APP_TIMEPAD_API_URL": f"{sandbox}/timepad",  # the sandbox world's fake Timepad
    }
    children.start([py, "-m", "b24app", "web", "--port", str(web_port)], env)
    children.start([py, "-m", "b24app", "worker"], env)
    wait_for(f"{web}/healthz")
    result = requests.post(f"{sandbox}/_sandbox/portals/{portal['member_id']}/install",
                           json={"client_id": app["client_id"], "flow": "ui", "finish": True},
                           timeout=60).json()  # fmt: skip
    if not result.get("installed"):
        raise RuntimeError(f"install did not finish: HTTP {result.get('status')}")
    secret, bridge = connect(portal["member_id"], env)
    event = seed_timepad(sandbox, portal["member_id"], env)
    school = seed_school(portal["webhook_url"])
    return {"portal_ui": f"{sandbox}/portal/{portal['member_id']}/", "sandbox": sandbox, "web": web,
            "redis": env["B24APP_REDIS_URL"], "webhook": portal["webhook_url"],
            "member_id": portal["member_id"], "env": env, "cloudpayments_secret": secret,
            "leyka_secret": bridge, "timepad_event": event, "client_id": app["client_id"],
            "school": school}  # fmt: skip


def connect(member_id: str, env: dict) -> tuple[str, str]:
    """Give the demo portal a CloudPayments secret, a Leyka bridge secret and a letter sender (its thank-you
    letters show in the portal's outbox), as a fund's admin does on the app page."""
    cloudpayments, leyka = secrets.token_hex(16), secrets.token_hex(16)
    subprocess.run([sys.executable, "-m", "b24app", "settings", "--portal", member_id,
                    f"cloudpayments_secret={cloudpayments}", f"leyka_secret={leyka}",
                    "letter_sender=Фонд «Демо» <hello@demo.example>"],
                   env={**os.environ, **env}, check=True, capture_output=True, timeout=60)  # fmt: skip
    return cloudpayments, leyka


DEMO_PEOPLE = [("Анна", "Иванова"), ("Борис", "Петров"), ("Вера", "Сидорова"), ("Глеб", "Орлов"),
               ("Дарья", "Кузнецова"), ("Егор", "Соколов"), ("Жанна", "Морозова"), ("Захар", "Волков"),
               ("Ирина", "Лебедева"), ("Кирилл", "Козлов"), ("Лидия", "Новикова"), ("Марк", "Зайцев")]  # fmt: skip


def seed_timepad(sandbox: str, member_id: str, env: dict) -> dict:
    """A Timepad organisation in the sandbox's fake Timepad, connected to the demo portal, with a seminar that
    ended yesterday: 36 participants, a third checked in, two refunded (for the resync page)."""
    control = f"{sandbox}/_sandbox/timepad"
    org = requests.post(
        f"{control}/organizations", json={"name": "Центр «Знание» (демо)"}, timeout=10
    ).json()
    subprocess.run([sys.executable, "-m", "b24app", "settings", "--portal", member_id,
                    f"timepad_secret={secrets.token_hex(16)}", f"timepad_token={org['token']}",
                    f"timepad_organization_id={org['id']}"],
                   env={**os.environ, **env}, check=True, capture_output=True, timeout=60)  # fmt: skip
    now = datetime.now(UTC)
    event = requests.post(f"{control}/events", json={"organization_id": org["id"], "name": "Семинар «Волонтёрство без выгорания»",
                          "starts_at": (now - timedelta(days=1, hours=3)).isoformat(),
                          "ends_at": (now - timedelta(days=1)).isoformat()}, timeout=10).json()  # fmt: skip
    orders = [{"status": "returned" if n in (7, 23) else "booked" if n % 5 == 4 else "paid",
               "tickets": [{"name": DEMO_PEOPLE[n % 12][0], "surname": f"{DEMO_PEOPLE[n % 12][1]}{'' if n < 12 else n // 12}",
                            "mail": f"participant{n}@example.org", "attended": n % 3 == 0}]} for n in range(36)]  # fmt: skip
    requests.post(
        f"{control}/events/{event['id']}/orders", json={"orders": orders}, timeout=30
    ).raise_for_status()
    return event


def seed_school(webhook: str) -> dict:
    """A course in the demo portal, as a fund's manager keeps one: the product «Основы фандрайзинга» with
    its «Даты занятий» (the first lesson in 1 h 30 min, sooner than the robot's 2 h: reminded at once; then
    weekly), and Вера's deal in «Обучение» → «Записан» with the course in its product rows."""

    def call(method: str, params: dict):
        answer = requests.post(webhook + method, json=params, timeout=30).json()
        if "result" not in answer:
            raise RuntimeError(f"{method}: {answer.get('error_description') or answer}")
        return answer["result"]

    [prop] = [
        p for p in call("crm.product.property.list", {}) if p.get("CODE") == "B24_LESSON_DATES"
    ]
    [pipeline] = [c for c in call("crm.category.list", {"entityTypeId": 2})["categories"]
                  if c.get("name") == "Обучение"]  # fmt: skip
    now = datetime.now(MOSCOW).replace(second=0, microsecond=0)
    lessons = [now + timedelta(hours=1, minutes=30)] + [
        now + timedelta(days=7 * n, hours=2) for n in (1, 2)
    ]
    course = call("crm.product.add", {"fields": {"NAME": "Курс «Основы фандрайзинга»", "PRICE": 0,
                                                 f"PROPERTY_{prop['ID']}": [{"value": t.isoformat()} for t in lessons]}})  # fmt: skip
    contact = call("crm.contact.add", {"fields": {"NAME": "Вера", "LAST_NAME": "Соколова",
                                                  "EMAIL": [{"VALUE": "vera.sokolova@example.org", "VALUE_TYPE": "WORK"}]}})  # fmt: skip
    deal = call("crm.deal.add", {"fields": {"TITLE": "Запись на курс «Основы фандрайзинга»", "CONTACT_ID": contact,
                                            "CATEGORY_ID": pipeline["id"], "STAGE_ID": f"C{pipeline['id']}:B24_ENROLLED"}})  # fmt: skip
    call(
        "crm.deal.productrows.set",
        {"id": deal, "rows": [{"PRODUCT_ID": course, "PRICE": 0, "QUANTITY": 1}]},
    )
    return {"deal": deal, "course": course, "first_lesson": lessons[0].isoformat()}


def demo_payment() -> bytes:
    """A CloudPayments Pay notification of 500 RUB as it arrives (form body, lower-case escapes)."""
    invoice = int(time.time())
    return (f"TransactionId={invoice}&Amount=500.00&Currency=RUB&InvoiceId=demo-{invoice}&AccountId=anna%40example.org"
            "&Name=ANNA+IVANOVA&Email=anna%40example.org&DateTime=2026-12-01+09%3a41%3a05&CardFirstSix=220220"
            "&CardLastFour=4242&CardExpDate=05%2f29&Description=%d0%9f%d0%be%d0%b6%d0%b5%d1%80%d1%82%d0%b2%d0%be"
            "%d0%b2%d0%b0%d0%bd%d0%b8%d0%b5&TestMode=0&Status=Completed"
            "&Data=%7b%22name%22%3a%22%d0%90%d0%bd%d0%bd%d0%b0+%d0%98%d0%b2%d0%b0%d0%bd%d0%be%d0%b2%d0%b0%22%7d").encode()  # fmt: skip


def print_first_use(urls: dict) -> None:
    """The CloudPayments secret, a ready curl line with a signed test donation, and .demo/env."""
    from handlers.cloudpayments import sign

    key = portal_key_of(urls)
    raw = demo_payment()
    mac = sign(raw, urls["cloudpayments_secret"])["Content-HMAC"]
    url = f"{urls['web']}/hooks/{key}/cloudpayments/pay"
    env_file = write_env(urls["env"])
    leyka = write_leyka_script(f"{urls['web']}/hooks/{key}/leyka", urls["leyka_secret"])
    robot = write_script("lesson-reminder.sh", ROBOT_SCRIPT % {
        "url": shlex.quote(f"{urls['sandbox']}/_sandbox/portals/{urls['member_id']}"),
        "body": shlex.quote(json.dumps({"client_id": urls["client_id"], "code": "blago24_lesson_reminder",
                                        "document": f"DEAL_{urls['school']['deal']}"}))})  # fmt: skip
    print(
        f"  CloudPayments (demo) API secret: {urls['cloudpayments_secret']}\n"
        "Тестовое пожертвование (подписанное уведомление Pay) / a signed test donation:\n"
        f"  curl -s -X POST '{url}' -H 'Content-Type: application/x-www-form-urlencoded' "
        f"-H 'Content-HMAC: {mac}' --data-binary '{raw.decode()}'\n"
        "Пожертвование через мост Лейки («Попытка», затем «Оплачено») / a donation through the Leyka bridge:\n"
        f"  bash {leyka}\n"
        f"Timepad: мероприятие №{urls['timepad_event']['id']} закончилось вчера, 36 участников; откройте «Синхронизировать "
        "мероприятия Timepad» на странице приложения (или список «Участие в мероприятиях» → «Синхронизировать с Timepad»), "
        f"или / or:\n  b24app timepad sync {urls['timepad_event']['id']} --portal {urls['member_id']}\n"
        "Робот «Напомнить о занятиях» на сделке Веры (первое занятие через 1 ч 30 мин: письмо уйдёт сразу, "
        "остальные — за 2 часа до занятия; смотрите «Исходящие» портала) / the lesson reminder robot:\n"
        f"  bash {robot}\n"
        f"Второй терминал / a second terminal: source {env_file} && b24app portals\n",
        flush=True,
    )


LEYKA_SCRIPT = """#!/usr/bin/env bash
# A Leyka donation as the bridge plugin posts it: «Попытка» (submitted), then «Оплачено» (funded), each
# signed at send time (X-Leyka-Bridge-Signature: sha256=HMAC-SHA256(secret, "<timestamp>." + body)).
set -euo pipefail
url=%(url)s
secret=%(secret)s
id=$(( $(date +%%s) %% 1000000000 ))
post() {
  local status=$1 ts body sig
  ts=$(date +%%s)
  body='{"event":"donation.status_changed","site":"https://demo-fond.example","delivery_id":"demo-'$id-$status'",'
  body+='"changed_at":"'$(date --iso-8601=seconds)'","donation":{"id":'$id',"status":"'$status'",'
  body+='"amount":"750.00","currency":"RUB","payment_type":"single","init_recurring_donation_id":0,'
  body+='"recurring_active":false,"gateway_id":"yandex","pm_id":"yandex_card","campaign_id":7,'
  body+='"campaign_title":"Помощь подопечным","donor_name":"Пётр Смирнов","donor_email":"petr@example.org",'
  body+='"donor_phone":"+79161234567","date_created":"'$(date --iso-8601=seconds)'","cp_transaction_id":"",'
  body+='"cp_recurring_id":"","error_id":""}}'
  sig=$(printf '%%s.%%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$secret" | sed 's/^.* //')
  curl -s -X POST "$url" -H 'Content-Type: application/json' -H "X-Leyka-Bridge-Timestamp: $ts" \\
    -H "X-Leyka-Bridge-Signature: sha256=$sig" --data-binary "$body"
  echo
}
post submitted
post funded
echo "Лейка: пожертвование $id отправлено / Leyka donation $id sent"
"""


ROBOT_SCRIPT = """#!/usr/bin/env bash
# The robot «Напомнить о занятиях» fired on Вера's deal, as an automation rule placed on the stage
# «Записан» would (the sandbox's control API), then the robot's run once the app has answered it.
set -euo pipefail
url=%(url)s
curl -s -X POST "$url/robots/fire" -H 'Content-Type: application/json' --data-binary %(body)s > /dev/null
for _ in $(seq 1 60); do
  run=$(curl -s "$url/robots/runs?wait=1" | python3 -c 'import json,sys; r=json.load(sys.stdin)[-1]; print(r["status"], json.dumps(r.get("return_values") or {}, ensure_ascii=False))')
  case "$run" in completed*) echo "робот / robot: $run"; exit 0;; esac
  sleep 1
done
echo "робот не ответил за минуту / the robot did not answer within a minute: $run" >&2
exit 1
"""


def write_leyka_script(url: str, secret: str) -> str:
    """``.demo/leyka-donation.sh``: a signed Leyka donation in two status changes (the secret: 0600)."""
    return write_script(
        "leyka-donation.sh", LEYKA_SCRIPT % {"url": shlex.quote(url), "secret": shlex.quote(secret)}
    )


def write_script(name: str, text: str) -> str:
    """``.demo/<name>``, executable by its owner only (a script may hold a secret)."""
    path = Path(".demo") / name
    path.parent.mkdir(exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(
        path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700
    )  # never readable by others, not even briefly
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return str(path)


def portal_key_of(urls: dict) -> str:
    """The demo portal's webhook key, as `b24app portals` shows it."""
    out = subprocess.run([sys.executable, "-m", "b24app", "portals"], env={**os.environ, **urls["env"]},
                         check=True, capture_output=True, text=True, timeout=60).stdout  # fmt: skip
    row = next(r for r in json.loads(out) if r["member_id"] == urls["member_id"])
    return row["webhooks"]["cloudpayments/pay"].split("/hooks/", 1)[1].split("/", 1)[0]


def write_env(env: dict) -> str:
    """``.demo/env``: the demo's settings, so `source .demo/env && b24app portals` works (secrets: 0600)."""
    path = Path(".demo") / "env"
    path.parent.mkdir(exist_ok=True)
    lines = [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
    lines.append(f"export PATH={shlex.quote(str(Path(sys.executable).parent))}:$PATH")
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return str(path)


def print_urls(urls: dict) -> None:
    print(
        "\nBlago24 demo is up / демо запущено:\n"
        f"  Портал (sandbox portal UI): {urls['portal_ui']}\n"
        f"  Приложение (web app):       {urls['web']}\n"
        f"  Sandbox control API:        {urls['sandbox']}/_sandbox/\n"
        f"  Incoming webhook (admin):   {urls['webhook']}\n"
        f"  Redis:                      {urls['redis']}\n"
        f"  Health / здоровье:          {urls['web']}/healthz\n"
        f"  Metrics / метрики:          {urls['web']}/metrics (Bearer $B24APP_OPS_PASSWORD, .demo/env)\n"
        "Ctrl-C stops everything / Ctrl-C останавливает всё.\n",
        flush=True,
    )
