from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.test import TestCase

from budgets import digests
from budgets.models import Destination
from tests.budgets.helpers import spend
from tests.factories import make_project
from tests.fakes.slack_server import FakeSlack, fake_slack

PARIS = ZoneInfo("Europe/Paris")
MORNING = datetime(2026, 3, 10, 0, 30, tzinfo=PARIS)  # yesterday is Monday March 9 in Paris


class DigestTests(TestCase):
    def setUp(self) -> None:
        self.slack: FakeSlack = self.enterContext(fake_slack())
        self.project, _ = make_project("Paris bots", timezone_name="Europe/Paris")
        self.destination = Destination.objects.create(
            project=self.project, name="#daily", url=self.slack.url(), daily_digest=True
        )
        for days_back in range(2, 9):  # the 7 days before yesterday: 1.00 a day for "steady"
            spend(
                self.project, datetime(2026, 3, 10, 12, tzinfo=PARIS) - timedelta(days=days_back), "1", agent="steady"
            )
        spend(self.project, datetime(2026, 3, 9, 0, 10, tzinfo=PARIS), "1.5", agent="steady")  # 23:10 UTC the 8th
        spend(self.project, datetime(2026, 3, 9, 23, 50, tzinfo=PARIS), "2", agent="newcomer")
        spend(self.project, datetime(2026, 3, 10, 0, 5, tzinfo=PARIS), "50", agent="steady")  # today: not in it

    def test_yesterday_by_agent_against_the_7_day_average_once_a_day(self):
        assert digests.send_digests(MORNING) == 1
        [request] = self.slack.received
        header, section = request.json["blocks"]
        assert header["text"]["text"] == "Paris bots: $3.50 on Monday 2026-03-09"
        assert section["text"]["text"] == "• *newcomer*: $2.00 (new)\n• *steady*: $1.50 (+50% vs 7-day avg)"

        assert digests.send_digests(MORNING + timedelta(hours=5)) == 0
        assert digests.send_digests(MORNING + timedelta(days=1)) == 1
        assert len(self.slack.received) == 2

    def test_a_failed_digest_is_retried_and_a_404_disables(self):
        self.slack.answer(500, "oops")
        assert digests.send_digests(MORNING) == 0
        assert digests.send_digests(MORNING + timedelta(minutes=10)) == 1
        self.slack.answer(404, "no_service")
        assert digests.send_digests(MORNING + timedelta(days=1)) == 0
        self.destination.refresh_from_db()
        assert not self.destination.enabled
        assert len(self.slack.received) == 3

    def test_destinations_without_the_digest_get_nothing(self):
        Destination.objects.update(daily_digest=False)
        assert digests.send_digests(MORNING) == 0
        assert self.slack.received == []
