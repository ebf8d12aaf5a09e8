"""A local stand-in for a Slack incoming webhook: records every POST and answers what it is told
(200 "ok" by default; queue 429 with Retry-After, 500, 404 "no_service", ...)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.fakes.receiver import FakeReceiver, serving


class FakeSlack(FakeReceiver):
    path = "/services/T000/B000/XXXXsecret"


@contextmanager
def fake_slack(port: int = 0) -> Iterator[FakeSlack]:
    """The stand-in, serving until the block ends (on `port`, to come back where it went down)."""
    with serving(FakeSlack(port)) as fake:
        yield fake
