"""Fetch axe-core (the accessibility checker the browser tests run in Chromium) from the npm
registry, check it, and print the path of its axe.min.js.

The version and its integrity (the registry's `dist.integrity`, a SHA-512 of the tarball) are
pinned here: a tarball that does not match is refused. It is kept under .venv/cache (outside git)
and checked again on every use. Exit status 0 with the path on stdout; otherwise non-zero with
the reason on stderr.

    python scripts/download_axe_core.py
"""

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

VERSION = "4.14.1"
INTEGRITY = "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="  # noqa: E501 (the registry's dist.integrity, whole)
TARBALL = f"https://registry.npmjs.org/axe-core/-/axe-core-{VERSION}.tgz"
ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".venv" / "cache" / f"axe-core-{VERSION}"


def integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def fetch_tarball(path: Path) -> bytes:
    """The checked tarball: from the cache, else from the registry (then cached)."""
    if path.is_file():
        data = path.read_bytes()
        if integrity_of(data) == INTEGRITY:
            return data
    with urllib.request.urlopen(TARBALL, timeout=60) as response:
        data = response.read()
    if integrity_of(data) != INTEGRITY:
        raise SystemExit(f"{TARBALL} does not match its pinned integrity {INTEGRITY}")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(path)
    return data


def axe_min_js() -> Path:
    """The path of axe.min.js, extracted from the checked tarball."""
    data = fetch_tarball(CACHE / f"axe-core-{VERSION}.tgz")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tarball:
        member = tarball.extractfile("package/axe.min.js")
        if member is None:
            raise SystemExit(f"{TARBALL} has no package/axe.min.js")
        script = member.read()
    target = CACHE / "axe.min.js"
    if not target.is_file() or target.read_bytes() != script:
        target.write_bytes(script)
    return target


def main() -> None:
    try:
        print(axe_min_js())
    except OSError as exc:  # no network, a refused connection, a full disk...
        sys.exit(f"axe-core {VERSION} cannot be fetched from {TARBALL}: {exc}")


if __name__ == "__main__":
    main()
