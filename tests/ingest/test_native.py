"""The compiled normalizer is refused once its source changes, so edited code never silently goes unrun."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from ingest import native


def build(root: Path, *modules: str) -> None:
    """Stand-in for `make install`'s compile: a module's source and its extension, recorded."""
    for module in modules:
        path = root / module
        path.parent.mkdir(parents=True, exist_ok=True)
        path.with_suffix(".py").write_text(f"# {module}\n")
        path.with_name(path.name + native.SUFFIX).write_bytes(b"\x7fELF")
    native.record(root)


def test_a_fresh_build_is_current(tmp_path: Path) -> None:
    build(tmp_path, "storable", "conventions/kinds")
    assert native.stale_sources(tmp_path) == []


def test_an_edited_or_deleted_source_is_stale(tmp_path: Path) -> None:
    build(tmp_path, "storable", "conventions/kinds", "conventions/usage")
    (tmp_path / "conventions/kinds.py").write_text("# edited\n")
    (tmp_path / "storable.py").unlink()
    assert native.stale_sources(tmp_path) == ["conventions/kinds.py", "storable.py"]


def test_a_build_without_its_record_is_stale(tmp_path: Path) -> None:
    build(tmp_path, "storable")
    (tmp_path / native.MANIFEST.name).unlink()
    assert native.stale_sources(tmp_path) == ["storable.py"]


def test_plain_python_needs_no_record(tmp_path: Path) -> None:
    (tmp_path / "storable.py").write_text("# never compiled\n")
    assert native.stale_sources(tmp_path) == []


def test_startup_refuses_a_stale_build_and_says_what_to_run(tmp_path: Path) -> None:
    build(tmp_path, "storable", "conventions/kinds")
    native.check(tmp_path)
    (tmp_path / "conventions/kinds.py").write_text("# edited\n")
    with pytest.raises(ImproperlyConfigured, match=r"ingest/conventions/kinds\.py changed .* run `make install`"):
        native.check(tmp_path)
