"""Guessing passwords: after 5 failed sign-ins for a username (20 from one address) within 15
minutes, the dashboard's and the admin's sign-in pages refuse, even the right password, and say
why; the pause ends by itself."""

from __future__ import annotations

from unittest import mock

from django.contrib.auth.models import User
from django.test import TestCase, override_settings

from tests.factories import make_project, make_user
from tests.security.test_rate_limit import UNREACHABLE_CACHE

PASSWORD = "correct horse battery staple"
LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/?next=/admin/"


T0 = 1_800_000_000.0


# A fast hasher: these tests make a hundred sign-ins, and the throttle does not care how passwords are hashed.
@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
class SignInThrottleTestCase(TestCase):
    def setUp(self):
        clock = mock.patch("tenancy.signin._now", return_value=T0)
        clock.start()
        self.addCleanup(clock.stop)
        self.project, _ = make_project()
        make_user("ann", organization=self.project.organization)

    def sign_in(self, username="ann", password=PASSWORD, url=LOGIN, address="203.0.113.7"):
        return self.client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address)

    def fail(self, times, username="ann", address="203.0.113.7", url=LOGIN):
        for _ in range(times):
            response = self.sign_in(username, "wrong password", url=url, address=address)
            assert response.status_code == 200, "a wrong password is an ordinary form error"


class DashboardSignInTests(SignInThrottleTestCase):
    def test_four_failures_then_the_right_password_signs_in(self):
        self.fail(4)
        response = self.sign_in()
        assert response.status_code == 302
        assert self.client.session["_auth_user_id"]

    def test_after_five_failures_even_the_right_password_is_refused_with_a_message(self):
        self.fail(5)

        response = self.sign_in()

        assert response.status_code == 429
        page = response.content.decode()
        assert "Too many failed sign-in attempts. Sign-in is paused for 15 minutes; try again later." in page
        assert "didn&#x27;t match" not in page
        assert "_auth_user_id" not in self.client.session

    def test_the_pause_ends_after_fifteen_minutes(self):
        self.fail(5)
        with mock.patch("tenancy.signin._now", return_value=T0 + 15 * 60 + 1):
            assert self.sign_in().status_code == 302

    def test_the_message_counts_down(self):
        self.fail(5)
        with mock.patch("tenancy.signin._now", return_value=T0 + 14 * 60 + 10):
            assert "paused for 1 minute;" in self.sign_in().content.decode()

    def test_a_success_clears_the_count(self):
        self.fail(4)
        assert self.sign_in().status_code == 302
        self.client.logout()
        self.fail(4)
        assert self.sign_in().status_code == 302

    def test_another_username_from_another_address_is_unaffected(self):
        make_user("bob", organization=self.project.organization)
        self.fail(5)
        assert self.sign_in("bob", address="198.51.100.9").status_code == 302

    def test_the_same_username_from_another_address_is_still_refused(self):
        self.fail(5)
        assert self.sign_in(address="198.51.100.9").status_code == 429

    def test_one_address_trying_many_usernames_is_refused_after_twenty(self):
        make_user("bob", organization=self.project.organization)
        for n in range(20):
            self.fail(1, username=f"guess-{n}")
        assert self.sign_in("bob").status_code == 429
        assert self.sign_in("bob", address="198.51.100.9").status_code == 302, "other addresses carry on"

    def test_unknown_usernames_count_like_wrong_passwords(self):
        self.fail(5, username="nobody")
        assert self.sign_in("nobody").status_code == 429

    @override_settings(AGENTLEDGER_BEHIND_TLS_PROXY=True)
    def test_behind_the_proxy_the_address_it_appended_is_counted(self):
        make_user("bob", organization=self.project.organization)
        for n in range(20):
            self.client.post(
                LOGIN,
                {"username": f"guess-{n}", "password": "x"},
                REMOTE_ADDR="10.0.0.2",  # the proxy
                HTTP_X_FORWARDED_FOR=f"1.2.3.{n}, 203.0.113.7",  # the first part is the client's to choose
            )
        refused = self.client.post(
            LOGIN, {"username": "bob", "password": PASSWORD}, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.7"
        )
        assert refused.status_code == 429
        other_client = self.client.post(
            LOGIN,
            {"username": "bob", "password": PASSWORD},
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR="198.51.100.9",
        )
        assert other_client.status_code == 302

    @override_settings(AGENTLEDGER_LOGIN_MAX_FAILURES=0)
    def test_zero_turns_throttling_off(self):
        self.fail(30)
        assert self.sign_in().status_code == 302

    @override_settings(CACHES=UNREACHABLE_CACHE)
    def test_a_cache_outage_does_not_lock_everyone_out(self):
        with self.assertLogs("tenancy.signin", "WARNING"):
            self.fail(6)
            assert self.sign_in().status_code == 302


class AdminSignInTests(SignInThrottleTestCase):
    def setUp(self):
        super().setUp()
        User.objects.create_superuser("root", "", PASSWORD)

    def test_the_admin_sign_in_is_throttled_with_the_same_message(self):
        self.fail(5, username="root", url=ADMIN_LOGIN)

        response = self.sign_in("root", url=ADMIN_LOGIN)

        assert response.status_code == 200  # the admin's own view
        assert "Too many failed sign-in attempts. Sign-in is paused for 15 minutes" in response.content.decode()
        assert "_auth_user_id" not in self.client.session
        assert self.client.get("/admin/").status_code == 302, "still signed out"

    def test_failures_on_either_page_add_up(self):
        self.fail(3, username="root", url=ADMIN_LOGIN)
        self.fail(2, username="root", url=LOGIN)
        assert self.sign_in("root", url=LOGIN).status_code == 429
        assert "Sign-in is paused" in self.sign_in("root", url=ADMIN_LOGIN).content.decode()

    def test_a_staff_member_signs_in_to_the_admin_below_the_limit(self):
        self.fail(4, username="root", url=ADMIN_LOGIN)
        response = self.sign_in("root", url=ADMIN_LOGIN)
        assert response.status_code == 302
        assert self.client.get("/admin/").status_code == 200

    def test_a_right_password_without_staff_rights_is_not_counted_as_a_guess(self):
        for _ in range(6):
            page = self.sign_in("ann", url=ADMIN_LOGIN).content.decode()
            assert "Please enter the correct username and password for a staff account" in page
        assert self.sign_in("ann", url=LOGIN).status_code == 302
