"""The registry's encrypted backup: `b24app portals export FILE` → `import FILE` into an empty Redis,
under a new B24APP_SECRET_KEY (how the key is rotated), gives portals whose tokens still work."""

import dataclasses
import os
import subprocess
import sys

from redis import Redis

from b24app.bitrix import for_portal
from b24app.portals import PortalRegistry
from b24app.trust import servers

BACKUP_KEY = "a-long-backup-passphrase"


def cli(
    *args: str, redis_url: str, secret: str, backup_key: str = BACKUP_KEY
) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        B24APP_REDIS_URL=redis_url,
        B24APP_SECRET_KEY=secret,
        B24APP_BACKUP_KEY=backup_key,
    )
    return subprocess.run([sys.executable, "-m", "b24app", "portals", *args], env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip


def test_export_then_import_into_an_empty_redis_gives_working_portals(
    registered, redis_url, aof_redis, tmp_path
):
    """The restored portal answers REST calls with its restored tokens; the file is unreadable without the
    backup key, and is not plain JSON; a second import keeps what is there unless --replace."""
    backup = tmp_path / "registry.b24"
    backup.write_bytes(b"an older file, readable by all")
    backup.chmod(0o644)
    out = cli("export", str(backup), redis_url=redis_url, secret="test-secret")
    assert out.returncode == 0 and "1 portal(s) written" in out.stdout, out.stderr
    assert oct(backup.stat().st_mode & 0o777) == "0o600"
    assert registered.member_id.encode() not in backup.read_bytes()

    wrong = cli(
        "import",
        str(backup),
        redis_url=aof_redis.url,
        secret="new-secret",
        backup_key="not-the-right-key",
    )
    assert wrong.returncode == 1 and "wrong B24APP_BACKUP_KEY" in wrong.stderr
    done = cli("import", str(backup), redis_url=aof_redis.url, secret="new-secret")
    assert done.returncode == 0 and "1 portal(s) restored" in done.stdout, done.stderr

    restored = PortalRegistry(Redis.from_url(aof_redis.url), "new-secret")
    original = registered.registry.require(registered.member_id)
    portal = restored.require(registered.member_id)
    assert (portal.refresh_token, portal.key, portal.domain) == (
        original.refresh_token,
        original.key,
        original.domain,
    )
    assert restored.by_key(original.key).member_id == registered.member_id
    client = for_portal(restored, registered.member_id, registered.app["client_id"], registered.app["client_secret"],
                        oauth_servers=servers(f"{registered.portal.sandbox.url}/oauth-server"))  # fmt: skip
    assert client.call("crm.contact.list", {"select": ["ID"]}) == []

    again = cli("import", str(backup), redis_url=aof_redis.url, secret="new-secret")
    assert again.returncode == 0 and "kept as they are (use --replace)" in again.stdout
    assert (
        cli(
            "import", str(backup), "--replace", redis_url=aof_redis.url, secret="newer-secret"
        ).returncode
        == 0
    )
    assert PortalRegistry(Redis.from_url(aof_redis.url), "newer-secret").require(
        registered.member_id
    )


def test_export_refuses_a_short_backup_key(registered, redis_url, tmp_path):
    out = cli(
        "export", str(tmp_path / "x"), redis_url=redis_url, secret="test-secret", backup_key="short"
    )
    assert out.returncode == 1 and "at least 16 characters" in out.stderr
    assert not (tmp_path / "x").exists()


def test_one_undecryptable_record_is_reported_and_the_rest_still_exported(
    registered, redis_url, tmp_path
):
    """A record written under another secret key (a half-finished rotation) is named on stderr and the
    export exits 1, but the readable portals are still in the file; the registry's ``all()`` (the nightly
    chain's loop) passes over it instead of failing for every portal."""
    stranger = PortalRegistry(Redis.from_url(redis_url), "another-secret-key")
    original = registered.registry.require(registered.member_id)
    stranger.save(
        dataclasses.replace(original, member_id="f" * 32, domain="other.bitrix24.ru", key="k" * 24)
    )
    backup = tmp_path / "registry.b24"
    out = cli("export", str(backup), redis_url=redis_url, secret="test-secret")
    assert out.returncode == 1 and "1 portal(s) written" in out.stdout
    assert "NOT in the backup: " + "f" * 32 in out.stderr
    assert [p.member_id for p in registered.registry.all()] == [registered.member_id]
    aside = Redis.from_url(redis_url)
    aside.flushdb()
    assert cli("import", str(backup), redis_url=redis_url, secret="test-secret").returncode == 0
    assert (
        PortalRegistry(aside, "test-secret").require(registered.member_id).domain == original.domain
    )
