"""The one wrapper around LiteLLM: an async chat completion with a timeout, JSON output, and
errors mapped to ``chiffon.llm.errors``.

LiteLLM takes seconds to import, so it is imported on the first call, never at module import
(``chiffon --help`` and the catalog planner never load it). Before that import the environment
is set so LiteLLM uses the cost map bundled with the installed version instead of fetching
one, and never fetches tokenizers or catalogs on its own; debug banners and message logging
are turned off after it.

A model is named as LiteLLM names it: ``ollama_chat/llama3.1`` (Ollama's chat API at
``api_base``, e.g. ``http://127.0.0.1:11434``), ``openai/<model>`` for any OpenAI-compatible
server at ``api_base`` (``…/v1``), or a hosted model such as ``openai/gpt-4o-mini``.
``ollama/<model>`` is sent to Ollama's chat API too (LiteLLM's ``ollama_chat`` provider):
every call here is a chat, and LiteLLM's completion-style ``ollama`` adapter trips over its
own message types.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import anyio

from chiffon.llm.errors import ModelRefused, ModelUnreachable

Message = Mapping[str, str]
"""A chat message: ``{"role": "system" | "user" | "assistant", "content": "…"}``."""

_litellm: Any = None

# "litellm.BadRequestError: OpenAIException - the server's message"
_PREFIXES = re.compile(r"^(?:(?:litellm\.)?\w*(?:Error|Exception|Timeout)\w*\s*[:-]\s*)+")

# LiteLLM's adapters for these turn an OpenAI json_schema response_format into Ollama's own
# schema-constrained decoding (`format`), whatever the cost map says of the model.
_OLLAMA_PROVIDERS = frozenset({"ollama", "ollama_chat"})


def litellm_module() -> Any:
    """LiteLLM, imported once and configured: local cost map, offline for anything it would
    fetch on its own, no debug banners, no message logging."""
    global _litellm
    if _litellm is None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
        os.environ.setdefault("LITELLM_TELEMETRY", "False")
        # Through importlib so that mypy does not analyse LiteLLM's thousands of modules.
        module: Any = importlib.import_module("litellm")
        module.suppress_debug_info = True
        module.turn_off_message_logging = True
        module.telemetry = False
        _litellm = module
    return _litellm


async def load_litellm() -> Any:
    """``litellm_module()`` without stalling the event loop: the first import takes seconds
    (about 4 s), which in a running system would freeze every actor and the journal's
    flushes, so it happens in a worker thread. Later calls return at once."""
    if _litellm is not None:
        return _litellm
    return await anyio.to_thread.run_sync(litellm_module)


async def close_clients() -> None:
    """Close the HTTP clients LiteLLM keeps between calls, and forget them.

    LiteLLM caches a client per event loop; one left open when its loop ends is closed only
    at interpreter exit, with ResourceWarnings. Call this before the loop that made the calls
    ends (a command's end, a service's shutdown, a test's teardown); later calls open new
    clients. Does nothing when LiteLLM was never imported; never raises.
    """
    if _litellm is None:
        return
    try:
        await _litellm.close_litellm_async_clients()
    finally:
        _litellm.in_memory_llm_clients_cache.flush_cache()


@dataclasses.dataclass(frozen=True, slots=True)
class ModelEndpoint:
    """A configured model: its LiteLLM name, server and key.

    ``priced`` says whether its calls cost money: a local model's never do (recorded at $0
    whatever the cost map says of its name); an external one's cost comes from LiteLLM's
    cost map, and is $0 when the map does not know the model.
    """

    model: str
    api_base: str | None = None
    api_key: str | None = dataclasses.field(default=None, repr=False)
    priced: bool = True

    @property
    def provider(self) -> str:
        """LiteLLM's provider prefix (``openai`` for a bare name, as LiteLLM reads it)."""
        return self.model.partition("/")[0] if "/" in self.model else "openai"

    @property
    def litellm_model(self) -> str:
        """The name LiteLLM is called with: ``ollama/…`` becomes ``ollama_chat/…``."""
        if self.provider == "ollama":
            return "ollama_chat/" + self.model.partition("/")[2]
        return self.model


@dataclasses.dataclass(frozen=True, slots=True)
class Completion:
    """A model's answer: its text, the model that gave it, tokens, latency and cost."""

    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    cost_usd: float


class LLMClient:
    """Chat completions through ``litellm.acompletion``.

    ``timeout_s`` bounds each attempt; ``num_retries`` is LiteLLM's own retry count for
    connection errors, timeouts and 5xx (kept low: the router fails over to another model
    rather than waiting); ``max_tokens`` caps each answer, and so what a call can cost.
    """

    def __init__(
        self, *, timeout_s: float = 60.0, num_retries: int = 1, max_tokens: int = 2048
    ) -> None:
        self.timeout_s = timeout_s
        self.num_retries = num_retries
        self.max_tokens = max_tokens

    async def complete(
        self,
        endpoint: ModelEndpoint,
        messages: Sequence[Message],
        *,
        schema: Mapping[str, Any] | None = None,
        schema_name: str = "answer",
    ) -> Completion:
        """Ask ``endpoint`` to answer ``messages``; with ``schema``, as JSON matching it.

        The schema goes as an OpenAI ``json_schema`` response format where the provider
        supports one (OpenAI's models, Ollama's ``format``), otherwise as a request for a
        JSON object; callers also put it in the prompt, and parse and validate the answer
        themselves: a server may ignore the format.

        Raises ``ModelUnreachable`` (refused or dropped connection, no answer within
        ``timeout_s``, 5xx or 429 after the retries) and ``ModelRefused`` (any other 4xx).
        """
        litellm = await load_litellm()
        kwargs: dict[str, Any] = {
            "model": endpoint.litellm_model,
            "messages": [dict(m) for m in messages],
            "timeout": self.timeout_s,
            "num_retries": self.num_retries,
            "max_tokens": self.max_tokens,
            "drop_params": True,
        }
        if endpoint.api_base is not None:
            kwargs["api_base"] = endpoint.api_base
        if endpoint.api_key is not None:
            kwargs["api_key"] = endpoint.api_key
        elif endpoint.provider == "openai" and endpoint.api_base is not None:
            # OpenAI-compatible local servers need no key, but the OpenAI SDK insists on one.
            kwargs["api_key"] = "none"
        if schema is not None:
            kwargs["response_format"] = self._response_format(endpoint, schema, schema_name)
        if endpoint.provider in _OLLAMA_PROVIDERS:
            # Ollama truncates a prompt past its context window (2048 to 4096 tokens by
            # default) without a word: ask for a window that holds this prompt and answer.
            kwargs["num_ctx"] = _context_window(_prompt_tokens(messages) + self.max_tokens)
        # A hard deadline over all attempts, in case a provider adapter ignores `timeout`.
        deadline = self.timeout_s * (self.num_retries + 1) + 5.0
        started = time.perf_counter()
        try:
            with anyio.fail_after(deadline):
                response = await litellm.acompletion(**kwargs)
        except TimeoutError:
            raise ModelUnreachable(
                endpoint.model, f"no answer within {self.timeout_s:g} s"
            ) from None
        except Exception as exc:
            raise _mapped(endpoint.model, exc, self.timeout_s) from exc
        latency_ms = (time.perf_counter() - started) * 1000.0
        choice = response.choices[0] if response.choices else None
        text = (choice.message.content if choice is not None else None) or ""
        usage = getattr(response, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        return Completion(
            text=text,
            model=endpoint.model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_ms=latency_ms,
            cost_usd=self.price(endpoint, prompt_tokens, completion_tokens),
        )

    def price(self, endpoint: ModelEndpoint, prompt_tokens: int, completion_tokens: int) -> float:
        """What ``endpoint`` charges for these tokens, from LiteLLM's cost map: 0 for a local
        endpoint and for a model the map does not know. Never raises."""
        if not endpoint.priced:
            return 0.0
        litellm = litellm_module()
        try:
            prompt_cost, completion_cost = litellm.cost_per_token(
                model=endpoint.model,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
            )
            cost = float(prompt_cost) + float(completion_cost)
        except Exception:  # an unmapped model: LiteLLM raises rather than answering 0
            return 0.0
        return cost if math.isfinite(cost) and cost > 0 else 0.0

    def estimate(self, endpoint: ModelEndpoint, messages: Sequence[Message]) -> float:
        """A conservative price of a call before it is made: the prompt at one token per
        three characters (real tokenizers give about four), and a full ``max_tokens``
        answer."""
        return self.price(endpoint, _prompt_tokens(messages), self.max_tokens)

    def _response_format(
        self, endpoint: ModelEndpoint, schema: Mapping[str, Any], name: str
    ) -> dict[str, Any]:
        litellm = litellm_module()
        try:
            supported = bool(litellm.supports_response_schema(model=endpoint.model))
        except Exception:
            supported = False
        if supported or endpoint.provider in _OLLAMA_PROVIDERS:
            return {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": dict(schema), "strict": True},
            }
        return {"type": "json_object"}


def _prompt_tokens(messages: Sequence[Message]) -> int:
    """An upper estimate of a prompt's tokens: one per three characters (tokenizers give
    about one per four), plus a few per message."""
    return sum(math.ceil(len(m.get("content", "")) / 3) + 8 for m in messages)


def _context_window(tokens: int) -> int:
    """The smallest power of two, at least 4096, that holds ``tokens``."""
    return max(4096, 1 << max(0, tokens - 1).bit_length())


def _mapped(model: str, exc: Exception, timeout_s: float) -> ModelUnreachable | ModelRefused:
    """LiteLLM's exception as ours: by class for timeouts and connections, else by status."""
    litellm = litellm_module()
    if isinstance(exc, litellm.exceptions.Timeout):
        return ModelUnreachable(model, f"no answer within {timeout_s:g} s")
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    reason = _reason(exc)
    if isinstance(exc, litellm.exceptions.APIConnectionError) or status is None:
        return ModelUnreachable(model, reason)
    if status >= 500 or status == 429:
        return ModelUnreachable(model, f"the server answered {status}: {reason}")
    if 400 <= status < 500:
        return ModelRefused(model, reason, status)
    return ModelUnreachable(model, f"the server answered {status}: {reason}")


def _reason(exc: Exception) -> str:
    """LiteLLM's message on one line, without its class-name prefixes and retry notes."""
    text = " ".join(str(getattr(exc, "message", None) or exc).split())
    text = _PREFIXES.sub("", text.split(" LiteLLM Retried:", 1)[0])
    return text[:300] or type(exc).__name__
