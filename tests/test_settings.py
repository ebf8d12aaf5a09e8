"""Configuration errors name the variable, and production refuses an insecure secret key.
The README's manage.py commands, typed beside `make run`, use the key it generated."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from django.core import signing

from tests.processes import ROOT

UNSET = {"SECRET_KEY", "SECRET_KEY_FILE", "DEBUG", "DATABASE_URL", "AGENTLEDGER_VAR_DIR"}


def load_settings(code: str = "import config.settings", **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in UNSET}
    with tempfile.TemporaryDirectory() as var_dir:  # no key generated there
        return subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**clean, "AGENTLEDGER_VAR_DIR": var_dir, **env},
            capture_output=True,
            text=True,
        )


def test_debug_off_without_a_secret_key_refuses_to_start():
    result = load_settings(DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_a_bad_value_names_the_variable():
    result = load_settings(DEBUG="maybe", SECRET_KEY="k" * 50)
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr
    result = load_settings(SECRET_KEY="k" * 50, CELERY_TASK_TIME_LIMIT="soon")
    assert "CELERY_TASK_TIME_LIMIT='soon' is not a whole number" in result.stderr
    result = load_settings(SECRET_KEY="k" * 50, DATABASE_URL="nosuchdb://x")
    assert "DATABASE_URL" in result.stderr


def test_secret_key_from_a_file_and_defaults_load():
    assert load_settings(SECRET_KEY="k" * 50).returncode == 0
    result = load_settings(SECRET_KEY_FILE="/nonexistent/secret")
    assert "SECRET_KEY_FILE='/nonexistent/secret' cannot be read" in result.stderr


def test_bad_cache_and_limit_values_name_the_variable():
    result = load_settings(SECRET_KEY="k" * 50, CACHE_URL="memcached://cache:11211")
    assert "CACHE_URL='memcached://cache:11211' is not a redis://" in result.stderr
    result = load_settings(SECRET_KEY="k" * 50, AGENTLEDGER_KEY_RATE_LIMIT="-1")
    assert "AGENTLEDGER_KEY_RATE_LIMIT=-1 must be 0 (off) or more" in result.stderr
    assert load_settings(SECRET_KEY="k" * 50, CACHE_URL="redis://127.0.0.1:6379/5").returncode == 0


def test_site_url_follows_port_unless_set():
    """Links in alerts and `make demo`'s output point where `PORT=… make run` serves."""
    code = "import config.settings as s; print(s.SITE_URL, s.AGENTLEDGER_PORT)"
    clean = {"PORT": "", "SITE_URL": "", "HOST": ""}
    assert load_settings(code, SECRET_KEY="k" * 50, **clean).stdout.split() == ["http://127.0.0.1:8000", "8000"]
    assert load_settings(code, SECRET_KEY="k" * 50, **{**clean, "PORT": "9300"}).stdout.split() == [
        "http://127.0.0.1:9300",
        "9300",
    ]
    explicit = {**clean, "PORT": "9300", "SITE_URL": "https://ledger.example/"}
    assert load_settings(code, SECRET_KEY="k" * 50, **explicit).stdout.split()[0] == "https://ledger.example"
    assert "PORT='http' is not a whole number" in load_settings(SECRET_KEY="k" * 50, PORT="http").stderr
    assert "PORT=70000 is not a TCP port" in load_settings(SECRET_KEY="k" * 50, PORT="70000").stderr


def manage(var_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`.venv/bin/python manage.py ARGS` as a second terminal beside `make run` types it: no
    SECRET_KEY, SECRET_KEY_FILE or DEBUG of its own; var/ (here a temporary one) holds the
    database and whatever key `make run` generated."""
    clean = {k: v for k, v in os.environ.items() if k not in UNSET}
    clean["AGENTLEDGER_VAR_DIR"] = str(var_dir)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def generate_key_like_make_run(var_dir: Path) -> str:
    key = secrets.token_urlsafe(50)
    (var_dir / "secret_key").write_text(key + "\n")
    return key


def signed_by(var_dir: Path, **env: str) -> str:
    """A value signed by a manage.py process (as a session or a password-reset link would be)."""
    code = "from django.core import signing; print(signing.dumps('beside make run'))"
    result = manage(var_dir, "shell", "-c", code, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_readme_commands_beside_make_run_use_the_key_it_generated(tmp_path):
    key = generate_key_like_make_run(tmp_path)
    assert manage(tmp_path, "migrate", "--verbosity", "0").returncode == 0  # what `make run` did first

    created = manage(tmp_path, "create_project", "Support bot")
    assert created.returncode == 0, created.stderr
    assert "SECRET_KEY" not in created.stderr
    assert created.stdout.strip().splitlines()[-1].startswith("al_")  # the new ingest key, last
    rolled = manage(tmp_path, "rollup")
    assert rolled.returncode == 0, rolled.stderr

    # What the command signs, the server (same key file) accepts, and the other way round.
    token = signed_by(tmp_path)
    assert signing.loads(token, key=key) == "beside make run"
    with pytest.raises(signing.BadSignature):
        signing.loads(token, key=secrets.token_urlsafe(50))


def test_without_any_key_a_command_still_refuses_to_start_and_says_where_make_run_puts_one(tmp_path):
    result = manage(tmp_path, "create_project", "Support bot")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert f"{tmp_path / 'secret_key'}" in result.stderr
    (tmp_path / "secret_key").write_text("\n")  # an empty file is no key either
    result = manage(tmp_path, "create_project", "Support bot")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_secret_key_and_secret_key_file_still_win_over_the_generated_key(tmp_path):
    generated = generate_key_like_make_run(tmp_path)
    mounted = tmp_path / "mounted-secret"
    mounted.write_text("m" * 50)
    token = signed_by(tmp_path, SECRET_KEY_FILE=str(mounted))
    assert signing.loads(token, key="m" * 50) == "beside make run"
    token = signed_by(tmp_path, SECRET_KEY="e" * 50)
    assert signing.loads(token, key="e" * 50) == "beside make run"
    with pytest.raises(signing.BadSignature):
        signing.loads(token, key=generated)
    result = manage(tmp_path, "check", SECRET_KEY_FILE=str(tmp_path / "missing"))
    assert "SECRET_KEY_FILE=" in result.stderr and "cannot be read" in result.stderr  # no silent fallback
