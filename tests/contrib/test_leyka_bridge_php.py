"""The Leyka bridge WordPress plugin (contrib/leyka-bridge): its PHP lints and its own PHP tests pass,
its translations cover every string the code wraps, and emit-delivery.php signs as the wire format says.

The plugin's tests are plain php-cli scripts (stubs of WordPress and Leyka, no Composer); php-cli is
needed and installed by the README's test command (``bash scripts/test.sh``).
"""

import hashlib
import hmac
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "contrib" / "leyka-bridge"
LANGUAGES = PLUGIN / "languages"
DOMAIN = "blago24-leyka-bridge"
PHP_FILES = sorted(PLUGIN.rglob("*.php"))
TEST_FILES = sorted((PLUGIN / "tests").glob("test-*.php"))
SOURCE_FILES = [
    p for p in PHP_FILES if p.relative_to(PLUGIN).parts[0] not in ("tests", "languages")
]
I18N_ANY = re.compile(
    r"\b(?:__|_e|_x|_n|_nx|esc_html__|esc_html_e|esc_html_x|esc_attr__|esc_attr_e|esc_attr_x)\("
)
I18N_CALL = re.compile(
    r"\b(?:__|_e|esc_html__|esc_html_e|esc_attr__|esc_attr_e)\(\s*'((?:[^'\\]|\\.)*)'\s*,\s*'"
    + DOMAIN
    + r"'\s*\)"
)
PLACEHOLDER = re.compile(r"%(?:\d+\$)?[sd]")


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def php_binary() -> str:
    """php-cli's path; a failure (never a skip) naming the command that installs it."""
    found = shutil.which("php")
    if found is None:
        pytest.fail(
            "php-cli is not installed: run the README's test command, `bash scripts/test.sh`, "
            "which installs php-cli (the Leyka bridge plugin is PHP)"
        )
    return found


def run(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [php_binary(), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_plugin_and_its_tests_are_there():
    assert (PLUGIN / "blago24-leyka-bridge.php").is_file()
    assert len(TEST_FILES) >= 6, [rel(p) for p in TEST_FILES]
    assert (PLUGIN / "tests" / "emit-delivery.php").is_file()


@pytest.mark.parametrize("path", PHP_FILES, ids=rel)
def test_php_lint(path):
    result = run("-l", rel(path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", TEST_FILES, ids=rel)
def test_php_test_file_passes(path):
    result = run(rel(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert " OK, " in result.stdout.strip().splitlines()[-1], result.stdout


def wrapped_strings() -> dict[str, list[str]]:
    """Every string the plugin wraps for translation, with where; fails on a call it cannot read."""
    strings: dict[str, list[str]] = {}
    for path in SOURCE_FILES:
        text = path.read_text(encoding="utf-8")
        calls = I18N_CALL.findall(text)
        assert len(calls) == len(I18N_ANY.findall(text)), (
            f"{rel(path)}: a translation call is not __( 'literal', '{DOMAIN}' ) (or its kin), "
            "so it cannot be checked or extracted"
        )
        for literal in calls:
            strings.setdefault(re.sub(r"\\(.)", r"\1", literal), []).append(rel(path))
    return strings


def po_string(quoted: str) -> str:
    body = quoted.strip()[1:-1]
    escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(1)), body)


def read_po(path: Path) -> dict[str, str]:
    """msgid → msgstr of a .po/.pot (the header entry left out)."""
    entries: dict[str, str] = {}
    msgid = msgstr = None
    field = None
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if line.startswith("msgid "):
            if msgid is not None:
                entries[msgid] = msgstr or ""
            msgid, msgstr, field = po_string(line[6:]), None, "id"
        elif line.startswith("msgstr "):
            msgstr, field = po_string(line[7:]), "str"
        elif line.startswith('"') and field == "id":
            msgid += po_string(line)
        elif line.startswith('"') and field == "str":
            msgstr += po_string(line)
        else:
            field = None
    if msgid is not None:
        entries[msgid] = msgstr or ""
    entries.pop("", None)
    return entries


def test_translation_files_cover_every_wrapped_string():
    strings = wrapped_strings()
    assert len(strings) > 40, "the extraction found too few strings"
    pot = read_po(LANGUAGES / f"{DOMAIN}.pot")
    po = read_po(LANGUAGES / f"{DOMAIN}-ru_RU.po")
    missing_pot = sorted(set(strings) - set(pot))
    assert not missing_pot, f"not in the .pot: {missing_pot}"
    untranslated = sorted(s for s in strings if not po.get(s))
    assert not untranslated, f"not translated in the ru_RU .po: {untranslated}"
    assert all(value == "" for value in pot.values()), "a .pot carries no translations"
    for msgid, msgstr in po.items():
        assert sorted(PLACEHOLDER.findall(msgid)) == sorted(PLACEHOLDER.findall(msgstr)), (
            f"placeholders differ in the translation of {msgid!r}: {msgstr!r}"
        )


def test_l10n_php_matches_the_po():
    path = LANGUAGES / f"{DOMAIN}-ru_RU.l10n.php"
    result = run("-r", "echo json_encode(include $argv[1]);", rel(path))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["language"] == "ru_RU"
    assert "nplurals=3" in data["plural-forms"]
    assert data["messages"] == read_po(LANGUAGES / f"{DOMAIN}-ru_RU.po")


def test_emit_delivery_signs_the_raw_body():
    donation = {
        "event": "donation.status_changed",
        "secret": "interop-secret-0123456789",
        "timestamp": 1773481265,
        "delivery_id": "3f0c9a2e-8d1b-4c5e-9f00-0123456789ab",
        "changed_at": "2026-03-14T12:45:00+03:00",
        "id": 101,
        "status": "funded",
        "amount": 500,
        "currency": "rub",
        "payment_type": "single",
        "gateway_id": "cp",
        "pm_id": "card",
        "campaign_id": 7,
        "campaign_title": "Помощь детям",
        "donor_name": "Иван &quot;Ваня&quot; О&#039;Брайен",
        "donor_email": "ivan@example.org",
        "date_created": "2026-03-14 12:41:05",
        "cp_transaction_id": "2938475610",
    }
    script = rel(PLUGIN / "tests" / "emit-delivery.php")
    result = run(script, json.dumps(donation, ensure_ascii=False))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    headers, raw = out["headers"], out["body"].encode("utf-8")
    assert set(headers) == {"Content-Type", "X-Leyka-Bridge-Timestamp", "X-Leyka-Bridge-Signature"}
    assert headers["X-Leyka-Bridge-Timestamp"] == "1773481265"
    mac = hmac.new(donation["secret"].encode(), b"1773481265." + raw, hashlib.sha256)
    assert headers["X-Leyka-Bridge-Signature"] == "sha256=" + mac.hexdigest()
    body = json.loads(raw)
    assert list(body) == ["event", "site", "donation", "delivery_id", "changed_at"]
    assert body["delivery_id"] == donation["delivery_id"]
    assert body["changed_at"] == donation["changed_at"]
    d = body["donation"]
    assert d["amount"] == "500.00"
    assert d["currency"] == "RUB"
    assert d["donor_name"] == 'Иван "Ваня" О\'Брайен'
    assert d["date_created"] == "2026-03-14T12:41:05+03:00"
    assert d["recurring_active"] is False
    assert d["init_recurring_donation_id"] == 0
    assert d["cp_recurring_id"] == ""

    bad = run(script, '{"event": "nope", "secret": "x"}')
    assert bad.returncode == 2
