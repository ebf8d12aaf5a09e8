from __future__ import annotations

import os
from unittest import mock

from django.test import TestCase

from config.celery import app as celery_app


class HealthTests(TestCase):
    def test_healthz_answers_ok(self):
        response = self.client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    def test_readyz_ok_when_database_and_broker_reachable(self):
        response = self.client.get("/readyz")
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "ok"

    def test_readyz_names_the_broker_when_it_is_down(self):
        down = "redis://127.0.0.1:9/0"  # nothing listens on port 9
        saved = celery_app.conf.broker_url
        # Celery reads CELERY_BROKER_URL from the environment before its configuration.
        with mock.patch.dict(os.environ, {"CELERY_BROKER_URL": down}):
            celery_app.conf.broker_url = down
            try:
                response = self.client.get("/readyz")
            finally:
                celery_app.conf.broker_url = saved
        assert response.status_code == 503
        [problem] = response.json()["problems"]
        assert "broker unreachable" in problem
        assert "127.0.0.1:9" in problem
