"""The compiled normalizer is refused once its source changes, so edited code never silently goes unrun."""

from __future__ import annotations

import shutil
import subprocess
import sys
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


# Prints whether the normalizer imported compiled, then each captured span's fields as JSON.
NORMALIZE_CAPTURES = """
import dataclasses, json, sys
from pathlib import Path
from ingest import native
from ingest.conventions import normalize
from ingest.otlp import decode_traces
print(native.is_compiled())
for path in sorted(Path(sys.argv[1]).glob("*.traces.pb")):
    for span in decode_traces(path.read_bytes(), content_type="application/x-protobuf", max_bytes=10**8).spans:
        print(json.dumps(dataclasses.asdict(normalize(span)), default=repr, sort_keys=True))
"""
ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "tests" / "fixtures" / "otlp"


def normalized_captures(import_root: Path) -> list[str]:
    """The captures normalized by the `ingest` package found under `import_root`."""
    script = f"import sys; sys.path.insert(0, {str(import_root)!r})\n{NORMALIZE_CAPTURES}"
    out = subprocess.run([sys.executable, "-c", script, str(CAPTURES)], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


@pytest.mark.skipif(not native.is_compiled(), reason="the normalizer is not compiled here (no C compiler)")
def test_the_compiled_normalizer_reads_every_capture_as_its_source_does(tmp_path: Path) -> None:
    # mypyc checks types where Python does not and binds calls early: the two must still agree.
    shutil.copytree(ROOT / "ingest", tmp_path / "ingest", ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    compiled, source = normalized_captures(ROOT), normalized_captures(tmp_path)
    assert (compiled[0], source[0]) == ("True", "False")
    assert len(compiled) > 100
    assert compiled[1:] == source[1:]
