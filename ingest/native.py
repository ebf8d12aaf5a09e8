"""The span normalizer's compiled form: `make install` builds it with mypyc, this checks it.

Python imports a module's compiled `.so` in preference to its `.py`, so a source edited (or
updated by `git pull`) after the compile would silently not run. The build records a digest of
each compiled source, and the app refuses to start when one no longer matches. Without a build
everything runs as plain Python, with the same results and a quarter less intake throughput.
"""

from __future__ import annotations

import hashlib
import json
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

PACKAGE_DIR = Path(__file__).resolve().parent
MANIFEST = PACKAGE_DIR / "native-sources.json"
# This interpreter's own suffix, e.g. ".cpython-311-x86_64-linux-gnu.so": other builds are not imported.
SUFFIX = EXTENSION_SUFFIXES[0]


def _sources(root: Path) -> list[Path]:
    """The source of every compiled module under `root`."""
    return [built.with_name(built.name.removesuffix(SUFFIX) + ".py") for built in sorted(root.rglob(f"*{SUFFIX}"))]


def _digests(root: Path) -> dict[str, str]:
    return {
        str(source.relative_to(root)): hashlib.sha256(source.read_bytes()).hexdigest() if source.exists() else ""
        for source in _sources(root)
    }


def record(root: Path = PACKAGE_DIR) -> None:
    """Run right after a compile: remember what was compiled."""
    (root / MANIFEST.name).write_text(json.dumps(_digests(root), indent=1) + "\n")


def stale_sources(root: Path = PACKAGE_DIR) -> list[str]:
    """Sources that differ from (or were never recorded with) their compiled module."""
    try:
        recorded = json.loads((root / MANIFEST.name).read_text())
    except (OSError, ValueError):
        recorded = {}
    return [name for name, digest in _digests(root).items() if recorded.get(name) != digest or not digest]


def check(root: Path = PACKAGE_DIR) -> None:
    """At startup: refuse a stale build rather than run code that is not the source."""
    if not (stale := stale_sources(root)):
        return
    names = ", ".join(f"ingest/{name}" for name in stale[:3]) + (
        f" and {len(stale) - 3} more" if len(stale) > 3 else ""
    )
    raise ImproperlyConfigured(
        f"{names} changed after the normalizer was compiled, so its old compiled code would run: "
        "run `make install` to compile it again, or delete ingest/**/*.so to run it as plain Python"
    )


def is_compiled() -> bool:
    from ingest.conventions import span_view

    return str(span_view.__file__).endswith(SUFFIX)


if __name__ == "__main__" and sys.argv[1:] == ["record"]:
    record()
