"""The Leyka bridge WordPress plugin (contrib/leyka-bridge/) packed as the zip WordPress installs."""

import functools
import io
import zipfile
from pathlib import Path

PLUGIN = Path(__file__).resolve().parents[1] / "contrib" / "leyka-bridge"
FOLDER = "blago24-leyka-bridge"  # the plugin's slug in wp-content/plugins, and its text domain
ZIP_NAME = f"{FOLDER}.zip"
LEFT_OUT = {"tests"}  # the plugin's own tests stay in the repository


def plugin_files(root: Path = PLUGIN) -> list[Path]:
    """The plugin's files to ship, sorted; FileNotFoundError when the plugin is not here."""
    if not (root / "readme.txt").is_file():
        raise FileNotFoundError(root / "readme.txt")
    return sorted(
        p for p in root.rglob("*")
        if p.is_file() and not LEFT_OUT & set(p.relative_to(root).parts[:1])
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )  # fmt: skip


@functools.cache
def plugin_zip() -> bytes:
    """The zip, under one top folder as WordPress expects; the same bytes for the same files."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in plugin_files():
            name = f"{FOLDER}/{path.relative_to(PLUGIN).as_posix()}"
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return out.getvalue()
