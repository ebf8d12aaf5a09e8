from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

from django.test import TestCase

from budgets import evaluation, spending, tasks
from budgets.models import Alert, Budget
from tests.budgets.helpers import make_budget, spend
from tests.factories import make_project

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # a Tuesday
LA = ZoneInfo("America/Los_Angeles")


def thresholds(budget: Budget) -> list[Decimal]:
    return sorted(Alert.objects.filter(budget=budget).values_list("threshold", flat=True))


class ThresholdTests(TestCase):
    def test_thresholds_fire_at_80_and_100_percent_not_below(self):
        project, _ = make_project()
        cases = {"a-799": "7.99", "a-800": "8.00", "a-1000": "10.00", "a-1400": "14.00"}
        budgets = {}
        for agent, cost in cases.items():
            spend(project, NOW - timedelta(hours=2), cost, agent=agent)
            budgets[agent] = make_budget(project, name=agent, scope_value=agent)

        assert evaluation.evaluate_budgets(project, NOW) == 5

        assert thresholds(budgets["a-799"]) == []
        assert thresholds(budgets["a-800"]) == [80]
        assert thresholds(budgets["a-1000"]) == [80, 100]
        assert thresholds(budgets["a-1400"]) == [80, 100]
        assert spending.budget_status(budgets["a-799"], NOW).state == "ok"
        assert spending.budget_status(budgets["a-800"], NOW).state == "warning"
        assert spending.budget_status(budgets["a-1400"], NOW).state == "exceeded"
        alert = Alert.objects.get(budget=budgets["a-1400"], threshold=100)
        assert (alert.spend, alert.amount, alert.sent_at) == (Decimal("14"), Decimal("10"), None)

    def test_every_scope_counts_only_its_own_spend(self):
        project, _ = make_project()
        key = project.api_keys.get()
        spend(project, NOW - timedelta(hours=3), "3", agent="a", user="alice")
        spend(project, NOW - timedelta(hours=2), "5", agent="b", user="bob")
        cases = [
            (Budget.Scope.PROJECT, "", "8"),
            (Budget.Scope.AGENT, "a", "3"),
            (Budget.Scope.USER, "bob", "5"),
            (Budget.Scope.MODEL, "gpt-test", "8"),
            (Budget.Scope.MODEL, "other-model", "0"),
            (Budget.Scope.API_KEY, key.prefix, "8"),
            (Budget.Scope.API_KEY, "al_unknown", "0"),
        ]
        for scope, value, expected in cases:
            budget = make_budget(project, scope=scope, scope_value=value)
            assert spending.budget_status(budget, NOW).spend == Decimal(expected), (scope, value)

    def test_week_and_month_budgets_sum_the_whole_period_so_far(self):
        project, _ = make_project()
        spend(project, datetime(2026, 3, 9, 1, tzinfo=UTC), "4")  # Monday of this week
        spend(project, datetime(2026, 3, 8, 12, tzinfo=UTC), "2")  # Sunday: last week, this month
        spend(project, datetime(2026, 2, 28, 12, tzinfo=UTC), "100")  # last month
        week = make_budget(project, period=Budget.Period.WEEK, amount="5")
        month = make_budget(project, period=Budget.Period.MONTH, amount="6")

        evaluation.evaluate_budgets(project, NOW)

        assert spending.budget_status(week, NOW).spend == 4
        assert thresholds(week) == [80]
        assert spending.budget_status(month, NOW).spend == 6
        assert thresholds(month) == [80, 100]
        assert Alert.objects.get(budget=month, threshold=100).period_start == datetime(2026, 3, 1, tzinfo=UTC)

    def test_projection_extrapolates_the_period_so_far(self):
        project, _ = make_project()
        spend(project, NOW - timedelta(hours=1), "5")
        status = spending.budget_status(make_budget(project), NOW)  # 15 of 24 hours gone
        assert status.projected == Decimal(5) * 24 / 15

    def test_disabled_budgets_are_not_evaluated(self):
        project, _ = make_project()
        spend(project, NOW - timedelta(hours=1), "50")
        budget = make_budget(project, enabled=False)
        evaluation.evaluate_budgets(project, NOW)
        assert thresholds(budget) == []


class OncePerPeriodTests(TestCase):
    def test_a_threshold_fires_once_per_period_however_often_evaluation_runs(self):
        project, _ = make_project()
        budget = make_budget(project)
        spend(project, NOW - timedelta(hours=3), "8.5")
        assert evaluation.evaluate_budgets(project, NOW) == 1
        assert evaluation.evaluate_budgets(project, NOW + timedelta(minutes=1)) == 0
        spend(project, NOW - timedelta(hours=1), "0.5")  # still only 80% crossed
        assert evaluation.evaluate_budgets(project, NOW + timedelta(minutes=2)) == 0
        assert Alert.objects.filter(budget=budget).count() == 1

    def test_an_existing_row_is_never_duplicated(self):
        project, _ = make_project()
        budget = make_budget(project)
        spend(project, NOW - timedelta(hours=3), "9")
        Alert.objects.create(
            budget=budget,
            period_start=datetime(2026, 3, 10, tzinfo=UTC),
            threshold=80,
            spend=9,
            amount=10,
            next_attempt_at=NOW,
        )  # as written by a concurrent evaluation
        evaluation.evaluate_budgets(project, NOW)
        assert Alert.objects.filter(budget=budget).count() == 1

    def test_raising_the_amount_re_arms_thresholds_no_longer_crossed(self):
        project, _ = make_project()
        budget = make_budget(project)
        spend(project, NOW - timedelta(hours=3), "10.5")
        evaluation.evaluate_budgets(project, NOW)
        assert thresholds(budget) == [80, 100]

        Budget.objects.filter(pk=budget.pk).update(amount_usd=12)  # 87.5%: 100% re-armed
        evaluation.evaluate_budgets(project, NOW)
        assert thresholds(budget) == [80]

        spend(project, NOW - timedelta(hours=2), "2")  # 104%
        assert evaluation.evaluate_budgets(project, NOW) == 1
        assert thresholds(budget) == [80, 100]

    def test_a_new_period_in_the_projects_time_zone_fires_again(self):
        project, _ = make_project(timezone_name="America/Los_Angeles")
        budget = make_budget(project)
        day1_late = datetime(2026, 3, 9, 23, 30, tzinfo=LA)  # 06:30 UTC on March 10 (PDT)
        spend(project, day1_late, "9")
        evaluation.evaluate_budgets(project, day1_late + timedelta(minutes=20))
        [first] = Alert.objects.filter(budget=budget)
        assert first.period_start == datetime(2026, 3, 9, tzinfo=LA)

        day2_early = datetime(2026, 3, 10, 0, 5, tzinfo=LA)  # the same UTC day
        assert spending.budget_status(budget, day2_early + timedelta(minutes=5)).spend == 0
        spend(project, day2_early, "8")
        assert evaluation.evaluate_budgets(project, day2_early + timedelta(minutes=5)) == 1
        second = Alert.objects.exclude(pk=first.pk).get(budget=budget)
        assert (second.period_start, second.threshold, second.spend) == (datetime(2026, 3, 10, tzinfo=LA), 80, 8)


class PeriodRangeTests(TestCase):
    def test_periods_are_calendar_ranges_in_the_time_zone(self):
        moment = datetime(2026, 3, 1, 7, 30, tzinfo=UTC)  # Saturday Feb 28, 23:30 in Los Angeles
        day = spending.period_range("day", LA, moment)
        week = spending.period_range("week", LA, moment)
        month = spending.period_range("month", LA, moment)
        assert (day.since, day.until) == (datetime(2026, 2, 28, tzinfo=LA), datetime(2026, 3, 1, tzinfo=LA))
        assert (week.since, week.until) == (datetime(2026, 2, 23, tzinfo=LA), datetime(2026, 3, 2, tzinfo=LA))
        assert (month.since, month.until) == (datetime(2026, 2, 1, tzinfo=LA), datetime(2026, 3, 1, tzinfo=LA))


class EnqueueTests(TestCase):
    def test_new_alerts_enqueue_delivery_after_commit_and_repeats_do_not(self):
        project, _ = make_project()
        make_budget(project)
        spend(project, NOW - timedelta(hours=1), "9")
        with mock.patch.object(tasks.deliver_alerts, "delay") as delay:
            with self.captureOnCommitCallbacks(execute=True):
                evaluation.evaluate_budgets(project, NOW)
            with self.captureOnCommitCallbacks(execute=True):
                evaluation.evaluate_budgets(project, NOW)
        delay.assert_called_once_with()
