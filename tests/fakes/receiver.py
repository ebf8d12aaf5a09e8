"""A local stand-in for any HTTP receiver of our alerts (a Slack incoming webhook, a webhook of the
user's, PagerDuty's Events API): records every POST and answers what it is told (its default, or
answers queued one request at a time: 429 with Retry-After, 500, 410...)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from tests.fakes.replies import Answer, Received, reply


class FakeReceiver:
    path = "/hook"

    def __init__(self, port: int = 0, default: Answer | None = None) -> None:
        self.received: list[Received] = []
        self.answers: deque[Answer] = deque()
        self.default = default or Answer(200, "ok")
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with fake._lock:
                    fake.received.append(Received(self.path, dict(self.headers.items()), body))
                    answer = fake.answers.popleft() if fake.answers else fake.default
                reply(self, answer.status, answer.body.encode(), "text/plain", answer.headers)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]

    def url(self, path: str | None = None) -> str:
        return f"http://127.0.0.1:{self.port}{path or self.path}"

    def answer(self, status: int, body: str = "", headers: dict[str, str] | None = None) -> None:
        """Queue one answer for the next request (then back to the default)."""
        self.answers.append(Answer(status, body, headers or {}))


R = TypeVar("R", bound=FakeReceiver)


@contextmanager
def serving(fake: R) -> Iterator[R]:
    """Serve until the block ends."""
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()
        thread.join(timeout=5)


@contextmanager
def fake_receiver(port: int = 0, default: Answer | None = None) -> Iterator[FakeReceiver]:
    """A receiver serving until the block ends (on `port`, to come back where it went down)."""
    with serving(FakeReceiver(port, default)) as fake:
        yield fake
