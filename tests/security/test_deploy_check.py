"""Production settings pass `manage.py check --deploy` without a warning, and AGENTLEDGER_HTTPS
is the one switch that makes a site served over TLS redirect to https, send HSTS and keep its
cookies off plain HTTP (health probes of a load balancer still get a plain answer)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

from tests.processes import ROOT

INHERITED = {"SECRET_KEY", "SECRET_KEY_FILE", "DEBUG", "DATABASE_URL", "CACHE_URL", "ALLOWED_HOSTS"}


def production_env(tmp_path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in INHERITED
        and not k.startswith(("SECURE_", "DJANGO_", "AGENTLEDGER_"))  # e.g. browser tests' ASYNC_UNSAFE
    }
    env.update(
        SECRET_KEY=secrets.token_urlsafe(50),
        DEBUG="false",
        ALLOWED_HOSTS="agentledger.example.com",
        SITE_URL="https://agentledger.example.com",
        AGENTLEDGER_VAR_DIR=str(tmp_path),
        AGENTLEDGER_HASHED_STATIC="false",
    )
    env.update(extra)
    return env


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_check_deploy_without_warnings(tmp_path):
    result = check_deploy(production_env(tmp_path, AGENTLEDGER_HTTPS="true"))
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr


def test_without_the_https_switch_check_deploy_names_what_is_missing(tmp_path):
    result = check_deploy(production_env(tmp_path))
    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr


PROBE = """
import json, django
django.setup()
from django.test import Client
client = Client(HTTP_HOST="agentledger.example.com")
plain = client.get("/accounts/login/")
health = client.get("/healthz")
secure = client.get("/accounts/login/", secure=True)
print(json.dumps({
    "plain": [plain.status_code, plain.get("Location")],
    "health": health.status_code,
    "hsts": secure.get("Strict-Transport-Security"),
    "csrf_cookie_secure": bool(secure.cookies["csrftoken"]["secure"]),
}))
"""


def probe(env: dict[str, str]) -> dict:
    env = {**env, "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_https_switch_redirects_sends_hsts_and_secures_cookies(tmp_path):
    seen = probe(production_env(tmp_path, AGENTLEDGER_HTTPS="true"))
    assert seen["plain"] == [301, "https://agentledger.example.com/accounts/login/"]
    assert seen["health"] == 200, "load balancer probes are not redirected"
    assert seen["hsts"] == "max-age=31536000; includeSubDomains"
    assert seen["csrf_cookie_secure"] is True


def test_without_the_switch_plain_http_is_served(tmp_path):
    seen = probe(production_env(tmp_path))
    assert seen["plain"][0] == 200
    assert seen["hsts"] is None
    assert seen["csrf_cookie_secure"] is False
