"""The one helper every page builds its `?a=b` links with (dashboard.views.common.query_string)."""

from __future__ import annotations

from django.http import QueryDict

from dashboard.views.common import query_string


def test_a_pages_query_keeps_its_other_parameters_and_drops_or_sets_some():
    get = QueryDict("since=30d&agent=planner&tag=a&tag=b&cursor=xyz")
    assert query_string(get, cursor=None) == "?since=30d&agent=planner&tag=a&tag=b"
    assert query_string(get, agent="writer", cursor=None) == "?since=30d&tag=a&tag=b&agent=writer"
    assert query_string(get, missing=None) == "?since=30d&agent=planner&tag=a&tag=b&cursor=xyz"
    assert get.urlencode() == "since=30d&agent=planner&tag=a&tag=b&cursor=xyz", "the request's own is untouched"


def test_a_fresh_query_escapes_values_and_an_empty_one_still_clears_the_page():
    assert query_string(user="ann & bob/<x>", project=7, empty="") == "?user=ann+%26+bob%2F%3Cx%3E&project=7&empty="
    assert query_string(QueryDict("q=x"), q=None) == "?"
    assert query_string() == "?"
