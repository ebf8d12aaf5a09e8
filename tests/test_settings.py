"""Configuration errors name the variable, and production refuses an insecure secret key."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.processes import ROOT


def load_settings(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DATABASE_URL"}}
    return subprocess.run(
        [sys.executable, "-c", "import config.settings"], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True
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
