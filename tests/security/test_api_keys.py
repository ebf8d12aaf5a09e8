"""API keys are stored only as hashes and checked in constant time: a database dump yields no
usable key, and response times say nothing about how much of a guess was right."""

from __future__ import annotations

import hashlib
import hmac
from unittest import mock

from django.core import serializers
from django.test import TestCase

from tenancy import auth, keys, services
from tenancy.models import ApiKey
from tests.factories import make_project

HANDMADE_TRACES = b'{"resourceSpans": []}'


class ApiKeyStorageTests(TestCase):
    def test_only_a_hash_and_the_visible_prefix_are_stored(self):
        project, raw_key = make_project()
        api_key = ApiKey.objects.get(project=project)

        dump = serializers.serialize("json", ApiKey.objects.all())

        assert raw_key not in dump
        assert raw_key[keys.PREFIX_LENGTH :] not in dump, "no part of the secret is stored"
        assert api_key.key_hash == hashlib.sha256(raw_key.encode()).hexdigest()
        assert api_key.prefix == raw_key[: keys.PREFIX_LENGTH]

    def test_keys_carry_256_random_bits(self):
        raw_keys = {keys.generate_key() for _ in range(100)}
        assert len(raw_keys) == 100
        assert all(len(k) >= len(keys.KEY_PREFIX) + 43 for k in raw_keys)  # 32 bytes in base64url


class ApiKeyComparisonTests(TestCase):
    def setUp(self):
        self.project, self.raw_key = make_project()

    def test_the_hash_is_compared_with_compare_digest(self):
        with mock.patch("tenancy.keys.hmac.compare_digest", wraps=hmac.compare_digest) as compare:
            assert auth.api_key_for_raw_key(self.raw_key).project == self.project
        stored = ApiKey.objects.get(project=self.project).key_hash
        compare.assert_called_once_with(keys.hash_key(self.raw_key), stored)

    def test_a_guess_that_shares_the_prefix_is_refused_after_the_same_comparison(self):
        guess = self.raw_key[:-1] + ("A" if self.raw_key[-1] != "A" else "B")
        with mock.patch("tenancy.keys.hmac.compare_digest", wraps=hmac.compare_digest) as compare:
            assert auth.api_key_for_raw_key(guess) is None
        assert compare.call_count == 1

    def test_wrong_and_revoked_keys_are_401_on_the_intake(self):
        guess = self.raw_key[:-1] + ("A" if self.raw_key[-1] != "A" else "B")
        services.api_key_revoke(ApiKey.objects.get(project=self.project))
        for key in (guess, self.raw_key):
            response = self.client.post(
                "/v1/traces", HANDMADE_TRACES, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
            )
            assert response.status_code == 401
            assert "missing or revoked API key" in response.json()["message"]
