"""An encrypted backup of the portal registry, and its restore (``b24app portals export|import``).

The file holds every portal's record with its tokens, encrypted with a key derived (scrypt) from
``B24APP_BACKUP_KEY``, not from ``B24APP_SECRET_KEY``: a backup restores under a new secret key, which is
how the secret key is rotated (export, change the key, import --replace).
"""

import base64
import json
import os
import time
from dataclasses import asdict

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .errors import Blago24Error
from .portals import PORTAL_FIELDS, Portal, PortalRegistry

MAGIC = b"BLAGO24-REGISTRY-BACKUP-1\n"
MIN_KEY = 16


class BackupError(Blago24Error):
    """The backup cannot be written or read: no key, a wrong key, a damaged file."""


def cipher(passphrase: str, salt: bytes) -> Fernet:
    if len(passphrase) < MIN_KEY:
        raise BackupError(f"B24APP_BACKUP_KEY must be at least {MIN_KEY} characters")
    key = Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def export(registry: PortalRegistry, passphrase: str) -> tuple[bytes, int, list[str]]:
    """Every readable portal, tokens included, as one encrypted blob; how many it holds, and the
    member_ids whose records could not be decrypted (left out, not a reason to write no backup)."""
    salt = os.urandom(16)
    portals, unreadable = registry.readable()
    body = json.dumps({"exported_at": time.time(), "portals": [asdict(p) for p in portals]})
    blob = (
        MAGIC
        + base64.urlsafe_b64encode(salt)
        + b"\n"
        + cipher(passphrase, salt).encrypt(body.encode())
    )
    return blob, len(portals), unreadable


def read(blob: bytes, passphrase: str) -> list[Portal]:
    """The portals a backup holds (BackupError when it is not ours, damaged, or the key is wrong)."""
    if not blob.startswith(MAGIC):
        raise BackupError("not a Blago24 registry backup")
    salt, _, token = blob[len(MAGIC) :].partition(b"\n")
    try:
        body = json.loads(cipher(passphrase, base64.urlsafe_b64decode(salt)).decrypt(token))
    except (InvalidToken, ValueError) as exc:
        raise BackupError(
            "the backup cannot be decrypted: wrong B24APP_BACKUP_KEY or a damaged file"
        ) from exc
    return [Portal(**{k: v for k, v in p.items() if k in PORTAL_FIELDS}) for p in body["portals"]]


def restore(
    registry: PortalRegistry, portals: list[Portal], replace: bool = False
) -> tuple[list[str], list[str]]:
    """Write the portals into the registry; (restored, skipped). A portal already present is skipped
    unless ``replace``: its tokens may be newer than the backup's, and a spent refresh token is useless."""
    restored, skipped = [], []
    for portal in portals:
        if registry.holds(portal.member_id) and not replace:
            skipped.append(portal.member_id)
            continue
        registry.forget_record(portal.member_id)  # it may be sealed with the old secret key
        registry.save(portal, tokens=True)
        restored.append(portal.member_id)
    return restored, skipped
