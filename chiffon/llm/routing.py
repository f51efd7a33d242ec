"""Which model answers a call, and why: the local model first, the external one when needed.

The rules, in order (each call records the route it took, e.g. ``external: high-value``):

1. No local model configured: the external one (``external: no local model configured``).
   No external model configured: the local one, whatever else holds; its failure is the
   failure.
2. The request is marked high-value: the external model (``external: high-value``).
3. The request is complex (``complexity_of``): the external model
   (``external: complex request (…)``).
4. The local model's quota, read from ``quota_url`` (JSON ``{"remaining": 0..1}``), is below
   20 %: the external model (``external: local quota at 12%, below 20%``). A quota URL that
   does not answer, or answers something else, means "unknown": the local model is used.
5. Otherwise the local model (``local``). When it is unreachable or refuses the request, the
   same call fails over to the external model (``external: local unreachable``,
   ``external: local refused the request``); both attempts are recorded.

Before each attempt, the run's budget is checked (``CostRecorder.check_budget``) with a
conservative estimate of the call; ``BudgetExceeded`` ends the call before it is made.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
import urllib.request
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import anyio

from chiffon.llm.client import Completion, LLMClient, Message, ModelEndpoint, load_litellm
from chiffon.llm.costs import CallRecord, CostRecorder
from chiffon.llm.errors import ModelRefused, ModelUnreachable, NoModelConfigured

QUOTA_THRESHOLD = 0.20
"""Below this share of its quota left, the local model is spared and the external one used."""

LONG_REQUEST_CHARS = 400
MANY_SERVICES = 3
MANY_LINKS = 4

# Words and marks that join one thing to do to the next: "deploy X, then Y and also Z".
_LINKS = re.compile(
    r"\b(?:and|then|after|afterwards|before|also|plus|once|finally)\b|[;,]", re.IGNORECASE
)

RouteKind = Literal["local", "external"]


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    """The model a call goes to and why; ``str(route)`` is what ``llm_calls.route`` holds."""

    kind: RouteKind
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.reason}" if self.reason else self.kind


@dataclasses.dataclass(frozen=True, slots=True)
class CallContext:
    """What the router needs to know about a call besides its messages.

    ``complexity`` is why the request is complex (``complexity_of``), or None; ``purpose``
    is recorded with the call (``plan``, ``repair``).
    """

    run_id: uuid.UUID | None = None
    purpose: str = "plan"
    budget_usd: float = 0.50
    high_value: bool = False
    complexity: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class RoutedCompletion:
    """An answer and the route that produced it (after any fail-over)."""

    completion: Completion
    route: Route


def complexity_of(text: str, services: Iterable[str] = ()) -> str | None:
    """Why a request is complex enough for the external model, or None when it is not.

    Complex means any of: longer than 400 characters; naming 3 or more distinct services
    among ``services`` (matched as whole words, case-insensitively, with ``-`` and ``_``
    read as spaces, and also written together: "node exporter", "node-exporter",
    "nodeexporter"); or 4 or more links between things to do ("and", "then", "after",
    "before", "also", "plus", "once", "finally", commas and semicolons).
    "Deploy Uptime Kuma and add the existing portals to its monitors" is not complex;
    "Install node exporter everywhere, then Prometheus, then Grafana" is (three services).
    """
    if len(text) > LONG_REQUEST_CHARS:
        return f"{len(text)} characters, over {LONG_REQUEST_CHARS}"
    spaced = _spaced(text)
    named = sorted({s for s in services if _names(spaced, s)})
    if len(named) >= MANY_SERVICES:
        return f"names {len(named)} services: {', '.join(named)}"
    links = len(_LINKS.findall(text))
    if links >= MANY_LINKS:
        return f"{links} links between steps"
    return None


def _spaced(text: str) -> str:
    return re.sub(r"[-_]+", " ", text.lower())


def _names(spaced_text: str, service: str) -> bool:
    spaced = _spaced(service).strip()
    variants = {spaced, spaced.replace(" ", "")}
    return any(re.search(rf"\b{re.escape(v)}\b", spaced_text) for v in variants if v)


class ModelRouter:
    """Routes calls between a local and an external model, records each attempt with
    ``recorder`` and checks the run's budget before it (see the module's rules).

    Either model may be None; with neither, ``configured`` is false and ``complete`` raises
    ``NoModelConfigured``.
    """

    def __init__(
        self,
        client: LLMClient,
        recorder: CostRecorder,
        *,
        local: ModelEndpoint | None,
        external: ModelEndpoint | None,
        quota_url: str | None = None,
        quota_timeout_s: float = 2.0,
    ) -> None:
        self.client = client
        self.recorder = recorder
        self.local = local
        self.external = external
        self.quota_url = quota_url
        self.quota_timeout_s = quota_timeout_s

    @property
    def configured(self) -> bool:
        """Whether any model is configured (otherwise: use the catalog planner)."""
        return self.local is not None or self.external is not None

    def endpoint(self, route: Route) -> ModelEndpoint:
        """The model ``route`` goes to. Raises ``NoModelConfigured`` when it has none."""
        endpoint = self.local if route.kind == "local" else self.external
        if endpoint is None:
            raise NoModelConfigured()
        return endpoint

    async def choose(self, context: CallContext) -> Route:
        """The route of a new call under the module's rules 1 to 5 (before any fail-over).
        Raises ``NoModelConfigured`` when no model is configured."""
        if self.local is None:
            if self.external is None:
                raise NoModelConfigured()
            return Route("external", "no local model configured")
        if self.external is None:
            if context.high_value:
                return Route("local", "high-value, but no external model is configured")
            return Route("local")
        if context.high_value:
            return Route("external", "high-value")
        if context.complexity is not None:
            return Route("external", f"complex request ({context.complexity})")
        remaining = await self.local_quota()
        if remaining is not None and remaining < QUOTA_THRESHOLD:
            return Route("external", f"local quota at {remaining:.0%}, below {QUOTA_THRESHOLD:.0%}")
        return Route("local")

    async def local_quota(self) -> float | None:
        """The local model's remaining quota (0..1) from ``quota_url``; None when no URL is
        configured or it does not answer a number in 0..1 within ``quota_timeout_s``."""
        if self.quota_url is None:
            return None
        return await anyio.to_thread.run_sync(_fetch_quota, self.quota_url, self.quota_timeout_s)

    async def complete(
        self,
        messages: Sequence[Message],
        context: CallContext,
        *,
        schema: Mapping[str, Any] | None = None,
        schema_name: str = "answer",
        route: Route | None = None,
    ) -> RoutedCompletion:
        """Answer ``messages`` on ``route`` (chosen by ``choose`` when None), failing over
        from the local model to the external one when the local one is unreachable or
        refuses. Every attempt is recorded in ``llm_calls``.

        Raises ``NoModelConfigured``; ``BudgetExceeded`` before an attempt the budget cannot
        cover; ``ModelUnreachable`` or ``ModelRefused`` from the last model tried.
        """
        route = route if route is not None else await self.choose(context)
        try:
            return await self._attempt(route, messages, context, schema, schema_name)
        except (ModelUnreachable, ModelRefused) as exc:
            if route.kind != "local" or self.external is None:
                raise
            why = "local unreachable" if isinstance(exc, ModelUnreachable) else None
            failover = Route("external", why or "local refused the request")
            return await self._attempt(failover, messages, context, schema, schema_name)

    async def _attempt(
        self,
        route: Route,
        messages: Sequence[Message],
        context: CallContext,
        schema: Mapping[str, Any] | None,
        schema_name: str,
    ) -> RoutedCompletion:
        endpoint = self.endpoint(route)
        await load_litellm()  # the estimate reads LiteLLM's cost map: import it off the loop
        await self.recorder.check_budget(
            context.run_id,
            endpoint.model,
            self.client.estimate(endpoint, messages),
            context.budget_usd,
        )
        started = time.perf_counter()
        try:
            completion = await self.client.complete(
                endpoint, messages, schema=schema, schema_name=schema_name
            )
        except (ModelUnreachable, ModelRefused) as exc:
            await self.recorder.record(
                CallRecord(
                    run_id=context.run_id,
                    purpose=context.purpose,
                    model=endpoint.model,
                    route=str(route),
                    ok=False,
                    latency_ms=(time.perf_counter() - started) * 1000.0,
                    error=str(exc),
                )
            )
            raise
        await self.recorder.record(
            CallRecord(
                run_id=context.run_id,
                purpose=context.purpose,
                model=endpoint.model,
                route=str(route),
                ok=True,
                latency_ms=completion.latency_ms,
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens,
                cost_usd=completion.cost_usd,
            )
        )
        return RoutedCompletion(completion, route)


def _fetch_quota(url: str, timeout_s: float) -> float | None:
    # No proxies: the quota endpoint sits beside the local model, on the local network.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout_s) as response:
            remaining = json.loads(response.read(65536))["remaining"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if isinstance(remaining, bool) or not isinstance(remaining, int | float):
        return None
    return float(remaining) if 0.0 <= remaining <= 1.0 else None
