"""Local first, the external model when needed: each route taken for real against the
scripted server, every attempt recorded in llm_calls."""

from __future__ import annotations

import uuid

import pytest

from chiffon.database import Database
from chiffon.llm.costs import CallRecord, CostRecorder, run_cost
from chiffon.llm.errors import BudgetExceeded, ModelRefused, ModelUnreachable, NoModelConfigured
from chiffon.llm.routing import CallContext, complexity_of

from .model_server import ModelServer, Reply, Slow, Status
from .support import EXTERNAL, LOCAL, calls_of, make_router

MESSAGES = [{"role": "user", "content": "Deploy Uptime Kuma"}]
SERVICES = ["uptime-kuma", "grafana", "prometheus", "node-exporter", "pihole", "backup"]


def context(
    run_id: uuid.UUID | None = None,
    *,
    purpose: str = "plan",
    high_value: bool = False,
    complexity: str | None = None,
) -> CallContext:
    return CallContext(
        run_id=run_id or uuid.uuid4(),
        purpose=purpose,
        budget_usd=0.5,
        high_value=high_value,
        complexity=complexity,
    )


@pytest.mark.parametrize(
    ("request_text", "complex_because"),
    [
        ("Deploy Uptime Kuma and add the existing portals to its monitors", None),
        ("Set up Pi-hole on the pi", None),
        ("Install node exporter everywhere, then Prometheus", None),
        (
            "Install node exporter everywhere, then Prometheus, then Grafana",
            "names 3 services: grafana, node-exporter, prometheus",
        ),
        ("grafana, prometheus and nodeexporter", "names 3 services"),
        (
            "Deploy Kuma, add monitors, then back up the nas and also restart the proxy",
            "5 links between steps",
        ),
        ("Deploy Uptime Kuma " + "with care " * 40, "over 400"),
    ],
)
def test_a_request_is_complex_when_long_or_naming_many_services_or_steps(
    request_text: str, complex_because: str | None
) -> None:
    reason = complexity_of(request_text, SERVICES)
    if complex_because is None:
        assert reason is None
    else:
        assert reason is not None
        assert complex_because in reason


async def test_the_local_model_answers_first(server: ModelServer, database: Database) -> None:
    server.ollama.append(Reply("local answer", prompt_tokens=300, completion_tokens=40))
    run_id = uuid.uuid4()
    call = context(run_id)

    routed = await make_router(server, database).complete(MESSAGES, call)

    assert (routed.completion.text, str(routed.route)) == ("local answer", "local")
    (row,) = await calls_of(database, run_id)
    assert (row["model"], row["route"], row["ok"], row["purpose"]) == (LOCAL, "local", True, "plan")
    assert (row["prompt_tokens"], row["completion_tokens"], row["cost_usd"]) == (300, 40, 0.0)
    assert [r.api for r in server.received] == ["ollama"]


@pytest.mark.parametrize(
    "failure",
    [Status(503), Slow(Reply("too late"), 60)],
    ids=["5xx", "slower than the timeout"],
)
async def test_an_unreachable_local_model_fails_over_to_the_external_one_in_the_same_call(
    server: ModelServer, database: Database, failure: Status | Slow
) -> None:
    server.ollama.extend([failure, failure])
    server.openai.append(Reply("external answer", prompt_tokens=1000, completion_tokens=100))
    run_id = uuid.uuid4()
    call = context(run_id)

    routed = await make_router(server, database).complete(MESSAGES, call)

    assert routed.completion.text == "external answer"
    assert str(routed.route) == "external: local unreachable"
    local, external = await calls_of(database, run_id)
    assert (local["model"], local["route"], local["ok"], local["cost_usd"]) == (
        LOCAL,
        "local",
        False,
        0.0,
    )
    assert "llama3.1 is unreachable" in local["error"]
    assert (external["model"], external["route"], external["ok"]) == (
        EXTERNAL,
        "external: local unreachable",
        True,
    )
    assert external["cost_usd"] == pytest.approx(1000 * 0.15e-6 + 100 * 0.60e-6)
    assert await run_cost(database, run_id) == pytest.approx(external["cost_usd"])


async def test_a_local_model_refusing_the_request_fails_over_too(
    server: ModelServer, database: Database
) -> None:
    server.ollama.append(Status(404, 'model "llama3.1" not found, try pulling it first'))
    server.openai.append(Reply("external answer"))

    routed = await make_router(server, database).complete(MESSAGES, context())

    assert str(routed.route) == "external: local refused the request"


async def test_without_an_external_model_the_local_failure_is_the_failure(
    server: ModelServer, database: Database
) -> None:
    server.ollama.extend([Status(500), Status(500)])
    run_id = uuid.uuid4()
    call = context(run_id, high_value=True)

    with pytest.raises(ModelUnreachable, match=r"llama3\.1 is unreachable"):
        await make_router(server, database, external=False).complete(MESSAGES, call)

    rows = await calls_of(database, run_id)
    assert [(r["route"], r["ok"]) for r in rows] == [
        ("local: high-value, but no external model is configured", False)
    ]
    assert server.requests_to("openai") == []


async def test_an_external_refusal_is_not_retried_elsewhere(
    server: ModelServer, database: Database
) -> None:
    server.openai.append(Status(400, "context length exceeded"))

    with pytest.raises(ModelRefused, match="context length exceeded"):
        await make_router(server, database).complete(MESSAGES, context(high_value=True))

    assert server.requests_to("ollama") == []


@pytest.mark.parametrize(
    ("remaining", "status", "route"),
    [
        (0.12, 200, "external: local quota at 12%, below 20%"),
        (0.2, 200, "local"),
        (0.9, 200, "local"),
        (0.05, 500, "local"),  # the quota is unknown: the local model is used
    ],
)
async def test_a_local_quota_below_20_percent_sends_the_call_to_the_external_model(
    server: ModelServer, database: Database, remaining: float, status: int, route: str
) -> None:
    server.quota_remaining, server.quota_status = remaining, status
    server.ollama.append(Reply("local answer"))
    server.openai.append(Reply("external answer"))

    routed = await make_router(server, database, quota=True).complete(MESSAGES, context())

    assert str(routed.route) == route
    assert server.quota_requests == 1


async def test_an_unreachable_quota_url_means_the_local_model(
    server: ModelServer, database: Database
) -> None:
    server.ollama.append(Reply("local answer"))
    router = make_router(server, database)
    router.quota_url = "http://127.0.0.1:9/quota"  # discard port: nothing answers

    routed = await router.complete(MESSAGES, context())

    assert str(routed.route) == "local"


async def test_high_value_and_complex_requests_go_to_the_external_model(
    server: ModelServer, database: Database
) -> None:
    server.openai.extend([Reply("valuable"), Reply("complex")])
    router = make_router(server, database, quota=True)

    valuable = await router.complete(MESSAGES, context(high_value=True))
    complex_ = await router.complete(MESSAGES, context(complexity="names 3 services: a, b, c"))

    assert str(valuable.route) == "external: high-value"
    assert str(complex_.route) == "external: complex request (names 3 services: a, b, c)"
    assert server.requests_to("ollama") == []
    assert server.quota_requests == 0  # decided before the quota mattered
    assert [r.model for r in server.received] == ["gpt-4o-mini", "gpt-4o-mini"]


async def test_with_only_an_external_model_every_call_goes_to_it(
    server: ModelServer, database: Database
) -> None:
    server.openai.append(Reply("external answer"))

    routed = await make_router(server, database, local=False).complete(MESSAGES, context())

    assert str(routed.route) == "external: no local model configured"


async def test_a_router_without_models_says_so(server: ModelServer, database: Database) -> None:
    router = make_router(server, database, local=False, external=False)

    assert not router.configured
    with pytest.raises(NoModelConfigured, match="catalog planner"):
        await router.complete(MESSAGES, context())
    assert server.received == []


async def test_a_spent_budget_stops_the_call_before_it_is_made(
    server: ModelServer, database: Database
) -> None:
    run_id = uuid.uuid4()
    call = context(run_id, high_value=True)
    await CostRecorder(database).record(
        CallRecord(
            run_id=run_id,
            purpose="plan",
            model=EXTERNAL,
            route="external: high-value",
            ok=True,
            latency_ms=900.0,
            cost_usd=0.4999,
        )
    )
    server.openai.append(Reply("never asked"))

    with pytest.raises(BudgetExceeded, match=r"spent \$0\.4999 of its \$0\.50 budget"):
        await make_router(server, database).complete(MESSAGES, call)

    assert server.received == []
    assert len(await calls_of(database, run_id)) == 1


async def test_costs_add_up_per_run_across_calls(server: ModelServer, database: Database) -> None:
    server.openai.extend(
        [
            Reply("one", prompt_tokens=2000, completion_tokens=300),
            Reply("two", prompt_tokens=500, completion_tokens=50),
        ]
    )
    server.ollama.append(Reply("free"))
    router = make_router(server, database)
    run_id = uuid.uuid4()
    call = context(run_id)

    await router.complete(MESSAGES, context(run_id, high_value=True))
    await router.complete(MESSAGES, context(run_id, purpose="repair", high_value=True))
    await router.complete(MESSAGES, call)

    rows = await calls_of(database, run_id)
    assert [(r["purpose"], r["route"]) for r in rows] == [
        ("plan", "external: high-value"),
        ("repair", "external: high-value"),
        ("plan", "local"),
    ]
    expected = 2500 * 0.15e-6 + 350 * 0.60e-6
    assert sum(r["cost_usd"] for r in rows) == pytest.approx(expected)
    assert await run_cost(database, run_id) == pytest.approx(expected)
