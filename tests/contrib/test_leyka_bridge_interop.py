"""The plugin and the app agree on the wire: deliveries built and signed by the plugin's real PHP code
(contrib/leyka-bridge/tests/emit-delivery.php) are taken by the app's real route into the sandbox portal
(external-services.md §2.5), and the plugin's «Проверить связь» is answered with our clock."""

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.handlers.test_leyka import SECRET, LeykaFund

EMIT = (
    Path(__file__).resolve().parents[2] / "contrib" / "leyka-bridge" / "tests" / "emit-delivery.php"
)
LEYKA_DONATION = {"id": 7311, "status": "submitted", "amount": 1500, "currency": "rub", "payment_type": "single",
                  "gateway_id": "cp", "pm_id": "card", "campaign_id": 12, "campaign_title": "Помощь &laquo;Дому&raquo;",
                  "donor_name": "Ольга &quot;Оля&quot; Смирнова", "donor_email": "olga@example.org",
                  "donor_phone": "+79031234567", "date_created": "2026-03-14 12:41:05"}  # fmt: skip


def emit(**fields) -> tuple[dict, bytes]:
    """The request the plugin would send: its headers and raw body."""
    if shutil.which("php") is None:
        pytest.fail("php is not installed; run the README test command (it installs php-cli)")
    out = subprocess.run(
        ["php", str(EMIT), json.dumps(fields)], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    request = json.loads(out.stdout)
    return request["headers"], request["body"].encode()


@pytest.fixture
def fund(portal, app_server):
    return LeykaFund(portal, app_server)


def test_the_plugins_deliveries_become_one_deal(fund):
    """«Попытка» then «Оплачено» as the plugin sends them (Leyka's raw values: amount a number, currency
    lower-case, entities in the name, a local date): one deal at «Успешно», names decoded."""
    for status in ("submitted", "funded"):
        headers, raw = emit(**{**LEYKA_DONATION, "status": status}, event="donation.status_changed",
                            secret=SECRET, delivery_id=f"interop-{status}")  # fmt: skip
        resp = requests.post(fund.leyka_url(), data=raw, headers=headers, timeout=15)
        assert resp.status_code == 200, resp.text
        fund.app.run_jobs()
    [deal] = fund.deals()
    assert fund.stage(deal) == "WON" and deal["UF_CRM_B24_PAYMENT_ID"] == "cp:7311"
    assert (
        deal["OPPORTUNITY"] == "1500.00"
        and deal["TITLE"] == "Пожертвование 1500.00 RUB: Помощь «Дому»"
    )
    [contact] = fund.contacts()
    assert (contact["NAME"], contact["LAST_NAME"]) == ("Ольга", '"Оля" Смирнова')


def test_a_stale_retry_is_refused_and_a_fresh_signature_is_taken(fund):
    """A delivery signed 10 minutes ago (a retry that kept its old timestamp) is 401; the plugin re-signs
    each try, and the same delivery signed now goes through."""
    fields = {
        **LEYKA_DONATION,
        "event": "donation.added",
        "secret": SECRET,
        "delivery_id": "interop-retry",
    }
    headers, raw = emit(**fields, timestamp=int(time.time()) - 600)
    assert requests.post(fund.leyka_url(), data=raw, headers=headers, timeout=15).status_code == 401
    headers, raw = emit(**fields)
    assert requests.post(fund.leyka_url(), data=raw, headers=headers, timeout=15).status_code == 200


def test_the_ping_reports_our_clock(fund):
    headers, raw = emit(event="bridge.ping", secret=SECRET)
    resp = requests.post(fund.leyka_url(), data=raw, headers=headers, timeout=15)
    assert resp.status_code == 200 and abs(resp.json()["time"] - time.time()) < 5


def test_the_app_offers_the_plugin_as_a_zip_wordpress_installs(app_server):
    """/app/leyka-bridge.zip: one top folder (the plugin's slug) with the main file, the translations and
    readme.txt; the plugin's tests are left out."""
    import io
    import zipfile

    resp = requests.get(f"{app_server.url}/app/leyka-bridge.zip", timeout=15)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/zip"
    assert "blago24-leyka-bridge.zip" in resp.headers["Content-Disposition"]
    names = zipfile.ZipFile(io.BytesIO(resp.content)).namelist()
    assert {n.split("/", 1)[0] for n in names} == {"blago24-leyka-bridge"}
    assert {"blago24-leyka-bridge/blago24-leyka-bridge.php", "blago24-leyka-bridge/readme.txt",
            "blago24-leyka-bridge/languages/blago24-leyka-bridge-ru_RU.l10n.php"} <= set(names)  # fmt: skip
    assert not [n for n in names if "/tests/" in n]
