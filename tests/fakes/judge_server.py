"""A local stand-in for an OpenAI-compatible judge: `POST /v1/chat/completions` answers a chat
completion whose message content is what the test configures (a verdict as JSON by default),
with the usage tokens it is told; it can also answer an HTTP error (429 with Retry-After, 500)
or a body that is not JSON at all. Every request is recorded.

    with fake_judge() as judge:
        judge.content = '{"verdict": "fail", "reason": "made up a refund policy"}'
        judge.answer(429, headers={"Retry-After": "1"})  # the next request only
        ... evaluator.base_url = judge.url ...
        assert judge.requests[0].json["model"] == "gpt-4o-mini"
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes import replies
from tests.fakes.replies import Answer, reply

PASS = '{"verdict": "pass", "reason": "answered the question with the order status"}'


class Received(replies.Received):
    @property
    def prompt(self) -> str:
        """The user message: the rendered rubric."""
        return str(self.json["messages"][-1]["content"])


class FakeJudge:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.answers: deque[Answer] = deque()
        # The completion's message content: a string, or a function of the request.
        self.content: str | Callable[[Received], str] = PASS
        self.model = "gpt-4o-mini-2024-07-18"  # as OpenAI reports it
        self.prompt_tokens, self.completion_tokens, self.cached_tokens = 1000, 200, 0
        self.delay = 0.0  # seconds each answer takes, to see how many calls overlap
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with fake._lock:
                    fake.requests.append(received)
                    answer = fake.answers.popleft() if fake.answers else None
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                time.sleep(fake.delay)
                with fake._lock:
                    fake.in_flight -= 1
                if answer is None and self.path != "/v1/chat/completions":
                    answer = Answer(404, '{"error": {"message": "no route"}}')
                if answer is None:
                    answer = Answer(200, json.dumps(fake.completion(received)))
                reply(self, answer.status, answer.body.encode(), "application/json", answer.headers)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]

    @property
    def url(self) -> str:
        """The base URL an evaluator is given (OpenAI style, with /v1)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def answer(self, status: int, body: str = "", headers: dict[str, str] | None = None) -> None:
        """Queue one raw answer for the next request (then back to completions)."""
        self.answers.append(Answer(status, body, headers or {}))

    def completion(self, received: Received) -> dict[str, Any]:
        content = self.content(received) if callable(self.content) else self.content
        return {
            "id": f"chatcmpl-fake{len(self.requests)}",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens,
                "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
        }


@contextmanager
def fake_judge() -> Iterator[FakeJudge]:
    fake = FakeJudge()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()
        thread.join(timeout=5)
