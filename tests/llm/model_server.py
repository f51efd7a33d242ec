"""A real model server for the LLM path's tests: OpenAI's chat API and Ollama's, on loopback.

``ModelServer`` is a stdlib ``ThreadingHTTPServer`` bound to 127.0.0.1 on a free port, run in
a daemon thread. Each test scripts it with a queue of answers per API and reads back every
request it received:

* ``POST /v1/chat/completions`` (OpenAI-compatible; LiteLLM's ``openai/<model>`` with
  ``api_base=server.openai_base``) answers from ``server.openai``;
* ``POST /api/chat`` (Ollama's chat API; ``ollama_chat/<model>`` with
  ``api_base=server.ollama_base``) answers from ``server.ollama``;
* ``GET /quota`` answers ``{"remaining": server.quota_remaining}`` (the local model's quota);
  ``server.quota_status`` other than 200 makes it fail.

An answer is ``Reply(text)`` (a completion whose message content is ``text``, with usage
tokens), ``Status(code)`` (an error response) or ``Slow(reply, seconds)`` (the reply after a
delay, cut short when the server closes). A request that finds its queue empty gets a 500
naming the API, so an unscripted call shows up as a failure instead of a hang.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclasses.dataclass(frozen=True)
class Reply:
    """A completion whose message content is ``text``."""

    text: str
    prompt_tokens: int = 900
    completion_tokens: int = 120


@dataclasses.dataclass(frozen=True)
class Status:
    """An HTTP error response."""

    code: int
    message: str = "scripted failure"


@dataclasses.dataclass(frozen=True)
class Slow:
    """``answer`` after ``seconds`` (or when the server closes, whichever comes first)."""

    answer: Reply | Status
    seconds: float


Answer = Reply | Status | Slow


@dataclasses.dataclass(frozen=True)
class Received:
    """One request the server received: its API (``openai``, ``ollama``), path and JSON body."""

    api: str
    path: str
    body: dict[str, Any]

    @property
    def model(self) -> str:
        return str(self.body.get("model"))

    def text(self, role: str) -> str:
        """The contents of the messages of ``role``, one after the other."""
        return "\n".join(
            str(m.get("content", "")) for m in self.body.get("messages", []) if m["role"] == role
        )

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up is what some tests do on purpose.
        pass


class ModelServer:
    """``with ModelServer() as server:`` a scripted OpenAI + Ollama server on 127.0.0.1."""

    def __init__(self) -> None:
        self.openai: collections.deque[Answer] = collections.deque()
        self.ollama: collections.deque[Answer] = collections.deque()
        self.received: list[Received] = []
        self.quota_remaining: float = 1.0
        self.quota_status = 200
        self.quota_requests = 0
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._httpd = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def openai_base(self) -> str:
        return f"{self.url}/v1"

    @property
    def ollama_base(self) -> str:
        return self.url

    @property
    def quota_url(self) -> str:
        return f"{self.url}/quota"

    def requests_to(self, api: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.api == api]

    def __enter__(self) -> ModelServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def _next(self, api: str, path: str, body: dict[str, Any]) -> Answer | None:
        with self._lock:
            self.received.append(Received(api, path, body))
            queue = self.openai if api == "openai" else self.ollama
            return queue.popleft() if queue else None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/") != "/quota":
                    self._json(404, {"error": f"no such path {self.path}"})
                    return
                server.quota_requests += 1
                self._json(server.quota_status, {"remaining": server.quota_remaining})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                path = self.path.rstrip("/")
                if path.endswith("/chat/completions"):
                    api = "openai"
                elif path == "/api/chat":
                    api = "ollama"
                else:
                    self._json(404, {"error": f"no such path {self.path}"})
                    return
                answer = server._next(api, path, body)
                if isinstance(answer, Slow):
                    deadline = time.monotonic() + answer.seconds
                    while time.monotonic() < deadline and not server._closing.wait(0.05):
                        pass
                    answer = answer.answer
                if answer is None:
                    self._json(500, {"error": {"message": f"no scripted answer for {api}"}})
                elif isinstance(answer, Status):
                    self._json(answer.code, {"error": {"message": answer.message}})
                elif api == "openai":
                    self._json(200, _openai_completion(body, answer))
                else:
                    self._json(200, _ollama_chat(body, answer))

            def _json(self, code: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout under test): nothing to tell it

        return Handler


def _openai_completion(request: dict[str, Any], reply: Reply) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", ""),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        },
    }


def _ollama_chat(request: dict[str, Any], reply: Reply) -> dict[str, Any]:
    return {
        "model": request.get("model", ""),
        "created_at": "2025-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": reply.text},
        "done": True,
        "done_reason": "stop",
        "total_duration": 1_000_000,
        "prompt_eval_count": reply.prompt_tokens,
        "eval_count": reply.completion_tokens,
    }
